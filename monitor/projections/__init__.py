"""Read models built from the event log; each can be rebuilt with `monitor replay`."""

from __future__ import annotations

from monitor.followers import Projection
from monitor.projections.activity import ActivityProjection
from monitor.projections.articles import ArticlesProjection
from monitor.projections.deliveries import DeliveriesProjection
from monitor.projections.feeds import FeedsProjection
from monitor.projections.registry import LabelsProjection, ModelsProjection
from monitor.projections.subscriptions import SubscriptionsProjection
from monitor.projections.tokens import TokensProjection


def all_projections() -> list[Projection]:
    """Every read model, in the order they are caught up."""
    return [
        FeedsProjection(),
        ArticlesProjection(),
        ModelsProjection(),
        LabelsProjection(),
        SubscriptionsProjection(),
        DeliveriesProjection(),
        TokensProjection(),
        ActivityProjection(),
    ]
