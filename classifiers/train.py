"""Train the model: labelled examples + parameters -> a fitted `Model`. Pure: no I/O.

Heads on one shared feature space: relevance (binary), stance (3-way, on relevant examples),
topics (one binary head per topic, each with its own threshold). Thresholds, the neutral bias
and the relevance calibration come from grouped out-of-fold scores on the training data, never
from an evaluation set.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from classifiers.corpus import data_hash, label_counts
from classifiers.features import make_vectorizer
from classifiers.labels import STANCES, TOPICS, Example
from classifiers.passages import split

DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngrams": [1, 2],
    "char_ngrams": [3, 5],
    "cue_weight": 0.5,
    "min_df": 1,
    "c_relevance": 4.0,
    "c_stance": 4.0,
    "c_topics": 4.0,
    "cv_folds": 5,
    "max_topics": 3,
    "aggregation": "weighted",  # or "union", "document"
    "title_weight": 2.0,
    "lead_weight": 1.5,
    "document_weight": 1.0,
    "relevance_document_weight": 0.0,
    "max_chars": 3000,
    "label_weight": 1.0,
    "weight_topics": False,
    "label_titles": True,
    "label_leads": False,  # adding the lead passage as well lowered stance on the devset
    "headline_label_weight": 1.0,
    "actor_selection": "parties",  # or "all"
    "seed": 13,
    "tol": None,  # saga tolerance; None: 1e-3, or 1e-2 above LARGE examples
}


N_HEADS = 1 + len(STANCES) + len(TOPICS)
STANCE_COLS = slice(1, 1 + len(STANCES))
TOPIC_COLS = slice(1 + len(STANCES), N_HEADS)


LARGE = 3000  # above this many examples, calibrate with 3 folds instead of 5 (training time)


def text_head(text: str, max_chars: int) -> str:
    """The first `max_chars` of a text, cut at a paragraph or sentence end when possible.

    Classification reads only the head of long articles (the headline and lead decide), so
    training on analysts' long articles reads the same part.
    """
    if not max_chars or len(text) <= max_chars:
        return text
    cut = max(text.rfind("\n", 0, max_chars), text.rfind(". ", 0, max_chars) + 1)
    return text[: cut if cut > max_chars // 2 else max_chars]


class Model:
    """Fitted heads as one weight matrix over the shared features; persisted with skops.

    Columns: relevance, the three stance logits (STANCES order), one per topic (TOPICS order).
    Scoring an article and its passages is one sparse product. A plain class (not a
    dataclass) so that skops stores it as an object of the allowlisted type
    `classifiers.train.Model`.
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.vectorizer: Any = None
        self.weights: np.ndarray = np.zeros((0, N_HEADS), dtype=np.float32)
        self.bias: np.ndarray = np.zeros(N_HEADS)
        self.relevance_platt: list[float] = [1.0, 0.0]
        self.relevance_threshold: float = 0.5
        self.neutral_bias: float = 0.0
        self.topic_thresholds: dict[str, float] = {t: 0.5 for t in TOPICS}
        self.info: dict[str, Any] = {}

    def logits(self, x: Any) -> np.ndarray:
        return np.asarray(x @ self.weights) + self.bias

    def relevance_proba(self, logits: np.ndarray) -> np.ndarray:
        a, b = self.relevance_platt
        return 1.0 / (1.0 + np.exp(-(a * logits[:, 0] + b)))

    def stance_proba(self, logits: np.ndarray) -> np.ndarray:
        """Softmax over STANCES with the fitted neutral bias (log-odds) added."""
        z = logits[:, STANCE_COLS].copy()
        z[:, STANCES.index("neutral")] += self.neutral_bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def topic_proba(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-logits[:, TOPIC_COLS]))


def _lr(c: float, seed: int, tol: float = 1e-3) -> LogisticRegression:
    # saga: several times faster than liblinear or lbfgs on these sparse, wide matrices
    return LogisticRegression(
        C=c, class_weight="balanced", max_iter=3000, tol=tol,
        solver="saga", random_state=seed,
    )  # fmt: skip


def _fit_heads(
    model: Model,
    x: Any,
    examples: Sequence[Example],
    params: dict[str, Any],
    sample_weight: np.ndarray | None = None,
) -> None:
    """Fit the linear heads and copy their coefficients into the model's weight matrix."""
    seed = params["seed"]
    sw = np.ones(len(examples)) if sample_weight is None else np.asarray(sample_weight, float)
    n_features = x.shape[1]
    weights = np.zeros((n_features, N_HEADS), dtype=np.float32)
    bias = np.zeros(N_HEADS)
    y_rel = np.array([e.relevant for e in examples])
    # relevance keeps every example at weight 1: extra weight on a few articles made it worse
    head = _lr(params["c_relevance"], seed, params["tol"]).fit(x, y_rel)
    weights[:, 0], bias[0] = head.coef_[0], head.intercept_[0]
    rel_idx = np.flatnonzero(y_rel)
    y_stance = np.array([examples[int(i)].stance for i in rel_idx])
    bias[STANCE_COLS] = -30.0  # a stance never seen in training is never predicted
    present = sorted(set(y_stance))
    if len(present) >= 2:
        head = _lr(params["c_stance"], seed, params["tol"]).fit(
            x[rel_idx], y_stance, sample_weight=sw[rel_idx]
        )
        coef, intercept = head.coef_, head.intercept_
        if coef.shape[0] == 1:  # two classes: one logit for classes_[1] against classes_[0]
            coef, intercept = np.vstack([0 * coef, coef]), np.array([0.0, intercept[0]])
        for k, cls in enumerate(head.classes_):
            col = 1 + STANCES.index(cls)
            weights[:, col], bias[col] = coef[k], intercept[k]
    elif present:
        bias[1 + STANCES.index(present[0])] = 0.0
    for j, topic in enumerate(TOPICS):
        col = TOPIC_COLS.start + j
        y_topic = np.array([topic in examples[int(i)].topics for i in rel_idx])
        if 2 <= y_topic.sum() < len(y_topic):
            head = _lr(params["c_topics"], seed, params["tol"]).fit(
                x[rel_idx], y_topic, sample_weight=sw[rel_idx] if params["weight_topics"] else None
            )
            weights[:, col], bias[col] = head.coef_[0], head.intercept_[0]
        else:
            prior = min(max(float(y_topic.mean()) if len(y_topic) else 0.0, 1e-3), 1 - 1e-3)
            bias[col] = float(np.log(prior / (1 - prior)))
    model.weights, model.bias = weights, bias


def _best_threshold(
    scores: np.ndarray, truth: np.ndarray, weight: np.ndarray, default: float = 0.5
) -> float:
    """The cut that maximises (weighted) F1 on out-of-fold scores."""
    if truth.sum() == 0:
        return default
    candidates = np.unique(np.round(scores, 3))
    best, best_f1 = default, -1.0
    positives = float(weight[truth].sum())
    for cut in candidates:
        pred = scores >= cut
        tp = float(weight[pred & truth].sum())
        f1 = 2 * tp / (weight[pred].sum() + positives) if tp else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(cut), f1
    return min(max(best, 0.05), 0.95)


def _platt(decision: np.ndarray, truth: np.ndarray, weight: np.ndarray) -> list[float]:
    lr = LogisticRegression(C=100.0).fit(decision.reshape(-1, 1), truth, sample_weight=weight)
    return [float(lr.coef_[0, 0]), float(lr.intercept_[0])]


def _neutral_bias(logits: np.ndarray, truth: np.ndarray, weight: np.ndarray) -> float:
    """The log-odds shift on neutral that maximises out-of-fold stance macro-F1."""
    best, best_f1 = 0.0, -1.0
    for bias in np.linspace(-2.0, 2.0, 41):
        adjusted = logits[:, STANCE_COLS].copy()
        adjusted[:, STANCES.index("neutral")] += bias
        pred = np.array(STANCES)[adjusted.argmax(axis=1)]
        f1 = f1_score(
            truth, pred, labels=list(STANCES), average="macro", zero_division=0,
            sample_weight=weight,
        )  # fmt: skip
        if f1 > best_f1 + 1e-9 or (abs(f1 - best_f1) <= 1e-9 and abs(bias) < abs(best)):
            best, best_f1 = float(bias), f1
    return best


def _calibrate(
    model: Model,
    x: Any,
    examples: Sequence[Example],
    params: dict[str, Any],
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """Grouped out-of-fold scores -> Platt scaling, topic thresholds and the neutral bias."""
    groups = np.array([e.group for e in examples])
    n_folds = min(params["cv_folds"], len(set(groups)))
    y_rel = np.array([e.relevant for e in examples])
    if n_folds < 2 or len(set(y_rel)) < 2:
        return {"calibrated": False}
    oof = np.zeros((len(examples), N_HEADS))
    done = np.zeros(len(examples), dtype=bool)
    for train_idx, test_idx in GroupKFold(n_splits=n_folds).split(x, y_rel, groups):
        fold = Model()
        fold_examples = [examples[i] for i in train_idx]
        if len({e.relevant for e in fold_examples}) < 2:
            continue
        fold_weight = None if sample_weight is None else sample_weight[train_idx]
        _fit_heads(fold, x[train_idx], fold_examples, params, fold_weight)
        oof[test_idx] = fold.logits(x[test_idx])
        done[test_idx] = True
    oof_rel, oof_topics = oof[:, 0], 1.0 / (1.0 + np.exp(-oof[:, TOPIC_COLS]))
    weight = np.ones(len(examples)) if sample_weight is None else sample_weight
    model.relevance_platt = _platt(oof_rel[done], y_rel[done], np.ones(int(done.sum())))
    a, b = model.relevance_platt
    rel_proba = 1.0 / (1.0 + np.exp(-(a * oof_rel + b)))
    model.relevance_threshold = 0.5
    relevant = y_rel & done
    truth_stance = np.array([e.stance for e in examples])
    model.neutral_bias = _neutral_bias(oof[relevant], truth_stance[relevant], weight[relevant])
    for j, topic in enumerate(TOPICS):
        truth = np.array([topic in e.topics for e in examples])[y_rel]
        model.topic_thresholds[topic] = _best_threshold(oof_topics[y_rel, j], truth, weight[y_rel])
    model.topic_thresholds = {t: round(v, 4) for t, v in model.topic_thresholds.items()}
    return {"calibrated": True, "folds": n_folds, "oof_relevance_mean": float(rel_proba.mean())}


def train(
    examples: Sequence[Example],
    params: dict[str, Any] | None = None,
    sample_weight: Sequence[float] | None = None,
) -> Model:
    """Fit every head on `examples` (seed corpus plus analyst labels).

    `sample_weight` (one per example) lets analyst labels of real articles count more than
    the seed passages; `train_with_labels` applies the default `label_weight`.
    """
    if not examples:
        raise ValueError("no training examples")
    if len({e.relevant for e in examples}) < 2:
        raise ValueError("training needs both relevant and not-relevant examples")
    started = time.perf_counter()
    merged = {**DEFAULT_PARAMS, **(params or {})}
    if merged["tol"] is None:  # looser solver tolerance keeps large trainings under a minute
        merged["tol"] = 1e-3 if len(examples) <= LARGE else 1e-2
    model = Model()
    model.params = merged
    texts = [text_head(e.full_text, merged.get("max_chars") or 0) for e in examples]
    model.vectorizer = make_vectorizer(merged)
    x = sparse.csr_matrix(model.vectorizer.fit_transform(texts), dtype=np.float64)
    folds = merged["cv_folds"] if len(examples) <= LARGE else min(merged["cv_folds"], 3)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if weights is not None and len(weights) != len(examples):
        raise ValueError("sample_weight needs one weight per example")
    calibration = (
        _calibrate(model, x, examples, {**merged, "cv_folds": folds}, weights) if folds >= 2 else {}
    )
    _fit_heads(model, x, examples, merged, weights)
    model.info = {
        "data_hash": data_hash(examples),
        "counts": label_counts(examples),
        "n_features": int(x.shape[1]),
        "calibration": calibration,
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    return model


def _lead(text: str) -> str | None:
    """The first body passage of an article, when the article has more than one."""
    body = [p for p in split(text) if not p.is_title]
    return body[0].text if len(body) > 1 else None


def train_with_labels(
    corpus: Sequence[Example],
    labels: Sequence[Example],
    params: dict[str, Any] | None = None,
) -> Model:
    """The service's entry point: seed corpus plus analyst labels, the labels weighted by
    `params["label_weight"]` (real articles from the monitored stream are worth more than
    the team-written seed passages, and there are few of them)."""
    merged = {**DEFAULT_PARAMS, **(params or {})}
    extra = list(labels)
    if merged["label_titles"]:
        # LABELS.md: the headline decides the stance; a labelled article's headline is a
        # short real-news example of exactly that (same group: never split from its article)
        extra += [
            replace(e, id=f"{e.id}#title", text=e.title, title=None, source=e.group)
            for e in labels
            if e.title and e.relevant
        ]
    if merged["label_leads"]:
        extra += [
            replace(e, id=f"{e.id}#lead", text=lead, title=None, source=e.group)
            for e in labels
            if e.relevant and (lead := _lead(e.text))
        ]
    weights = [1.0] * len(corpus) + [
        float(merged["headline_label_weight" if "#title" in e.id else "label_weight"])
        for e in extra
    ]
    return train([*corpus, *extra], merged, sample_weight=weights)
