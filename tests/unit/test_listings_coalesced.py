"""Concurrent requests share version reads, yet none gets an answer older than its arrival."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.api.listings import Coalesced


def test_callers_waiting_on_a_read_share_the_next_one() -> None:
    log_head = [1]
    reads: list[int] = []
    first_read_started, release_first = threading.Event(), threading.Event()

    def read() -> int:
        seen = log_head[0]
        reads.append(seen)
        if len(reads) == 1:
            first_read_started.set()
            release_first.wait(5)
        return seen

    version = Coalesced(read)
    with ThreadPoolExecutor(6) as pool:
        early = pool.submit(version)
        assert first_read_started.wait(5)
        log_head[0] = 2  # appended while the first read runs: later callers must see it
        late = [pool.submit(version) for _ in range(5)]
        time.sleep(0.3)  # let them all queue behind the first read
        release_first.set()
        assert early.result(5) == 1
        assert [f.result(5) for f in late] == [2] * 5
    assert len(reads) == 2  # five late callers, one read between them


def test_a_failed_read_fails_its_caller_and_the_next_caller_reads_again() -> None:
    answers = iter([RuntimeError("database gone"), 7])

    def read() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    version = Coalesced(read)
    with pytest.raises(RuntimeError, match="database gone"):
        version()
    assert version() == 7
