"""Matching: each classified article against every subscription that existed at that moment.

A match is recorded as `ArticleMatched` together with its outbox row (`delivery_outbox`) in
the follower's transaction, so a match is either fully recorded, intent and all, or not at
all (RELIABILITY case 52); the delivery workers only ever send what an outbox row says.

Per subscription and story (`match_state`): the first matching copy of a story is sent, copies
from other outlets are not; a re-score of the sent article is sent once more, as an update,
only when it changed materially (the stance flipped or a topic was added). The story comes
from the article's own stream, which the stories stage has written before this stage runs;
an article without one counts as a story of its own.

Filters are those in force at the article's `ArticleClassified`: the current ones from
`subscription_targets`, unless the subscription was edited (`SubscriptionChanged`) after
that position, when the filters of that moment are read back from its stream. So an edit
applies to articles classified after it, however late this stage runs, and never to matches
already recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from monitor import db
from monitor.delivery.subscriptions import ArticleView, Filters, MatchReasons, match
from monitor.delivery.webhook import build_payload
from monitor.eventlog import RecordedEvent, derived_id
from monitor.events import (
    ArticleClassified,
    ArticleDiscovered,
    ArticleExtracted,
    ArticleMatched,
    StoryAssigned,
    SubscriptionChanged,
    SubscriptionCreated,
)
from monitor.streams import article_stream, delivery_stream, subscription_stream

if TYPE_CHECKING:
    from monitor.bootstrap import App


class MatchingStage:
    name = "matching"

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def handles(self) -> frozenset[str] | None:
        return frozenset({ArticleClassified.type_name})

    def handle(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        targets = _targets(conn, batch[-1].position)
        history = self._edited_since(conn, batch[0].position)
        for recorded in batch:
            evt = recorded.event
            assert isinstance(evt, ArticleClassified)
            living = [t for t in targets if _existed(t, recorded.position)]
            if evt.relevant and living:
                view = self._view(conn, evt)
                for target in living:
                    filters = _filters_at(target, history, recorded.position)
                    reasons = match(filters, view)
                    if reasons is not None:
                        self._matched(conn, recorded, target, view, reasons)

    def _edited_since(self, conn: Connection, position: int) -> dict[str, list[tuple[int, Any]]]:
        """(position, filters) of every version of the subscriptions edited after `position`."""
        edited: set[str] = set()
        after = position
        while changes := self.app.log.read_all(
            after=after, types=[SubscriptionChanged.type_name], conn=conn
        ):
            edited.update(str(c.data["subscription_id"]) for c in changes)
            after = changes[-1].position
        versions = (SubscriptionCreated.type_name, SubscriptionChanged.type_name)
        return {
            subscription_id: [
                (r.position, r.data["filters"])
                for r in self.app.log.read_stream(subscription_stream(subscription_id), conn=conn)
                if r.event_type in versions
            ]
            for subscription_id in edited
        }

    def _view(self, conn: Connection, classified: ArticleClassified) -> ArticleView:
        found: dict[str, Any] = {}
        for recorded in self.app.log.read_stream(article_stream(classified.article_id), conn=conn):
            if recorded.event_type in _FOLDED:
                found[recorded.event_type] = recorded.event
        discovered: ArticleDiscovered | None = found.get(ArticleDiscovered.type_name)
        extracted: ArticleExtracted | None = found.get(ArticleExtracted.type_name)
        story: StoryAssigned | None = found.get(StoryAssigned.type_name)
        source = None
        if discovered is not None:
            source = conn.execute(
                select(db.feeds.c.name).where(db.feeds.c.feed_id == discovered.feed_id)
            ).scalar_one_or_none()
        return ArticleView(
            id=classified.article_id,
            url=(discovered.url if discovered else None) or "",
            title=(discovered.title if discovered else "") or (extracted and extracted.title) or "",
            text=extracted.text if extracted else (discovered.summary if discovered else ""),
            source=source or (extracted.site_name if extracted else None) or "",
            published_at=discovered.published_at if discovered else None,
            language=(extracted.language if extracted else None)
            or (discovered.language if discovered else None),
            relevant=classified.relevant,
            actors=classified.actors,
            topics=classified.topics,
            topic_scores=classified.topic_scores,
            stance=classified.stance,
            stance_scores=classified.stance_scores,
            stance_score=classified.stance_score,
            explanation=classified.explanation,
            story_id=story.story_id if story else None,
            model_version=classified.model_version,
        )

    def _matched(
        self,
        conn: Connection,
        recorded: RecordedEvent,
        target: Any,
        view: ArticleView,
        reasons: MatchReasons,
    ) -> None:
        story_id = view.story_id or view.id
        state = db.match_state
        key = (state.c.subscription_id == target.subscription_id) & (state.c.story_id == story_id)
        previous = conn.execute(select(state).where(key)).first()
        changes: tuple[str, ...] = ()
        if previous is None:
            update_no = 0
        elif previous.article_id != view.id:
            return  # another outlet's copy of a story this subscriber has had
        else:
            changes = material_changes(previous.stance, previous.topics, view)
            if not changes:
                return
            update_no = previous.update_no + 1
        delivery_id = derived_id("delivery", target.subscription_id, view.id, update_no)
        webhook_id = "msg_" + delivery_id.replace("-", "")
        body = None
        if target.channel == "webhook":
            body = webhook_body(webhook_id, target.subscription_id, view, recorded, update_no)
        conn.execute(
            insert(db.delivery_outbox).values(
                delivery_id=delivery_id,
                subscription_id=target.subscription_id,
                channel=target.channel,
                article_id=view.id,
                webhook_id=webhook_id,
                body=body,
                view={
                    "article": view_to_json(view),
                    "reasons": reasons.to_dict(),
                    "update": update_no,
                    "changes": list(changes),
                },
                matched_at=recorded.recorded_at,
                status="pending",
                attempts=0,
                next_attempt_at=recorded.recorded_at,
            )
        )
        self.app.log.append(
            delivery_stream(delivery_id),
            0,
            [
                ArticleMatched(
                    delivery_id,
                    target.subscription_id,
                    view.id,
                    story_id,
                    target.channel,
                    view.model_version,
                    reasons.to_dict(),
                    update_no,
                    changes,
                )
            ],
            event_ids=[derived_id("matched", delivery_id)],
            metadata=recorded.caused(),
            conn=conn,
        )
        values = {"update_no": update_no, "stance": view.stance, "topics": list(view.topics)}
        if previous is None:
            conn.execute(
                insert(state).values(
                    subscription_id=target.subscription_id,
                    story_id=story_id,
                    article_id=view.id,
                    **values,
                )
            )
        else:
            conn.execute(update(state).where(key).values(**values))


_FOLDED = frozenset(
    {ArticleDiscovered.type_name, ArticleExtracted.type_name, StoryAssigned.type_name}
)


def _targets(conn: Connection, up_to: int) -> list[Any]:
    t = db.subscription_targets
    return list(conn.execute(select(t).where(t.c.created_position < up_to)))


def _filters_at(
    target: Any, history: Mapping[str, list[tuple[int, Any]]], position: int
) -> Filters:
    """The target's filters as they were at `position` (see the module docstring)."""
    versions = history.get(target.subscription_id)
    if versions is None:
        return Filters.from_dict(target.filters)
    return Filters.from_dict([f for at, f in versions if at < position][-1])


def _existed(target: Any, position: int) -> bool:
    ended = target.ended_position
    return bool(target.created_position < position and (ended is None or ended > position))


def material_changes(stance: str, topics: Sequence[str], view: ArticleView) -> tuple[str, ...]:
    """What makes a re-scored article worth sending again: a new stance, or a new topic."""
    changes = []
    if view.stance != stance:
        changes.append(f"stance: {stance} -> {view.stance}")
    changes.extend(f"topic added: {topic}" for topic in view.topics if topic not in topics)
    return tuple(changes)


def webhook_body(
    webhook_id: str,
    subscription_id: str,
    view: ArticleView,
    recorded: RecordedEvent,
    update_no: int,
) -> str:
    """The request body, made once and stored, so every retry sends the same bytes."""
    body = build_payload(
        message_id=webhook_id,
        subscription_id=subscription_id,
        article=view,
        occurred_at=recorded.recorded_at,
    )
    if update_no:  # additive fields: an update of an article sent before
        document = json.loads(body)
        document["update"] = update_no
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return body.decode("utf-8")


def view_to_json(view: ArticleView) -> dict[str, Any]:
    data = asdict(view)
    data["published_at"] = view.published_at.isoformat() if view.published_at else None
    return data


def view_from_json(data: Mapping[str, Any]) -> ArticleView:
    values = dict(data)
    published = values.get("published_at")
    values["published_at"] = datetime.fromisoformat(published) if published else None
    values["actors"] = tuple(values.get("actors") or ())
    values["topics"] = tuple(values.get("topics") or ())
    return ArticleView(**values)
