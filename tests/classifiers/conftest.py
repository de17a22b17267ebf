"""Shared fixtures: the seed corpus, the devset, and one model trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from classifiers.corpus import load_corpus
from classifiers.labels import Example
from classifiers.predict import Labeler
from classifiers.train import Model, train

REPO = Path(__file__).resolve().parents[2]
SEED_CORPUS = REPO / "seed_corpus"
DEVSET = Path(
    os.environ.get("MONITOR_DEVSET", REPO.parent / "shared" / "realnews" / "devset.jsonl")
)


@pytest.fixture(scope="session")
def corpus() -> list[Example]:
    return load_corpus(SEED_CORPUS)


@pytest.fixture(scope="session")
def devset() -> list[Example]:
    if not DEVSET.is_file():
        pytest.skip(f"devset not found at {DEVSET} (set MONITOR_DEVSET)")
    return load_corpus(DEVSET, check_duplicates=False)


@pytest.fixture(scope="session")
def model(corpus: list[Example]) -> Model:
    return train(corpus)


@pytest.fixture(scope="session")
def labeler(model: Model) -> Labeler:
    return Labeler(model)
