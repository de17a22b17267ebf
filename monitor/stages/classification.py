"""Classification: label every extracted article with the active model.

The model runs outside the write transaction (`Stage.prepare`); each article gets an
`ArticleClassified` naming the model version, with an id derived from the extraction event
and the version, so a retried batch records nothing twice. The store reloads the model when a
promotion changes the active version, between batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import Histogram
from sqlalchemy import Connection

from monitor.commands.models import classified
from monitor.eventlog import PendingAppend, RecordedEvent, derived_id
from monitor.events import ArticleClassified, ArticleExtracted
from monitor.followers import Stage
from monitor.streams import article_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App


class ClassificationStage(Stage[list[ArticleClassified]]):
    name = "classification"
    batch_size = 100

    def __init__(self, app: App) -> None:
        self.app = app
        # Observed where the model runs; /metrics of the same process reports it.
        self.latency = Histogram(
            "monitor_classification_seconds",
            "Time to classify one article (mean over its batch).",
            registry=None,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset({ArticleExtracted.type_name})

    def prepare(self, batch: Sequence[RecordedEvent]) -> list[ArticleClassified]:
        labeler = self.app.models.labeler()
        started = time.perf_counter()
        results = []
        for recorded in batch:
            evt = recorded.event
            assert isinstance(evt, ArticleExtracted)
            result = labeler.classify(evt.text, evt.title)
            results.append(classified(evt.article_id, result, labeler.version))
        mean = (time.perf_counter() - started) / max(len(batch), 1)
        for _ in batch:
            self.latency.observe(mean)
        return results

    def record(
        self, conn: Connection, batch: Sequence[RecordedEvent], prepared: list[ArticleClassified]
    ) -> None:
        self.app.log.append_many(
            [
                PendingAppend(
                    article_stream(evt.article_id),
                    None,
                    [evt],
                    [derived_id("classified", recorded.event_id, evt.model_version)],
                    recorded.caused(),
                )
                for recorded, evt in zip(batch, prepared, strict=True)
            ],
            conn=conn,
        )
