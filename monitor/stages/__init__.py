"""Pipeline stages: followers that run the pure steps of `monitor.pipeline` and record events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.bootstrap import App


def pipeline_stages(app: App) -> list[Any]:
    """Every stage, in the order the pipeline runs them."""
    from monitor.stages.classification import ClassificationStage
    from monitor.stages.extraction import ExtractionStage
    from monitor.stages.matching import MatchingStage
    from monitor.stages.stories import StoriesStage

    return [ExtractionStage(app), StoriesStage(app), ClassificationStage(app), MatchingStage(app)]
