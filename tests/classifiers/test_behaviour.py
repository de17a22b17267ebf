"""Behavioural tests (mlops-course style): invariance, direction, minimum functionality."""

from __future__ import annotations

import pytest

from classifiers.predict import Labeler

BASE = "{a} and {b} held talks in {c} on Tuesday about security in the region."


@pytest.mark.parametrize(
    ("a", "b", "c"),
    [("Turkey", "the United States", "Ankara"), ("India", "Pakistan", "Islamabad")],
)
def test_swapping_actor_countries_keeps_stance(labeler: Labeler, a: str, b: str, c: str) -> None:
    for template in (
        BASE,
        "{a} imposed sanctions on {b} after talks in {c} collapsed.",
        "{a} and {b} signed a defence cooperation agreement in {c}.",
    ):
        one = labeler.classify(template.format(a=a, b=b, c=c))
        two = labeler.classify(template.format(a=b[0].upper() + b[1:], b=a, c=c))
        assert one.stance == two.stance, template
        assert set(one.actors) == set(two.actors)


def test_sanctions_move_stance_toward_tension(labeler: Labeler) -> None:
    base = labeler.classify(BASE.format(a="Turkey", b="the United States", c="Ankara"))
    more = labeler.classify(
        BASE.format(a="Turkey", b="the United States", c="Ankara")
        + " Afterwards Washington imposed sanctions on Ankara."
    )
    assert more.stance_score < base.stance_score or (
        more.stance_scores["tension"] > base.stance_scores["tension"]
    )
    assert more.stance_scores["tension"] > base.stance_scores["tension"]


def test_defence_agreement_moves_stance_toward_cooperation(labeler: Labeler) -> None:
    base = labeler.classify(BASE.format(a="Greece", b="Turkey", c="Athens"))
    more = labeler.classify(
        BASE.format(a="Greece", b="Turkey", c="Athens")
        + " The two countries signed a defence cooperation agreement."
    )
    assert more.stance_scores["cooperation"] > base.stance_scores["cooperation"]
    assert more.stance_score >= base.stance_score


def test_lifting_sanctions_moves_stance_toward_cooperation(labeler: Labeler) -> None:
    # LABELS.md / devset convention: a de-escalation step is cooperation, not tension
    imposed = labeler.classify(
        "The European Union imposed sanctions on Belarus after the disputed election."
    )
    lifted = labeler.classify(
        "The European Union lifted sanctions on Belarus after the release of political prisoners."
    )
    assert lifted.stance_scores["cooperation"] > imposed.stance_scores["cooperation"]
    assert lifted.stance_scores["tension"] < imposed.stance_scores["tension"]
    assert lifted.stance_score > imposed.stance_score


@pytest.mark.parametrize(
    ("text", "relevant", "stance"),
    [
        ("The United States imposed sanctions on Turkey over its purchase of Russian S-400s.",
         True, "tension"),
        ("Turkey and Pakistan signed an agreement to jointly build four naval frigates.",
         True, "cooperation"),
        ("Russia accused NATO of provoking a crisis by deploying troops near its border.",
         True, "tension"),
        ("Ecuador and Peru ended their border dispute and reopened their embassies.",
         True, "cooperation"),
        ("The Polish foreign minister will visit Ankara next week, the ministry said.",
         True, "neutral"),
        ("The football club signed a new striker from Istanbul for the derby.", False, "neutral"),
        ("Apple reported record iPhone sales and raised its dividend.", False, "neutral"),
        ("Heavy snow closed roads across Anatolia on Monday.", False, "neutral"),
    ],
)  # fmt: skip
def test_minimum_functionality(labeler: Labeler, text: str, relevant: bool, stance: str) -> None:
    out = labeler.classify(text)
    assert out.relevant is relevant
    assert out.stance == stance


def test_actors_found_in_short_sentences(labeler: Labeler) -> None:
    out = labeler.classify("Ankara and Washington agreed to cooperate against ISIS in Syria.")
    assert {"TUR", "USA"} <= set(out.actors)
