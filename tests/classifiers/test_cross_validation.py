"""Grouped cross-validation never puts passages of one document on both sides."""

from __future__ import annotations

import numpy as np

from classifiers.evaluate import grouped_folds
from classifiers.labels import Example


def test_grouped_folds_never_leak_a_document(corpus: list[Example]) -> None:
    groups = np.array([e.group for e in corpus])
    folds = grouped_folds(corpus, n_splits=5)
    assert len(folds) == 5
    seen_test: set[int] = set()
    for train_idx, test_idx in folds:
        assert not set(groups[train_idx]) & set(groups[test_idx])
        seen_test |= set(test_idx.tolist())
    assert seen_test == set(range(len(corpus)))


def test_seed_documents_are_groups(corpus: list[Example]) -> None:
    seeds = [e for e in corpus if e.source.startswith("seeds/")]
    assert seeds and len({e.group for e in seeds}) <= 5 < len(seeds)
