"""The one-line "why" of the dashboard: a decisive passage of the body, not the headline the
row shows already (the classifier's passage at offset 0), unless nothing else is there."""

from __future__ import annotations

from typing import Any

from monitor.web.reads import why

HEADLINE = {"index": 0, "start": 0, "end": 38, "text": "Ankara and Washington sign F-16 deal"}
BODY = {"index": 2, "start": 120, "end": 300, "text": "The  deal ends\na long dispute."}
LEAD = {"index": 1, "start": 40, "end": 118, "text": "Both sides praised the talks."}


def explanation(stance: list[dict[str, Any]], overall: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "relevance": {"terms": [["f-16", 0.4]]},
        "stance": {"terms": [["deal", 0.3], ["sign", 0.2]], "passages": stance},
        "passages": overall,
    }


def test_the_first_decisive_body_passage_is_preferred_to_the_headline() -> None:
    assert why(explanation([HEADLINE, BODY, LEAD], [HEADLINE])) == "The deal ends a long dispute."


def test_the_article_passages_are_next_when_the_stance_only_has_the_headline() -> None:
    assert why(explanation([HEADLINE], [HEADLINE, LEAD])) == "Both sides praised the talks."


def test_the_headline_when_it_is_all_there_is() -> None:
    assert why(explanation([HEADLINE], [HEADLINE])) == HEADLINE["text"]


def test_terms_without_passages_and_nothing_without_an_explanation() -> None:
    assert why(explanation([], [])) == "deal, sign"
    assert why({"relevance": {"terms": [["f-16", 0.4]]}}) == "f-16"
    assert why(None) == ""
