"""Loopback SMTP servers for the delivery tests (127.0.0.1, port 0 only).

``SmtpServer`` runs a real aiosmtpd ``SMTP`` protocol on its own event loop in a thread,
optionally with STARTTLS or implicit TLS; ``Recorder`` is its handler and counts every MAIL
command, so a test can prove that nothing was sent. ``DroppingSmtpServer`` is a scripted
socket server that hangs up right after the terminating ``.`` of DATA (RELIABILITY case 61).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Recorder:
    """aiosmtpd handler: ``rcpt_replies`` are answered to RCPT in turn (then 250)."""

    rcpt_replies: list[str] = field(default_factory=list)
    mail_from: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        self.mail_from.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        self.messages.append(content if isinstance(content, bytes) else content.encode())
        return "250 Message accepted"


class SmtpServer:
    """aiosmtpd on 127.0.0.1:0. ``starttls`` offers STARTTLS; ``implicit_tls`` wraps the
    socket in TLS from the first byte (SMTPS)."""

    def __init__(
        self,
        handler: Recorder,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self._loop = asyncio.new_event_loop()
        factory = lambda: SMTP(handler, tls_context=starttls, hostname="mx.test")  # noqa: E731
        create = self._loop.create_server(factory, "127.0.0.1", 0, ssl=implicit_tls)
        self._server = self._loop.run_until_complete(create)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DroppingSmtpServer:
    """Speaks just enough SMTP for one message, then closes instead of answering DATA."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(5)
        self.port = int(self._sock.getsockname()[1])
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve_once, daemon=True)
        self._thread.start()

    def _serve_once(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as reader:
            conn.settimeout(5)
            conn.sendall(b"220 mx.test ESMTP\r\n")
            for _ in range(20):  # EHLO, MAIL, RCPT, DATA and slack; bounded
                line = reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-mx.test\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    self.received.append(_read_data(reader))
                    return  # hang up instead of "250"
                else:
                    conn.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self._sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DroppingSmtpServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _read_data(reader: Any) -> bytes:
    lines = []
    for _ in range(100_000):  # bounded: a digest is far shorter
        line = reader.readline()
        if not line or line == b".\r\n":
            break
        lines.append(line)
    return b"".join(lines)


def unused_port() -> int:
    """A port that was free a moment ago and has nothing listening on it."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])
