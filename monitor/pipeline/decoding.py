"""Bounded ``Content-Encoding`` decoding for the fetcher.

Why it exists: ``httpx`` (like ``zlib.decompress`` or ``brotli.decompress``) inflates a whole
chunk at once, so a few hundred KiB of gzip or brotli can become gigabytes before any size
check runs. ``BoundedDecoder`` undoes gzip, deflate (zlib-wrapped or raw) and brotli, stacked
in any order, lazily and in pieces of at most ``piece`` bytes, so the caller can stop at its
cap having inflated at most one piece more than it keeps.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import brotli

DEFAULT_PIECE = 64 * 1024
DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, brotli.error)
"""What ``feed`` and ``flush`` raise for a body that is not valid in its declared coding."""


class _ZlibPieces:
    """Inflate gzip or deflate, never producing more than ``piece`` bytes per step."""

    def __init__(self, wbits: int, piece: int) -> None:
        self._wbits = wbits
        self._piece = piece
        self._d = zlib.decompressobj(wbits)
        self._started = False
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            out = self._step(data)
            if out:
                yield out
            if self._d.eof:
                data = self._next_member()
                continue
            stalled = not out and self._d.unconsumed_tail == data
            data = self._d.unconsumed_tail
            if stalled or (not data and len(out) < self._piece):
                return

    def _step(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data, self._piece)
        except zlib.error:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise
            self._wbits = -zlib.MAX_WBITS  # "deflate" sent as raw deflate, as httpx allows
            self._d = zlib.decompressobj(self._wbits)
            out = self._d.decompress(data, self._piece)
        self._started = True
        return out

    def _next_member(self) -> bytes:
        rest = self._d.unused_data
        if rest[:2] == b"\x1f\x8b" and self._wbits == 16 + zlib.MAX_WBITS:
            self._d = zlib.decompressobj(self._wbits)  # concatenated gzip members
            return rest
        self._done = True  # bytes after the stream are ignored (still counted raw)
        return b""

    def flush(self) -> Iterator[bytes]:
        return self.feed(b"")


class _BrotliPieces:
    """Brotli with ``output_buffer_limit`` so one call never inflates more than a piece."""

    def __init__(self, piece: int) -> None:
        self._piece = piece
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self._d.process(data, output_buffer_limit=self._piece)
        yield from _split(out, self._piece)
        for _ in range(1 << 30):  # bounded: each turn yields output or stops
            if self._d.can_accept_more_data():
                return
            out = self._d.process(b"", output_buffer_limit=self._piece)
            if not out:
                raise brotli.error("brotli decoder stalled")
            yield from _split(out, self._piece)

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Identity:
    def __init__(self, piece: int) -> None:
        self._piece = piece

    def feed(self, data: bytes) -> Iterator[bytes]:
        return _split(data, self._piece)

    def flush(self) -> Iterator[bytes]:
        return iter(())


_Stage = _ZlibPieces | _BrotliPieces | _Identity


def _split(data: bytes, piece: int) -> Iterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def _stage(coding: str, piece: int) -> _Stage:
    if coding in ("gzip", "x-gzip"):
        return _ZlibPieces(16 + zlib.MAX_WBITS, piece)
    if coding == "deflate":
        return _ZlibPieces(zlib.MAX_WBITS, piece)
    if coding == "br":
        return _BrotliPieces(piece)
    return _Identity(piece)  # identity, or a coding we did not ask for: left as is


class BoundedDecoder:
    """Undo ``Content-Encoding`` (possibly a list) lazily, in pieces of at most ``piece``
    bytes, so the caller can stop at its cap before anything larger is inflated."""

    def __init__(self, content_encoding: str | None, piece: int = DEFAULT_PIECE) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        # The last coding applied is the first to undo.
        self._stages = [_stage(c, piece) for c in reversed(codings)] or [_Identity(piece)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, self._stages[0].feed(data))

    def flush(self) -> Iterator[bytes]:
        for index, stage in enumerate(self._stages):
            yield from self._through(index, stage.flush())

    def _through(self, index: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
        if index + 1 >= len(self._stages):
            yield from pieces
            return
        for piece in pieces:
            yield from self._through(index + 1, self._stages[index + 1].feed(piece))
