"""API tokens: issued with a role and shown once, kept only as a sha256 digest, revoked by name.

A token is 256 random bits, so nothing about it can be guessed and a plain sha256 is a
sufficient one-way digest (a salt or a slow hash defends low-entropy passwords; there are
none here). Events carry only the digest, so neither the log, a database dump nor
`monitor events list` contains a usable token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from monitor.bootstrap import App
from monitor.errors import InvalidInputError, NotFoundError
from monitor.events import TokenIssued, TokenRevoked
from monitor.streams import token_stream

ROLES = ("viewer", "analyst", "admin")  # each role may do everything the ones before it may
TOKEN_PREFIX = "mtk_"  # noqa: S105 (recognisable in a leaked file or by a secret scanner)
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class IssuedToken:
    name: str
    role: str
    token: str  # shown to the caller once; only its digest is stored


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(app: App, name: str, role: str, *, actor: str = "cli") -> IssuedToken:
    """A new token under an unused name (or the name of a revoked one)."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            "name: 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise InvalidInputError(f"role: one of {', '.join(ROLES)}")
    active, version = _state(app, name)
    if active:
        raise InvalidInputError(f"name: a token named {name!r} exists; revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    app.log.append(
        token_stream(name),
        version,
        [TokenIssued(name, role, digest(token), actor)],
        metadata={"actor": actor},
    )
    return IssuedToken(name, role, token)


def revoke_token(app: App, name: str, *, actor: str = "cli") -> None:
    active, version = _state(app, name)
    if not active:
        raise NotFoundError(f"no active token named {name!r}")
    app.log.append(
        token_stream(name), version, [TokenRevoked(name, actor)], metadata={"actor": actor}
    )


def _state(app: App, name: str) -> tuple[bool, int]:
    """Whether a token of that name is in force, and its stream's version."""
    history = app.log.read_stream(token_stream(name))
    active = bool(history) and isinstance(history[-1].event, TokenIssued)
    return active, history[-1].stream_version if history else 0
