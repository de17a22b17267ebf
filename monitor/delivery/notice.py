"""The plain-text email that tells a webhook's owner the endpoint was disabled (case 11).

A pure function, no I/O. The Message-ID depends only on the subscription and the
EndpointDisabled event it is about, so a resend after a crash or a 4xx is the same mail.
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from email.message import EmailMessage

from monitor.delivery.digest import _ID_UNSAFE, Envelope, _domain, clean_header, clean_text


def notice_message_id(subscription_id: str, disabled_event_id: str, env: Envelope) -> str:
    """``<endpoint-disabled.{subscription}.{event}@{domain}>``, stable across retries."""
    sub, key = _ID_UNSAFE.sub("-", subscription_id), _ID_UNSAFE.sub("-", disabled_event_id)
    return f"<endpoint-disabled.{sub}.{key}@{_domain(env)}>"


def render_notice(
    env: Envelope, *, url: str, reason: str, disabled_event_id: str, now: datetime
) -> EmailMessage:
    """One text/plain message to ``env.recipient`` about the disabled ``url``."""
    sub = env.subscription_id
    message = EmailMessage()
    message["From"] = env.sender
    message["To"] = env.recipient
    message["Subject"] = clean_header(f"monitor: webhook endpoint disabled ({sub})", 200)
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = notice_message_id(sub, disabled_event_id, env)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    body = "\n".join(
        [
            "monitor stopped sending to one of your webhook endpoints.",
            "",
            f"Subscription: {sub}",
            f"Endpoint: {clean_header(url, 2000)}",
            f"Reason: {clean_text(reason)}",
            f"Disabled at: {now:%Y-%m-%d %H:%M} UTC",
            "",
            "New matches are kept, not sent, while the endpoint is disabled.",
            "Once it works again, re-enable it and resend what it missed:",
            "",
            f"    monitor subscriptions enable {sub} --replay-since 7d",
            "",
        ]
    )
    message.set_content(body, charset="utf-8")
    return message
