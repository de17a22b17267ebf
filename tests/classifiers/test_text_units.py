"""Passages, the gazetteer and party selection."""

from __future__ import annotations

from classifiers.actors import score_actors, select_parties
from classifiers.cues import mark_negation
from classifiers.gazetteer import find_mentions
from classifiers.passages import split


def test_passages_keep_offsets_and_title() -> None:
    text = "Body one is here and long enough to stand alone as a passage.\n\nShort.\n\nLast one."
    passages = split(text, title="A headline")
    assert passages[0].is_title and passages[0].text == "A headline"
    full = "A headline\n\n" + text
    for p in passages:
        assert full[p.start : p.end].replace("\n", " ") == p.text


def test_headline_detected_without_title() -> None:
    passages = split("US and Turkey sign deal\n\nThe two countries signed a deal on Monday.")
    assert passages[0].is_title


def test_gazetteer_forms() -> None:
    text = (
        "Ankara and Washington agreed; the U.S. and Türkiye, the EU, Erdogan and the Kremlin. "
        "We ate turkey. The Washington Post reported on Kurdish militia and Islamabad."
    )
    codes = [m.code for m in find_mentions(text)]
    assert codes == ["TUR", "USA", "USA", "TUR", "EU", "TUR", "RUS", "YPG", "PAK"]


def test_parties_exclude_venues() -> None:
    text = (
        "Greece and Turkey agree to resume talks\n\nGreece and Turkey agreed on Monday to resume "
        "talks over the Aegean, officials said at a meeting hosted in Brussels. Turkish and Greek "
        "diplomats will meet again in March. The talks took place near Geneva."
    )
    scored = score_actors(text, split(text))
    assert set(select_parties(scored)) == {"GRC", "TUR"}


def test_negation_and_deescalation_scope() -> None:
    assert "neg_agree" in mark_negation("They did not agree to talks.")
    assert "neg_sanctions" in mark_negation("The US lifted sanctions on Turkey.")
    assert "neg_" not in mark_negation("They agreed. Sanctions followed.")
