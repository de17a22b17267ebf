"""The `Labeler`: a loaded model that classifies article texts (INTERFACE.md `classify`).

Why one class: the service loads a model once at start (or on promotion) and then calls
`classify` for every article; everything per-article happens in one vectorizer call over the
whole text and its passages, which keeps classification at hundreds of articles a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from classifiers.actors import ActorScore, all_mentioned, score_actors, select_parties
from classifiers.aggregate import aggregate, choose_topics, stance_score
from classifiers.cues import CUE_FEATURES
from classifiers.labels import STANCES, TOPICS
from classifiers.passages import Passage, join_title, split
from classifiers.train import STANCE_COLS, TOPIC_COLS, Model

TOP_TERMS = 5
TOP_PASSAGES = 2
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Classification:
    """One article's labels; `to_dict` gives exactly the `classify --jsonl` keys (minus id)."""

    relevant: bool
    relevance: float
    actors: list[str]
    topics: list[str]
    topic_scores: dict[str, float]
    stance: str
    stance_scores: dict[str, float]
    stance_score: float
    explanation: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "relevant": self.relevant,
            "relevance": self.relevance,
            "actors": list(self.actors),
            "topics": list(self.topics),
            "topic_scores": dict(self.topic_scores),
            "stance": self.stance,
            "stance_scores": dict(self.stance_scores),
            "stance_score": self.stance_score,
            "explanation": self.explanation,
            "model_version": self.model_version,
        }


class Labeler:
    """Wraps a fitted `Model`; build it with `artifacts.load` or directly after `train`."""

    def __init__(self, model: Model, version: str | None = None) -> None:
        self.model = model
        self.version = version or f"dev-{model.info.get('data_hash', 'unknown')[:12]}"

    def _name(self, index: int) -> str | None:
        """A feature's readable name; None for hashed character n-grams (no name to show)."""
        vec = self.model.vectorizer
        if index < vec.n_word_features:
            return str(vec.word_terms_[index])
        index -= vec.n_word_features + vec.n_char_features
        return f"cue:{CUE_FEATURES[index]}" if index >= 0 else None

    def classify(
        self, text: str, title: str | None = None, *, explain: bool = True
    ) -> Classification:
        """Classify one article (title and body, or a body whose first line is the headline)."""
        model, params = self.model, self.model.params
        passages = split(text, title) or [Passage(0, 0, len(text), text)]
        max_chars = params.get("max_chars") or 0
        if max_chars:  # the headline and lead decide; the tail costs time and adds noise
            passages = [p for p in passages if p.start < max_chars] or passages[:1]
        full = join_title(text, title)
        texts = [p.text[:max_chars] if max_chars else p.text for p in passages]
        x, stats = model.vectorizer.transform_article(texts)
        logits = model.logits(x)
        rel = model.relevance_proba(logits)
        stance = model.stance_proba(logits)
        topics = model.topic_proba(logits)
        scores = aggregate(
            float(rel[0]), stance[0], topics[0], passages, rel[1:], stance[1:], topics[1:],
            mode=params["aggregation"], title_weight=params["title_weight"],
            lead_weight=params["lead_weight"], document_weight=params["document_weight"],
            relevance_document_weight=params.get("relevance_document_weight", 0.0),
        )  # fmt: skip
        relevant = scores.relevance >= model.relevance_threshold
        topic_scores = {t: round(float(v), 4) for t, v in zip(TOPICS, scores.topics, strict=True)}
        stance_scores = {k: round(float(v), 4) for k, v in zip(STANCES, scores.stance, strict=True)}
        actors: list[str] = []
        chosen_topics: list[str] = []
        label, score = "neutral", 0.0
        scored: list[ActorScore] = []
        if relevant:
            thresholds = [model.topic_thresholds.get(t, 0.5) for t in TOPICS]
            chosen_topics = choose_topics(scores.topics, thresholds, params["max_topics"])
            label = STANCES[int(np.argmax(scores.stance))]
            score = stance_score(label, scores.stance, stance[1:], rel[1:] >= 0.5)
            mentions = [
                replace(m, start=m.start + p.start, end=m.end + p.start)
                for p, st in zip(passages, stats, strict=True)
                for m in st.mentions
            ]
            scored = score_actors(full, passages, rel[1:], mentions=mentions)
            if params.get("actor_selection") == "all":
                actors = all_mentioned(scored)
            else:
                actors = select_parties(scored)
        explanation: dict[str, Any] = {}
        if explain:
            explanation = self._explain(
                x, passages, scores.passage_weights, stance[1:], label, chosen_topics, relevant
            )
            explanation["actors"] = [[a.code, a.score] for a in scored[:6]]
        return Classification(
            relevant=bool(relevant),
            relevance=round(float(scores.relevance), 4),
            actors=actors,
            topics=chosen_topics,
            topic_scores=topic_scores,
            stance=label,
            stance_scores=stance_scores,
            stance_score=round(score, 4),
            explanation=explanation,
            model_version=self.version,
        )

    def _top_terms(self, row: Any, column: int, sign: float = 1.0) -> list[list[Any]]:
        """Terms with the largest linear weight x feature value in the whole-article row."""
        vec = self.model.vectorizer
        idx, values = row.indices, row.data
        named = (idx < vec.n_word_features) | (idx >= vec.n_word_features + vec.n_char_features)
        idx, values = idx[named], values[named]  # hashed char n-grams have no name to show
        if not len(idx):
            return []
        contributions = sign * self.model.weights[idx, column] * values
        top = np.argpartition(-contributions, min(TOP_TERMS, len(idx) - 1))[:TOP_TERMS]
        top = top[np.argsort(-contributions[top])]
        return [
            [name, round(float(contributions[i]), 4)]
            for i in top
            if contributions[i] > 0 and (name := self._name(int(idx[i]))) is not None
        ]

    def _explain(
        self, x: Any, passages: list[Passage], weights: np.ndarray, stance: np.ndarray,
        label: str, topics: list[str], relevant: bool,
    ) -> dict[str, Any]:  # fmt: skip
        doc = x[0]
        out: dict[str, Any] = {
            "relevance": {"terms": self._top_terms(doc, 0, 1 if relevant else -1)}
        }
        if relevant:
            col = STANCES.index(label)
            order = np.argsort(-(weights * stance[:, col]))[:TOP_PASSAGES]
            out["stance"] = {
                "terms": self._top_terms(doc, STANCE_COLS.start + col),
                "passages": [self._passage(passages[i]) for i in order],
            }
        out["topics"] = {
            t: {"terms": self._top_terms(doc, TOPIC_COLS.start + TOPICS.index(t))} for t in topics
        }
        order = np.argsort(-weights)[:TOP_PASSAGES]
        out["passages"] = [self._passage(passages[i]) for i in order]
        return out

    @staticmethod
    def _passage(passage: Passage) -> dict[str, Any]:
        snippet = passage.text[:SNIPPET_CHARS] + ("…" if len(passage.text) > SNIPPET_CHARS else "")
        return {"index": passage.index, "start": passage.start, "end": passage.end, "text": snippet}
