"""Subscription validation (every refusal names its field) and matching."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.delivery.subscriptions import (
    Filters,
    SubscriptionSpec,
    generate_secret,
    match,
    validate,
    validate_secret,
)
from monitor.errors import InvalidInputError
from monitor.pipeline.ssrf import SsrfPolicy
from tests.delivery_factories import article


def email_spec(**changes: object) -> SubscriptionSpec:
    spec = SubscriptionSpec(
        "email", "Analyst@Example.COM", schedule="daily@08:00", timezone="Europe/Berlin"
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def test_valid_spec_is_normalised() -> None:
    filters = Filters(
        topics=("Defense_Industry", "economy_energy", "defense_industry"),
        stances=("TENSION",),
        actors=("tur", "USA", "nato"),
        include_keywords=("  F-16   sale ",),
        languages=("EN", "tr"),
        min_confidence=1,
    )
    spec = validate(email_spec(filters=filters, schedule="weekly@monday@8:00"))
    assert spec.target == "Analyst@example.com"  # the domain is case-insensitive
    assert spec.schedule == "weekly@MON@08:00"
    assert spec.filters == Filters(
        topics=("defense_industry", "economy_energy"),
        stances=("tension",),
        actors=("NATO", "TUR", "USA"),
        include_keywords=("F-16 sale",),
        languages=("en", "tr"),
        min_confidence=1.0,
    )
    assert Filters.from_dict(spec.filters.to_dict()) == spec.filters


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": "not-an-address"}, "email"),
        ({"target": "a@b@c.com"}, "email"),
        ({"target": "user@example.com\r\nBcc: x@example.com"}, "email"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"schedule": "fortnightly"}, "schedule"),
        ({"schedule": "daily@25:00"}, "schedule"),
        ({"filters": Filters(topics=("sports",))}, "topics"),
        ({"filters": Filters(stances=("hostile",))}, "stances"),
        ({"filters": Filters(actors=("XYZ",))}, "actors"),
        ({"filters": Filters(actors_mode="most")}, "actors_mode"),  # type: ignore[arg-type]
        ({"filters": Filters(min_confidence=1.5)}, "min_confidence"),
        ({"filters": Filters(min_confidence=float("nan"))}, "min_confidence"),
        ({"filters": Filters(min_confidence="0.5")}, "min_confidence"),  # type: ignore[arg-type]
        ({"filters": Filters(include_keywords=("",))}, "include_keywords"),
        ({"filters": Filters(exclude_keywords=("x" * 101,))}, "exclude_keywords"),
        ({"filters": Filters(exclude_keywords=("a\x00b",))}, "exclude_keywords"),
        ({"filters": Filters(include_keywords=tuple(map(str, range(51))))}, "include_keywords"),
        ({"filters": Filters(languages=("english",))}, "languages"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
def test_invalid_input_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError, match=rf"^{field}: "):
        validate(email_spec(**changes))


def test_unknown_timezone_message() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate(email_spec(timezone="Mars/Base"))
    assert str(info.value) == "timezone: unknown time zone 'Mars/Base'"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
        "http://2130706433/",
        "http://localhost:8080/",
        "file:///etc/passwd",
        "ftp://example.com/",
        "javascript:alert(1)",
        "gopher://x/",
        "https://exa mple.com/",
        "https://example.com/\r\nX: y",
        "",
    ],
)
def test_webhook_urls_are_checked_by_the_ssrf_guard(url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^webhook: "):
        validate(SubscriptionSpec("webhook", url))


def test_webhook_url_allowed_by_policy_and_immediate_only() -> None:
    assert validate(SubscriptionSpec("webhook", " https://hooks.example.com/x ")).target == (
        "https://hooks.example.com/x"
    )
    policy = SsrfPolicy.build(allowlist=["127.0.0.1:9000"])
    assert validate(SubscriptionSpec("webhook", "http://127.0.0.1:9000/h"), policy)
    with pytest.raises(InvalidInputError, match=r"^webhook: "):
        validate(SubscriptionSpec("webhook", "http://127.0.0.1:9001/h"), policy)
    with pytest.raises(InvalidInputError, match=r"^schedule: webhooks are sent immediately"):
        validate(SubscriptionSpec("webhook", "https://hooks.example.com/x", schedule="hourly"))


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_!!!",
        "whsec_" + "A" * 20,
        "whsec_" + "A" * 100,
    ],
)
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^secret: "):
        validate_secret(secret)


def test_generated_secret_is_valid() -> None:
    assert validate_secret(generate_secret()).startswith("whsec_")


# --- matching ---


def test_no_filters_match_every_relevant_article() -> None:
    reasons = match(Filters(), article())
    assert reasons is not None and reasons.confidence == 0.8
    assert reasons.to_dict() == {
        "topics": [],
        "stance": None,
        "actors": [],
        "keywords": [],
        "language": None,
        "confidence": 0.8,
    }
    assert match(Filters(), article(relevant=False)) is None


def test_topics_stances_and_languages_match_any() -> None:
    filters = Filters(
        topics=("defense_industry", "economy_energy"),
        stances=("cooperation", "tension"),
        languages=("tr",),
    )
    reasons = match(filters, article(language="tr-TR"))
    assert reasons is not None
    assert (reasons.topics, reasons.stance, reasons.language) == (
        ("defense_industry",),
        "cooperation",
        "tr",
    )
    assert match(filters, article(topics=("alliance_diplomacy",))) is None
    assert match(filters, article(stance="neutral")) is None
    assert match(filters, article(language="en")) is None
    assert match(filters, article(language=None)) is None


def test_actors_all_or_any() -> None:
    both = Filters(actors=("TUR", "PAK"), actors_mode="all")
    any_of = Filters(actors=("TUR", "PAK"), actors_mode="any")
    assert match(both, article()) is None
    assert match(both, article(actors=("PAK", "TUR", "USA"))) is not None
    reasons = match(any_of, article())
    assert reasons is not None and reasons.actors == ("TUR",)


def test_minimum_confidence_uses_the_stance_probability() -> None:
    assert match(Filters(min_confidence=0.8), article()) is not None
    assert match(Filters(min_confidence=0.81), article()) is None
    assert match(Filters(min_confidence=0.1), article(stance_scores={})) is None


def test_keywords_are_whole_words_in_title_or_text() -> None:
    text = "The UN said on Monday that the F-16  sale goes ahead."
    include = Filters(include_keywords=("f-16 sale", "drones"))
    reasons = match(include, article(text=text))
    assert reasons is not None and reasons.keywords == ("f-16 sale",)
    assert match(Filters(include_keywords=("un",)), article(text="under way")) is None
    assert match(Filters(include_keywords=("un",)), article(text=text)) is not None
    assert match(Filters(include_keywords=("anlaşması",)), article(text="")) is not None
    assert match(Filters(exclude_keywords=("monday",)), article(text=text)) is None
    assert match(Filters(exclude_keywords=("mon",)), article(text=text)) is not None
    assert match(Filters(include_keywords=("a.b",)), article(text="axb")) is None  # escaped
