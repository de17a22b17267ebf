"""``deliver`` against real loopback receivers: RELIABILITY.md cases 2, 6, 7, 8, 9 and the
status mapping. The Fetcher runs with a 2 s deadline and an exact allowlist of the receiver;
retries step a fake clock, nothing sleeps for the schedule."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from standardwebhooks import Webhook

from monitor.delivery.subscriptions import generate_secret
from monitor.delivery.webhook import (
    AttemptResult,
    build_payload,
    deliver,
    next_attempt_at,
    sign,
    webhook_fetch_policy,
)
from monitor.pipeline.fetch import Fetcher
from monitor.pipeline.ssrf import SsrfPolicy
from tests.delivery_factories import article
from tests.servers import KiB, LoopbackServer, MiB, drip, large_body, redirect, respond, slow

DEADLINE = 2.0
SECRET = generate_secret()


def attempt(
    receivers: list[LoopbackServer],
    url: str,
    body: bytes = b'{"type":"article.matched"}',
    *,
    msg_id: str = "msg_1",
    now: datetime | None = None,
) -> AttemptResult:
    """One signed attempt at ``now`` (defaults to the real time) through a guarded Fetcher."""
    moment = now or datetime.now(UTC)

    async def main() -> AttemptResult:
        ssrf = SsrfPolicy.build(allowlist=[r.origin for r in receivers])
        async with Fetcher(webhook_fetch_policy(DEADLINE), ssrf) as fetcher:
            headers = sign(SECRET, msg_id, moment, body)
            return await deliver(fetcher, url, headers, body, now=lambda: moment)

    return asyncio.run(main())


def verified(receiver: LoopbackServer) -> list[dict[str, str]]:
    """Every request the receiver got, checked the way a receiver would check it."""
    for hit in receiver.hits:
        Webhook(SECRET).verify(hit.body, hit.headers, json_parse=False)
    return [hit.headers for hit in receiver.hits]


def sequence(*handlers: Callable[[BaseHTTPRequestHandler], None]) -> Callable:
    """A handler answering with ``handlers`` in turn (the last one repeats)."""
    remaining = list(handlers)

    def handle(request: BaseHTTPRequestHandler) -> None:
        (remaining.pop(0) if len(remaining) > 1 else remaining[0])(request)

    return handle


def test_success_is_signed_and_sends_the_exact_bytes() -> None:
    body = build_payload(
        message_id="msg_1",
        subscription_id="sub-1",
        article=article(),
        occurred_at=datetime.now(UTC),
    )
    with LoopbackServer({"/hook": respond(204)}) as receiver:
        result = attempt([receiver], receiver.url("/hook"), body)
        headers = verified(receiver)
        sent = receiver.hits[0]
    assert (result.outcome, result.status, result.error) == ("success", 204, None)
    assert sent.method == "POST" and sent.body == body
    assert sent.headers["Content-Type"] == "application/json"
    assert headers[0]["webhook-id"] == "msg_1"


def test_retries_keep_the_id_and_refresh_timestamp_and_signature() -> None:  # case 2
    handler = sequence(respond(500), respond(500), respond(200))
    clock = datetime.now(UTC) - timedelta(minutes=2)  # all attempts inside the 5 min tolerance
    outcomes = []
    with LoopbackServer({"/hook": handler}) as receiver:
        for number in range(1, 9):  # bounded by the schedule
            result = attempt([receiver], receiver.url("/hook"), msg_id="msg_same", now=clock)
            outcomes.append(result.outcome)
            if result.outcome != "retry":
                break
            due = next_attempt_at(number, clock, result.retry_after, rng=lambda: 0.0)
            assert due is not None
            clock = due
        headers = verified(receiver)
    assert outcomes == ["retry", "retry", "success"]
    assert {h["webhook-id"] for h in headers} == {"msg_same"}
    assert len({h["webhook-timestamp"] for h in headers}) == 3
    assert len({h["webhook-signature"] for h in headers}) == 3


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (410, "disable_endpoint"),  # case 8
        (400, "dead_letter"),
        (401, "dead_letter"),
        (404, "dead_letter"),
        (422, "dead_letter"),
        (408, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
    ],
)
def test_status_mapping(status: int, outcome: str) -> None:
    with LoopbackServer({"/hook": respond(status, b"no")}) as receiver:
        result = attempt([receiver], receiver.url("/hook"))
    assert (result.outcome, result.status) == (outcome, status)
    assert str(status) in (result.error or "")


def test_429_retry_after_sets_the_earliest_next_attempt() -> None:  # case 9
    fake_now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    with LoopbackServer({"/hook": respond(429, b"", {"Retry-After": "120"})}) as receiver:
        result = attempt([receiver], receiver.url("/hook"), now=fake_now)
    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 120.0)
    assert result.not_before == fake_now + timedelta(seconds=120)
    due = next_attempt_at(1, fake_now, result.retry_after)
    assert due is not None and due >= fake_now + timedelta(seconds=120)


def test_absurd_retry_after_is_capped_at_a_day() -> None:
    fake_now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    answer = respond(503, b"", {"Retry-After": "99999999999999"})
    with LoopbackServer({"/hook": answer}) as receiver:
        result = attempt([receiver], receiver.url("/hook"), now=fake_now)
    assert (result.outcome, result.retry_after) == ("retry", 86400.0)
    assert result.not_before == fake_now + timedelta(days=1)
    assert next_attempt_at(1, fake_now, 1e14) == fake_now + timedelta(days=1)


def test_redirect_is_a_failure_and_the_target_is_never_hit() -> None:  # case 7
    with LoopbackServer(default=respond(200)) as target:
        with LoopbackServer({"/hook": redirect(target.url("/hook"), 307)}) as receiver:
            result = attempt([receiver, target], receiver.url("/hook"))
        assert (result.outcome, result.status) == ("retry", 307)
        assert target.connections == 0


def test_slow_receiver_times_out_within_the_deadline() -> None:  # case 6
    with LoopbackServer({"/hook": slow(DEADLINE + 2)}) as receiver:
        started = time.monotonic()
        result = attempt([receiver], receiver.url("/hook"))
        took = time.monotonic() - started
    assert result.outcome == "retry" and result.status is None
    assert "deadline" in (result.error or "")
    assert took < DEADLINE + 1 and result.elapsed < DEADLINE + 1


def test_huge_answer_is_a_success_after_reading_at_most_64_kib() -> None:  # case 6
    with LoopbackServer({"/hook": large_body(50 * MiB, content_length=True)}) as receiver:
        started = time.monotonic()
        result = attempt([receiver], receiver.url("/hook"))
        took = time.monotonic() - started
    assert (result.outcome, result.status) == ("success", 200)
    assert result.response_bytes <= 64 * KiB
    assert took < DEADLINE + 1


def test_dripping_answer_is_cut_at_the_deadline() -> None:  # case 6
    with LoopbackServer({"/hook": drip(0.05, 10_000)}) as receiver:
        started = time.monotonic()
        result = attempt([receiver], receiver.url("/hook"))
        took = time.monotonic() - started
    assert result.outcome == "retry"
    assert took < DEADLINE + 1


def test_connection_refused_is_retried() -> None:
    with LoopbackServer() as receiver:
        url, origin = receiver.url("/hook"), receiver
    result = attempt([origin], url)
    assert (result.outcome, result.status) == ("retry", None)


def test_a_receiver_outside_the_allowlist_is_a_dead_letter_with_no_request() -> None:
    with LoopbackServer(default=respond(200)) as receiver:
        result = attempt([], receiver.url("/hook"))
        assert receiver.connections == 0
    assert result.outcome == "dead_letter"
    assert "loopback" in (result.error or "")


def test_payload_round_trips_through_the_receiver() -> None:  # case 3 over the wire
    body = build_payload(
        message_id="msg_2",
        subscription_id="sub-1",
        article=article(),
        occurred_at=datetime.now(UTC),
    )
    with LoopbackServer({"/hook": respond(200)}) as receiver:
        attempt([receiver], receiver.url("/hook"), body, msg_id="msg_2")
        verified(receiver)
        received = json.loads(receiver.hits[0].body)
    assert received["article"]["title"] == article().title
