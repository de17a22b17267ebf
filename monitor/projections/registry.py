"""The model registry and the analysts' labels as read models."""

from __future__ import annotations

from sqlalchemy import Connection, insert, update

from monitor import db
from monitor.eventlog import RecordedEvent
from monitor.events import (
    LabelAdded,
    LabelRetracted,
    ModelIntegrityFailed,
    ModelPromoted,
    ModelRolledBack,
    ModelTrained,
)
from monitor.followers import Projection, on


class ModelsProjection(Projection):
    name = "models"
    tables = (db.models,)

    @on(ModelTrained)
    def _trained(self, conn: Connection, evt: ModelTrained, recorded: RecordedEvent) -> None:
        conn.execute(
            insert(db.models).values(
                version=evt.version,
                status="candidate",
                trained_at=recorded.recorded_at,
                trained_by=evt.trained_by,
                path=evt.path,
                model_sha256=evt.model_sha256,
                sklearn_version=evt.sklearn_version,
                data_hash=evt.data_hash,
                counts=evt.counts,
                params=evt.params,
                cv_metrics=evt.cv_metrics,
                dev_metrics=evt.dev_metrics,
            )
        )

    @on(ModelPromoted)
    def _promoted(self, conn: Connection, evt: ModelPromoted, recorded: RecordedEvent) -> None:
        self._activate(conn, evt.version, evt.promoted_by, recorded)

    @on(ModelRolledBack)
    def _rolled_back(self, conn: Connection, evt: ModelRolledBack, recorded: RecordedEvent) -> None:
        self._activate(conn, evt.to_version, evt.rolled_back_by, recorded)

    @on(ModelIntegrityFailed)
    def _integrity(self, conn: Connection, evt: ModelIntegrityFailed, _: RecordedEvent) -> None:
        conn.execute(
            update(db.models)
            .where(db.models.c.version == evt.version)
            .values(integrity_error=evt.reason)
        )

    @staticmethod
    def _activate(conn: Connection, version: str, by: str, recorded: RecordedEvent) -> None:
        conn.execute(
            update(db.models).where(db.models.c.status == "active").values(status="retired")
        )
        conn.execute(
            update(db.models)
            .where(db.models.c.version == version)
            .values(status="active", promoted_at=recorded.recorded_at, promoted_by=by)
        )


class LabelsProjection(Projection):
    name = "labels"
    tables = (db.labels,)

    @on(LabelAdded)
    def _added(self, conn: Connection, evt: LabelAdded, recorded: RecordedEvent) -> None:
        conn.execute(
            insert(db.labels).values(
                label_id=evt.label_id,
                analyst=evt.analyst,
                article_id=evt.article_id,
                text=evt.text,
                title=evt.title,
                relevant=evt.relevant,
                stance=evt.stance,
                topics=list(evt.topics) if evt.topics is not None else None,
                actors=list(evt.actors) if evt.actors is not None else None,
                note=evt.note,
                source=evt.source,
                added_at=recorded.recorded_at,
            )
        )

    @on(LabelRetracted)
    def _retracted(self, conn: Connection, evt: LabelRetracted, recorded: RecordedEvent) -> None:
        conn.execute(
            update(db.labels)
            .where(db.labels.c.label_id == evt.label_id)
            .values(retracted_at=recorded.recorded_at)
        )
