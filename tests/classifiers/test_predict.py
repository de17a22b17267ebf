"""`classify` output matches INTERFACE.md and LABELS.md invariants."""

from __future__ import annotations

import json

from classifiers.labels import ACTOR_CODES, STANCES, TOPICS
from classifiers.passages import split
from classifiers.predict import Labeler

ARTICLE = (
    "Turkey and US agree to deepen defence ties\n\n"
    "Turkey and the United States agreed on Monday to deepen their defence cooperation, "
    "officials in Ankara and Washington said after talks at the State Department.\n\n"
    "The two NATO allies have clashed over Turkey's purchase of the Russian S-400 system, "
    "which led to US sanctions under CAATSA.\n\n"
    "Both sides said they would continue the strategic mechanism talks next month."
)
KEYS = {
    "relevant": bool,
    "relevance": float,
    "actors": list,
    "topics": list,
    "topic_scores": dict,
    "stance": str,
    "stance_scores": dict,
    "stance_score": float,
    "explanation": dict,
    "model_version": str,
}


def test_output_keys_and_types(labeler: Labeler) -> None:
    out = labeler.classify(ARTICLE).to_dict()
    assert set(out) == set(KEYS)
    for key, kind in KEYS.items():
        assert isinstance(out[key], kind), key
    assert set(out["topic_scores"]) == set(TOPICS)
    assert set(out["stance_scores"]) == set(STANCES)
    assert all(isinstance(v, float) for v in out["topic_scores"].values())
    assert abs(sum(out["stance_scores"].values()) - 1.0) < 1e-3
    assert 0.0 <= out["relevance"] <= 1.0 and -1.0 <= out["stance_score"] <= 1.0
    assert out["stance"] in STANCES and set(out["topics"]) <= set(TOPICS)
    assert set(out["actors"]) <= ACTOR_CODES
    assert out["model_version"] == labeler.version
    json.dumps(out)  # JSON-serialisable, explanation included
    assert len(json.dumps(out["explanation"])) < 6000


def test_relevant_article(labeler: Labeler) -> None:
    out = labeler.classify(ARTICLE)
    assert out.relevant
    assert {"TUR", "USA"} <= set(out.actors)
    assert out.stance == "cooperation" and out.stance_score > 0
    assert out.topics


def test_explanation_points_at_terms_and_passages(labeler: Labeler) -> None:
    out = labeler.classify(ARTICLE)
    exp = out.explanation
    assert exp["relevance"]["terms"] and exp["stance"]["terms"]
    passages = split(ARTICLE)
    for item in exp["stance"]["passages"]:
        p = passages[item["index"]]
        assert (item["start"], item["end"]) == (p.start, p.end)
        assert ARTICLE[p.start : p.end].replace("\n", " ").startswith(item["text"][:40])
    for topic in out.topics:
        assert topic in exp["topics"]


def test_not_relevant_has_empty_labels(labeler: Labeler) -> None:
    out = labeler.classify(
        "Galatasaray beat Fenerbahce 3-1 in the Istanbul derby on Sunday, with the defence "
        "holding firm after an early attack by the visitors."
    )
    assert not out.relevant
    assert out.actors == [] and out.topics == [] and out.stance == "neutral"
    assert out.stance_score == 0.0


def test_stance_score_sign_follows_the_stance(labeler: Labeler) -> None:
    for text in (
        ARTICLE,
        "Washington imposed sanctions on Ankara and suspended Turkey from the F-35 programme.",
        "Pakistan and Turkey signed an agreement on joint production of naval frigates.",
    ):
        out = labeler.classify(text)
        if out.stance == "cooperation":
            assert out.stance_score > 0
        elif out.stance == "tension":
            assert out.stance_score < 0


def test_title_argument_equals_headline_line(labeler: Labeler) -> None:
    title, body = ARTICLE.split("\n\n", 1)
    a = labeler.classify(body, title=title).to_dict()
    b = labeler.classify(ARTICLE).to_dict()
    for key in ("relevant", "actors", "topics", "stance", "relevance"):
        assert a[key] == b[key], key


def test_empty_and_tiny_inputs(labeler: Labeler) -> None:
    for text in ("", "   ", "Hi."):
        out = labeler.classify(text)
        assert not out.relevant and out.stance == "neutral"
