"""``send_message`` against real loopback SMTP servers: RELIABILITY.md cases 59-62.

The TLS certificates come from ``trustme`` (a throwaway CA made in the test); nothing here
waits on a timer longer than the 5 s socket timeout used by the config.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import trustme
from pydantic import SecretStr

from monitor.config import Settings
from monitor.delivery.smtp import (
    PermanentDeliveryError,
    SmtpConfig,
    TransientDeliveryError,
    send_message,
)
from tests.delivery_servers import DroppingSmtpServer, Recorder, SmtpServer, unused_port
from tests.servers import SilentServer


def message(subject: str = "Digest") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "monitor@example.org"
    msg["To"] = "analyst@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = "<digest.sub-1.20261121T0700Z@example.org>"
    msg.set_content("Türkiye and the US: 3 articles.\n", charset="utf-8")
    return msg


def config(port: int, **overrides: object) -> SmtpConfig:
    settings: dict[str, object] = {"host": "127.0.0.1", "port": port, "timeout": 5.0}
    return SmtpConfig(**{**settings, **overrides})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def plain(recorder: Recorder) -> Iterator[SmtpServer]:
    with SmtpServer(recorder) as server:
        yield server


def test_message_is_delivered_unchanged(plain: SmtpServer, recorder: Recorder) -> None:
    send_message(message("Überblick"), config(plain.port))
    assert recorder.mail_from == ["monitor@example.org"]
    received = email.message_from_bytes(recorder.messages[0], policy=email.policy.default)
    assert received["Message-ID"] == "<digest.sub-1.20261121T0700Z@example.org>"
    assert received["Subject"] == "Überblick"
    assert "Türkiye" in received.get_content()


def test_451_on_rcpt_is_transient_and_a_retry_delivers_once(
    plain: SmtpServer, recorder: Recorder
) -> None:  # case 59
    recorder.rcpt_replies.append("451 4.3.0 try again later")
    with pytest.raises(TransientDeliveryError) as info:
        send_message(message(), config(plain.port))
    assert info.value.code == 451 and info.value.transient
    assert recorder.messages == []
    send_message(message(), config(plain.port))
    assert len(recorder.messages) == 1


def test_550_is_permanent(plain: SmtpServer, recorder: Recorder) -> None:  # case 60
    recorder.rcpt_replies.append("550 5.1.1 no such user")
    with pytest.raises(PermanentDeliveryError) as info:
        send_message(message(), config(plain.port))
    assert info.value.code == 550 and not info.value.transient
    assert "no such user" in str(info.value)
    assert recorder.messages == []


def test_server_down_is_transient() -> None:
    with pytest.raises(TransientDeliveryError) as info:
        send_message(message(), config(unused_port()))
    assert info.value.code is None


def test_silent_server_times_out_as_transient() -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError) as info:
            send_message(message(), config(silent.port, timeout=1.0))
    assert time.monotonic() - started < 2.0
    assert "timed out" in str(info.value)


def test_drop_after_data_is_451_and_the_retry_keeps_the_message_id(
    plain: SmtpServer, recorder: Recorder
) -> None:  # case 61
    digest = message()
    with DroppingSmtpServer() as dropping, pytest.raises(TransientDeliveryError) as info:
        send_message(digest, config(dropping.port))
    assert info.value.code == 451
    assert b"Message-ID: <digest.sub-1.20261121T0700Z@example.org>" in dropping.received[0]
    send_message(digest, config(plain.port))
    retried = email.message_from_bytes(recorder.messages[0], policy=email.policy.default)
    assert retried["Message-ID"] == digest["Message-ID"]


def test_starttls_with_an_unknown_ca_is_refused_then_accepted_with_the_ca(
    recorder: Recorder, server_tls: ssl.SSLContext, ca_file: str
) -> None:  # case 62, first half
    with SmtpServer(recorder, starttls=server_tls) as server:
        with pytest.raises(TransientDeliveryError) as info:
            send_message(message(), config(server.port, starttls=True))
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        assert recorder.mail_from == []
        send_message(message(), config(server.port, starttls=True, ca_file=ca_file))
    assert len(recorder.messages) == 1


def test_required_starttls_not_offered_sends_nothing(
    plain: SmtpServer, recorder: Recorder
) -> None:  # case 62, second half
    with pytest.raises(TransientDeliveryError) as info:
        send_message(message(), config(plain.port, starttls=True))
    assert "STARTTLS" in str(info.value)
    assert recorder.mail_from == [] and recorder.messages == []


def test_implicit_tls_verifies_the_certificate(
    recorder: Recorder, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    with SmtpServer(recorder, implicit_tls=server_tls) as server:
        with pytest.raises(TransientDeliveryError):
            send_message(message(), config(server.port, ssl=True))
        send_message(message(), config(server.port, ssl=True, ca_file=ca_file))
    assert len(recorder.messages) == 1


def test_credentials_are_never_sent_without_tls(plain: SmtpServer, recorder: Recorder) -> None:
    with pytest.raises(PermanentDeliveryError):
        send_message(message(), config(plain.port, user="u", password="p"))
    assert recorder.mail_from == []


def test_config_from_settings_unwraps_the_password() -> None:
    settings = Settings(
        smtp_host="mail.example.org",
        smtp_port=587,
        smtp_user="u",
        smtp_password=SecretStr("s3cret"),
        smtp_starttls=True,
    )
    built = SmtpConfig.from_settings(settings, ca_file="ca.pem")
    assert (built.host, built.port, built.password, built.starttls, built.ca_file) == (
        "mail.example.org",
        587,
        "s3cret",
        True,
        "ca.pem",
    )
