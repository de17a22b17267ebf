"""Concurrent requests share version reads, yet none gets an answer older than its arrival."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.api.listings import Coalesced


def test_callers_waiting_on_a_read_share_the_next_one() -> None:
    log_head = [1]
    reads: list[int] = []
    first_read_started, release_first = threading.Event(), threading.Event()

    def read() -> int:  # runs in a worker thread, as the database read does
        seen = log_head[0]
        reads.append(seen)
        if len(reads) == 1:
            first_read_started.set()
            release_first.wait(5)
        return seen

    async def scenario() -> tuple[int, list[int]]:
        version = Coalesced(read)
        early = asyncio.create_task(version())
        await asyncio.to_thread(first_read_started.wait, 5)
        log_head[0] = 2  # appended while the first read runs: later callers must see it
        late = [asyncio.create_task(version()) for _ in range(5)]
        await asyncio.sleep(0.1)  # let them all queue behind the first read
        release_first.set()
        return await early, list(await asyncio.gather(*late))

    assert asyncio.run(scenario()) == (1, [2] * 5)
    assert len(reads) == 2  # five late callers, one read between them


def test_a_failed_read_fails_its_caller_and_the_next_caller_reads_again() -> None:
    answers: list[int | Exception] = [RuntimeError("database gone"), 7]

    def read() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def scenario() -> int:
        version = Coalesced(read)
        with pytest.raises(RuntimeError, match="database gone"):
            await version()
        return await version()

    assert asyncio.run(scenario()) == 7
