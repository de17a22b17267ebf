"""Metrics of a model on labelled examples, and grouped cross-validation. Pure: no I/O.

The four headline figures follow the issue: relevance F1 (all items), stance macro-F1,
topics micro-F1 and actors micro-F1 (on items whose gold label is relevant). Cross-validation
groups passages by source document so that one document is never on both sides of a split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

from classifiers.labels import STANCES, TOPICS, Example
from classifiers.predict import Classification, Labeler
from classifiers.train import Model, train


def _set_prf(gold: Sequence[set[str]], pred: Sequence[set[str]]) -> dict[str, float]:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    n_pred = sum(len(p) for p in pred)
    n_gold = sum(len(g) for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def metrics(examples: Sequence[Example], predictions: Sequence[Classification]) -> dict[str, Any]:
    """Headline figures, per-class figures and the stance confusion matrix."""
    if len(examples) != len(predictions):
        raise ValueError("examples and predictions differ in length")
    gold_rel = np.array([e.relevant for e in examples])
    pred_rel = np.array([p.relevant for p in predictions])
    out: dict[str, Any] = {
        "n": len(examples),
        "n_relevant": int(gold_rel.sum()),
        "relevance_f1": round(float(f1_score(gold_rel, pred_rel, zero_division=0)), 4),
    }
    rel_idx = [int(i) for i in np.flatnonzero(gold_rel)]
    gold_stance = [examples[i].stance for i in rel_idx]
    pred_stance = [predictions[i].stance for i in rel_idx]
    out["stance_macro_f1"] = round(
        float(
            f1_score(
                gold_stance, pred_stance, labels=list(STANCES), average="macro", zero_division=0
            )
        ),
        4,
    )
    gold_topics = [set(examples[i].topics) for i in rel_idx]
    pred_topics = [set(predictions[i].topics) for i in rel_idx]
    out["topics_micro_f1"] = _set_prf(gold_topics, pred_topics)["f1"]
    gold_actors = [set(examples[i].actors) for i in rel_idx]
    pred_actors = [set(predictions[i].actors) for i in rel_idx]
    out["actors_micro_f1"] = _set_prf(gold_actors, pred_actors)["f1"]
    p, r, f, s = precision_recall_fscore_support(
        gold_stance, pred_stance, labels=list(STANCES), zero_division=0
    )
    out["stance_per_class"] = {
        c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4), "support": int(s[i])}
        for i, c in enumerate(STANCES)
    }  # fmt: skip
    out["stance_confusion"] = {
        "labels": list(STANCES),
        "matrix": confusion_matrix(gold_stance, pred_stance, labels=list(STANCES)).tolist()
        if len(rel_idx) else [],
    }  # fmt: skip
    out["topics_per_class"] = {
        t: _set_prf([{t} & g for g in gold_topics], [{t} & q for q in pred_topics]) for t in TOPICS
    }
    out["actors_prf"] = _set_prf(gold_actors, pred_actors)
    out["topics_prf"] = _set_prf(gold_topics, pred_topics)
    out["relevance_prf"] = _set_prf(
        [{"r"} if g else set() for g in gold_rel], [{"r"} if q else set() for q in pred_rel]
    )
    if len(rel_idx):
        out["mean_topics_gold"] = round(float(np.mean([len(g) for g in gold_topics])), 3)
        out["mean_topics_pred"] = round(float(np.mean([len(q) for q in pred_topics])), 3)
    return out


def predict_all(labeler: Labeler, examples: Sequence[Example]) -> list[Classification]:
    return [labeler.classify(e.text, e.title, explain=False) for e in examples]


def evaluate(model_or_labeler: Model | Labeler, examples: Sequence[Example]) -> dict[str, Any]:
    """Metrics of a fitted model (or a loaded Labeler) on labelled examples."""
    labeler = (
        model_or_labeler if isinstance(model_or_labeler, Labeler) else Labeler(model_or_labeler)
    )
    return metrics(examples, predict_all(labeler, examples))


def grouped_folds(
    examples: Sequence[Example], n_splits: int = 5
) -> list[tuple[np.ndarray, np.ndarray]]:
    """GroupKFold by source document; raises if a document would land on both sides."""
    groups = np.array([e.group for e in examples])
    n_splits = min(n_splits, len(set(groups)))
    if n_splits < 2:
        raise ValueError("cross-validation needs examples from at least two documents")
    folds = list(GroupKFold(n_splits=n_splits).split(np.zeros(len(examples)), groups=groups))
    for train_idx, test_idx in folds:
        if set(groups[train_idx]) & set(groups[test_idx]):
            raise AssertionError("a document is on both sides of a split")
    return folds


def cross_validate(
    examples: Sequence[Example],
    params: dict[str, Any] | None = None,
    n_splits: int = 5,
    on_fold: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Out-of-fold predictions for every example, pooled into one metrics dict;
    `on_fold(done, folds)` after each fold (training is the slow part of a CLI command)."""
    predictions: list[Classification | None] = [None] * len(examples)
    folds = grouped_folds(examples, n_splits)
    for done, (train_idx, test_idx) in enumerate(folds, 1):
        labeler = Labeler(train([examples[i] for i in train_idx], params))
        for i in test_idx:
            predictions[i] = labeler.classify(examples[i].text, examples[i].title, explain=False)
        if on_fold:
            on_fold(done, len(folds))
    result = metrics(examples, [p for p in predictions if p is not None])
    result["folds"] = min(n_splits, len({e.group for e in examples}))
    return result
