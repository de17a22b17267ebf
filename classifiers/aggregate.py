"""Turn passage scores into article labels. Pure numpy; no model here.

Why: a naive union of passage topics gives an article two or three topics where analysts give
one or two, and a single mixed paragraph should not flip an article's stance. Passages are
weighted by relevance and position (headline and lead first, as LABELS.md says), mixed with
the whole-article scores, and the number of topics is capped and ranked by margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.labels import STANCES, TOPICS
from classifiers.passages import Passage


@dataclass(frozen=True)
class ArticleScores:
    relevance: float
    stance: np.ndarray  # STANCES order
    topics: np.ndarray  # TOPICS order
    passage_weights: np.ndarray


def position_weights(
    passages: Sequence[Passage], title_weight: float, lead_weight: float
) -> np.ndarray:
    """Headline and first body passage weigh more; later passages slowly less."""
    weights = np.ones(len(passages))
    body_rank = 0
    for i, passage in enumerate(passages):
        if passage.is_title:
            weights[i] = title_weight
            continue
        weights[i] = lead_weight if body_rank == 0 else 1.0 / (1.0 + 0.05 * body_rank)
        body_rank += 1
    return weights


def aggregate(
    doc_relevance: float,
    doc_stance: np.ndarray,
    doc_topics: np.ndarray,
    passages: Sequence[Passage],
    rel: np.ndarray,
    stance: np.ndarray,
    topics: np.ndarray,
    *,
    mode: str = "weighted",
    title_weight: float = 2.0,
    lead_weight: float = 1.5,
    document_weight: float = 1.0,
    relevance_document_weight: float = 0.0,
) -> ArticleScores:
    """Article-level scores from the document row and the passage rows."""
    if mode == "document" or not len(passages):
        return ArticleScores(doc_relevance, doc_stance, doc_topics, np.ones(len(passages)))
    if mode == "union":
        weights = rel
        relevance = float(max(doc_relevance, rel.max()))
        relevant = rel >= 0.5
        pick = relevant if relevant.any() else np.ones(len(rel), dtype=bool)
        return ArticleScores(
            relevance, stance[pick].mean(axis=0), topics[pick].max(axis=0), weights
        )
    position = position_weights(passages, title_weight, lead_weight)
    rel_weights = position * rel
    mix = document_weight / (1.0 + document_weight)
    rel_mix = relevance_document_weight / (1.0 + relevance_document_weight)
    passage_relevance = float((position * rel).sum() / position.sum())
    relevance = rel_mix * doc_relevance + (1 - rel_mix) * passage_relevance
    if rel_weights.sum() > 1e-9:
        passage_stance = (rel_weights[:, None] * stance).sum(axis=0) / rel_weights.sum()
        passage_topics = (rel_weights[:, None] * topics).sum(axis=0) / rel_weights.sum()
    else:
        passage_stance, passage_topics = doc_stance, doc_topics
    return ArticleScores(
        relevance=float(relevance),
        stance=mix * doc_stance + (1 - mix) * passage_stance,
        topics=mix * doc_topics + (1 - mix) * passage_topics,
        passage_weights=rel_weights,
    )


def choose_topics(
    scores: np.ndarray, thresholds: Sequence[float], max_topics: int, at_least_one: bool = True
) -> list[str]:
    """Topics over their threshold, best margin first, at most `max_topics`; never none."""
    margins = np.asarray(scores) / np.maximum(np.asarray(thresholds), 1e-6)
    order = np.argsort(-margins, kind="stable")
    chosen = [TOPICS[i] for i in order if margins[i] >= 1.0][:max_topics]
    if not chosen and at_least_one:
        chosen = [TOPICS[int(order[0])]]
    return chosen


def stance_score(
    stance_label: str, article_stance: np.ndarray, passage_stance: np.ndarray, relevant: np.ndarray
) -> float:
    """LABELS.md: (cooperation passages - tension passages) / passages with a stance.

    Counted over relevant passages; when the count disagrees in sign with the article's stance
    (the headline outweighs a long tail of passages), the article's own probability margin is
    used, so a chart never shows a "cooperation" article below zero.
    """
    coop, tens = STANCES.index("cooperation"), STANCES.index("tension")
    margin = float(article_stance[coop] - article_stance[tens])
    labels = passage_stance[relevant].argmax(axis=1) if relevant.any() else np.array([], int)
    with_stance = int((labels == coop).sum() + (labels == tens).sum())
    score = ((labels == coop).sum() - (labels == tens).sum()) / with_stance if with_stance else 0.0
    if stance_label == "cooperation" and score <= 0:
        score = max(margin, 0.01)
    elif stance_label == "tension" and score >= 0:
        score = min(margin, -0.01)
    elif stance_label == "neutral" and not with_stance:
        score = 0.0
    return float(np.clip(score, -1.0, 1.0))
