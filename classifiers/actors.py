"""Choose the parties to the relation among the actors a text mentions.

Why not every country named: news names venues, neighbours and history ("talks in Geneva",
"near the Syrian border"); a plain gazetteer finds the parties (recall > 0.9) but half of
what it returns is not one. Parties are named in the headline and lead, act as subjects of
relation verbs, and recur; a mention scores by where it is, what kind it is, and whether its
sentence carries a relation cue, and a code is kept when its score is close to the leader's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.cues import COOPERATION, TENSION
from classifiers.gazetteer import (
    CAPITAL,
    DEMONYM,
    LEADER,
    NAME,
    ORG,
    Mention,
    find_mentions,
    trie_pattern,
)
from classifiers.passages import Passage

KIND_WEIGHT = {NAME: 1.0, ORG: 1.0, LEADER: 1.0, CAPITAL: 0.8, DEMONYM: 0.6}
_RELATION_VERB = re.compile(
    r"\b" + trie_pattern(sorted({s.lower() for s in (*COOPERATION, *TENSION)})), re.I
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_VENUE = re.compile(r"\b(?:in|at|near|from|to|outside)\s+(?:the\s+)?$", re.I)
VENUE_WEIGHT = 0.3


@dataclass(frozen=True)
class ActorScore:
    code: str
    score: float
    mentions: int


def _sentence_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, has a relation cue) for each sentence-like span."""
    return [
        (m.start(), m.end(), bool(_RELATION_VERB.search(m.group(0))))
        for m in _SENTENCE.finditer(text)
    ]


def score_actors(
    text: str,
    passages: Sequence[Passage],
    passage_weights: Sequence[float] | np.ndarray | None = None,
    *,
    title_weight: float = 3.0,
    lead_weight: float = 2.0,
    cue_bonus: float = 1.5,
    mentions: Sequence[Mention] | None = None,
) -> list[ActorScore]:
    """Every mentioned code with its party score, best first (mentions: offsets in `text`)."""
    mentions = find_mentions(text) if mentions is None else mentions
    if not mentions:
        return []
    sentences = _sentence_spans(text)
    lead_index = next((p.index for p in passages if not p.is_title), None)
    scores: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    s_pos = 0
    for mention in mentions:
        passage = next((p for p in passages if p.start <= mention.start < p.end), None)
        position = 1.0
        weight = 1.0
        if passage is not None:
            if passage.is_title:
                position = title_weight
            elif passage.index == lead_index:
                position = lead_weight
            if passage_weights is not None:
                weight = 0.5 + passage_weights[passage.index]
        while s_pos < len(sentences) - 1 and sentences[s_pos][1] <= mention.start:
            s_pos += 1
        cue = cue_bonus if sentences and sentences[s_pos][2] else 1.0
        kind = KIND_WEIGHT[mention.kind]
        if mention.kind == CAPITAL and _VENUE.search(
            text, max(0, mention.start - 8), mention.start
        ):
            kind = VENUE_WEIGHT  # "talks in Brussels": a place, not Brussels acting
        scores[mention.code] += kind * position * weight * cue
        counts[mention.code] += 1
    ranked = sorted(scores, key=lambda c: (-scores[c], c))
    return [ActorScore(c, round(scores[c], 3), counts[c]) for c in ranked]


def select_parties(
    scored: Sequence[ActorScore],
    *,
    relative: float = 0.3,
    minimum: float = 1.5,
    max_actors: int = 4,
) -> list[str]:
    """Codes whose score is at least `relative` x the best one (and `minimum`), best first."""
    if not scored:
        return []
    top = scored[0].score
    chosen = [a.code for a in scored if a.score >= max(relative * top, minimum)]
    if not chosen:
        chosen = [scored[0].code]
    return chosen[:max_actors]


def all_mentioned(scored: Sequence[ActorScore]) -> list[str]:
    """The plain-gazetteer baseline: every code named."""
    return [a.code for a in scored]
