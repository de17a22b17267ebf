"""Quality gate on the real-news devset: pinned floors that refuse to be lowered silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers import gate
from classifiers.evaluate import evaluate
from classifiers.labels import Example
from classifiers.train import Model


def test_devset_meets_pinned_floors(model: Model, devset: list[Example]) -> None:
    result = evaluate(model, devset)
    failures = gate.check(result)
    assert not failures, failures


def test_floors_cannot_be_lowered_without_flag(tmp_path: Path) -> None:
    path = tmp_path / "floors.json"
    high = dict.fromkeys(gate.METRICS, 0.9)
    gate.update_floors(high, slack=0.0, path=path)
    with pytest.raises(gate.GateError, match="refusing to lower"):
        gate.update_floors(dict.fromkeys(gate.METRICS, 0.5), slack=0.0, path=path)
    assert gate.read_floors(path) == high
    lowered = gate.update_floors(
        dict.fromkeys(gate.METRICS, 0.5), slack=0.0, path=path, allow_lower=True
    )
    assert lowered == dict.fromkeys(gate.METRICS, 0.5)
    raised = gate.update_floors(dict.fromkeys(gate.METRICS, 0.7), slack=0.0, path=path)
    assert raised == dict.fromkeys(gate.METRICS, 0.7)


def test_pinned_floors_file_is_valid() -> None:
    data = json.loads(gate.FLOORS_FILE.read_text())
    assert set(data["floors"]) == set(gate.METRICS)
    assert all(0.0 < v <= 1.0 for v in data["floors"].values())
