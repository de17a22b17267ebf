"""Training entry points: analyst labels, weights, cross-validation, calibration outputs."""

from __future__ import annotations

import pytest

from classifiers.evaluate import cross_validate
from classifiers.labels import STANCES, TOPICS, Example
from classifiers.train import Model, train, train_with_labels

LABEL = Example(
    id="lab-1",
    title="Washington and Ankara agree to end dispute over air base",
    text="The United States and Turkey agreed on Monday to settle their dispute over access "
    "to Incirlik air base, officials in both capitals said.\n\nThe deal follows months of "
    "talks between the two NATO allies.",
    relevant=True,
    actors=("USA", "TUR"),
    topics=("military_operations",),
    stance="cooperation",
    source="https://example.org/a1",
)


def test_model_records_calibration_and_provenance(model: Model) -> None:
    assert set(model.topic_thresholds) == set(TOPICS)
    assert all(0.05 <= v <= 0.95 for v in model.topic_thresholds.values())
    assert model.info["calibration"]["calibrated"]
    assert model.info["counts"]["examples"] > 300
    assert len(model.info["data_hash"]) == 64


def test_train_with_labels_adds_headline_examples(corpus: list[Example]) -> None:
    small = [e for e in corpus if e.id.startswith(("off-0", "dwd-0", "seed-004"))]
    model = train_with_labels(small, [LABEL], {"cv_folds": 0})
    assert model.info["counts"]["examples"] == len(small) + 2  # the article and its headline


def test_sample_weight_must_match(corpus: list[Example]) -> None:
    with pytest.raises(ValueError, match="one weight per example"):
        train(corpus[:50] + corpus[-50:], {"cv_folds": 0}, sample_weight=[1.0])


def test_training_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="both relevant and not-relevant"):
        train([LABEL])


def test_cross_validate_small(corpus: list[Example]) -> None:
    subset = [e for e in corpus if e.id.startswith(("off-0", "dwd-0", "dtr-0", "seed-00"))]
    folds_done: list[tuple[int, int]] = []
    result = cross_validate(
        subset, {"cv_folds": 0}, n_splits=3, on_fold=lambda *done: folds_done.append(done)
    )
    assert result["folds"] == 3 and result["n"] == len(subset)
    assert folds_done == [(1, 3), (2, 3), (3, 3)]  # what `monitor model train` shows
    for key in ("relevance_f1", "stance_macro_f1", "topics_micro_f1", "actors_micro_f1"):
        assert 0.0 <= result[key] <= 1.0
    assert result["stance_confusion"]["labels"] == list(STANCES)
