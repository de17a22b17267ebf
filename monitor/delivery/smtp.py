"""Send one message over SMTP with verified TLS, and say whether a failure is worth a retry.

Why not just ``smtplib.SMTP(...).send_message``: without an explicit context, ``starttls()``
does not verify the server certificate, and a server (or a man in the middle) that stops
offering STARTTLS would silently get the mail in plaintext. Here both TLS modes use
``ssl.create_default_context()`` (hostname and chain checked) and a required STARTTLS that
is not offered stops the send before any mail command. Failures follow RFC 5321: 4xx and
dropped connections are transient (a drop is treated as ``451``), 5xx are permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from monitor.errors import MonitorError

DROPPED = 451  # RFC 5321 practice: a connection lost mid-transaction is a temporary failure


class DeliveryError(MonitorError):
    """A send that did not complete; ``code`` is the SMTP reply code when there was one."""

    transient: bool = True

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message if code is None else f"{code} {message}")
        self.code = code


class TransientDeliveryError(DeliveryError):
    """Try again later (4xx, connection refused or dropped, TLS not available)."""


class PermanentDeliveryError(DeliveryError):
    """Do not retry (5xx: unknown mailbox, rejected content, bad credentials)."""

    transient = False


@dataclass(frozen=True)
class SmtpConfig:
    """Outgoing mail settings; ``ca_file`` adds a trust anchor (tests, private CAs)."""

    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SmtpConfig:
        """Build from ``monitor.config.Settings`` (``smtp_*`` fields)."""
        password = settings.smtp_password
        values: dict[str, Any] = {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "user": settings.smtp_user,
            "password": password.get_secret_value() if password is not None else None,
            "starttls": settings.smtp_starttls,
            "ssl": settings.smtp_ssl,
        }
        return cls(**{**values, **overrides})


def send_message(message: EmailMessage, config: SmtpConfig) -> None:
    """Send ``message`` to its ``To`` recipients or raise a ``DeliveryError`` subclass."""
    if config.user and not (config.ssl or config.starttls):
        raise PermanentDeliveryError("refusing to send SMTP credentials without TLS")
    context = ssl.create_default_context(cafile=config.ca_file)
    try:
        with _connect(config, context) as client:
            if config.user:
                client.login(config.user, config.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _classified(code, reply) from exc
    except smtplib.SMTPResponseException as exc:  # sender refused, data, auth, helo errors
        raise _classified(exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientDeliveryError(f"connection dropped: {exc}", DROPPED) from exc
    except ssl.SSLError as exc:  # certificate or handshake failure: the mail waits
        raise TransientDeliveryError(f"TLS failed with {config.host}: {exc}") from exc
    except smtplib.SMTPException as exc:  # e.g. AUTH or SMTPUTF8 not supported: configuration
        raise PermanentDeliveryError(f"{config.host}: {exc}") from exc
    except TimeoutError as exc:
        raise TransientDeliveryError(f"timed out talking to {config.host}: {exc}") from exc
    except OSError as exc:  # refused, reset, unreachable, DNS
        raise TransientDeliveryError(f"cannot reach {config.host}:{config.port}: {exc}") from exc


def _connect(config: SmtpConfig, context: ssl.SSLContext) -> smtplib.SMTP:
    if config.ssl:
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        client.ehlo()
        if config.starttls:
            if not client.has_extn("starttls"):
                raise TransientDeliveryError(
                    f"{config.host} does not offer STARTTLS, which is required; nothing sent"
                )
            client.starttls(context=context)
            client.ehlo()
    except BaseException:
        client.close()
        raise
    return client


def _classified(code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if code == -1:  # smtplib's marker for a reply it could not read: the link went away
        return TransientDeliveryError(f"connection dropped: {text}", DROPPED)
    kind = PermanentDeliveryError if 500 <= code < 600 else TransientDeliveryError
    return kind(text, code)
