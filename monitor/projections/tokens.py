"""API tokens as the guard looks them up: name, role and sha256, revoked or not."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import TokenIssued, TokenRevoked
from monitor.followers import Projection, on

t = db.api_tokens


class TokensProjection(Projection):
    name = "tokens"
    tables = (db.api_tokens,)

    @on(TokenIssued)
    def _issued(self, conn: Connection, evt: TokenIssued, rec: RecordedEvent) -> None:
        conn.execute(delete(t).where(t.c.name == evt.name))  # a revoked name issued again
        conn.execute(
            insert(t).values(
                name=evt.name,
                role=evt.role,
                token_sha256=evt.token_sha256,
                issued_at=rec.recorded_at,
                issued_by=evt.issued_by,
            )
        )

    @on(TokenRevoked)
    def _revoked(self, conn: Connection, evt: TokenRevoked, rec: RecordedEvent) -> None:
        conn.execute(
            update(t)
            .where(t.c.name == evt.name)
            .values(revoked_at=rec.recorded_at, revoked_by=evt.revoked_by)
        )
