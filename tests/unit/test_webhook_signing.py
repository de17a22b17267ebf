"""Standard Webhooks signing, payload shape and the retry schedule: RELIABILITY.md cases 1,
3, 4, 5 and 10 (the schedule half; the HTTP half is tests/integration/test_webhook_http.py)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from monitor.delivery.subscriptions import generate_secret, validate_secret
from monitor.delivery.webhook import (
    RETRY_SCHEDULE,
    active_secrets,
    build_payload,
    next_attempt_at,
    sign,
)
from tests.delivery_factories import article

KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_known_answer_vector() -> None:  # case 1
    headers = sign(KAT_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == "1614265330"


def test_fresh_message_verifies_with_the_reference_library() -> None:  # case 1
    body = b'{"test": 2432232314}'
    headers = sign(KAT_SECRET, "msg_fresh", int(time.time()), body)
    assert Webhook(KAT_SECRET).verify(body, headers) == {"test": 2432232314}
    stale = sign(KAT_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(KAT_SECRET).verify(body, stale)


def test_signed_bytes_are_the_payload_bytes() -> None:  # case 3
    secret = generate_secret()
    body = build_payload(
        message_id="msg_1", subscription_id="sub-1", article=article(), occurred_at=NOW
    )
    headers = sign(secret, "msg_1", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers, json_parse=False) is None
    assert "✓".encode() in body  # UTF-8 as is, not \u escapes
    reserialised = json.dumps(json.loads(body)).encode()  # what a careless sender would sign
    assert reserialised != body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(reserialised, headers)


def test_payload_has_the_documented_shape() -> None:
    body = build_payload(
        message_id="msg_1", subscription_id="sub-1", article=article(), occurred_at=NOW
    )
    document = json.loads(body)
    assert list(document) == [
        "type",
        "schema_version",
        "id",
        "occurred_at",
        "subscription_id",
        "article",
    ]
    assert (document["type"], document["schema_version"]) == ("article.matched", 1)
    assert document["occurred_at"] == "2026-11-21T10:00:00Z"
    assert set(document["article"]) == {
        "id",
        "url",
        "title",
        "source",
        "published_at",
        "language",
        "relevant",
        "actors",
        "topics",
        "topic_scores",
        "stance",
        "stance_scores",
        "stance_score",
        "explanation",
        "story_id",
        "model_version",
    }
    assert document["article"]["published_at"] == "2026-11-21T08:30:00Z"
    compact = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert compact == body
    assert len(body) < 20_000


def test_fifty_secrets_are_distinct_and_well_formed() -> None:  # case 4
    secrets = [generate_secret() for _ in range(50)]
    assert len(set(secrets)) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64
        assert validate_secret(secret) == secret
        Webhook(secret)  # the reference library accepts it
    assert {len(generate_secret(n)) for n in (24, 64)} == {38, 94}
    with pytest.raises(ValueError, match="24-64"):
        generate_secret(16)


def test_rotation_signs_with_both_secrets_inside_the_grace_window() -> None:  # case 5
    old, new = generate_secret(), generate_secret()
    rotated_at = NOW - timedelta(hours=1)
    body = b'{"type":"article.matched"}'
    during = active_secrets(new, old, rotated_at, NOW)
    headers = sign(during, "msg_r", datetime.now(UTC), body)
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    after = active_secrets(new, old, rotated_at, rotated_at + timedelta(hours=24))
    assert after == [new]
    headers = sign(after, "msg_r", datetime.now(UTC), body)
    assert headers["webhook-signature"].count("v1,") == 1
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)


def test_no_secret_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], "msg", 0, b"{}")


def test_exhaustion_follows_the_schedule_then_dead_letters() -> None:  # case 10
    clock, offsets = NOW, []
    for attempt in range(1, 20):  # bounded; the schedule ends long before
        due = next_attempt_at(attempt, clock, rng=lambda: 0.0)
        if due is None:
            break
        offsets.append(due - clock)
        clock = due
    assert offsets == list(RETRY_SCHEDULE)
    assert attempt == 8  # 1 first try + 7 retries, then the dead letter
    assert sum(offsets, timedelta()) == timedelta(hours=27, minutes=35, seconds=5)


def test_jitter_only_ever_delays_and_by_at_most_ten_percent() -> None:
    for attempt, delay in enumerate(RETRY_SCHEDULE, start=1):
        due = next_attempt_at(attempt, NOW, rng=lambda: 0.999999)
        assert due is not None
        assert delay <= due - NOW <= delay * 1.1


def test_retry_after_is_a_floor() -> None:  # case 9 (schedule side)
    due = next_attempt_at(1, NOW, retry_after=120, rng=lambda: 0.0)
    assert due == NOW + timedelta(seconds=120)
    later = next_attempt_at(4, NOW, retry_after=120, rng=lambda: 0.0)
    assert later == NOW + timedelta(hours=2)  # the schedule is already later
    assert next_attempt_at(8, NOW, retry_after=1) is None
    with pytest.raises(ValueError, match="from 1"):
        next_attempt_at(0, NOW)
