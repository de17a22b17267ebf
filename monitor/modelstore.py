"""Which model classifies articles, and loading it safely.

Versions live under `MONITOR_DATA_DIR/models/<version>/` (a skops file and its metadata);
which one is active is a fact of the event log (`ModelPromoted`, `ModelRolledBack`), read
through the `models` read model. The store loads the active version on first use and again
whenever a promotion changes it, so a running service switches models without a restart. A
version that fails its checks (hash, scikit-learn version, untrusted types) is refused with a
`ModelIntegrityFailed` event, and the model loaded before it stays in use.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from monitor import db
from monitor.engine import reading
from monitor.errors import MonitorError
from monitor.events import ModelIntegrityFailed

if TYPE_CHECKING:
    from classifiers.predict import Labeler
    from monitor.bootstrap import App

log = logging.getLogger(__name__)

MODELS_STREAM = "models"


class ModelUnavailableError(MonitorError):
    """No model can be loaded (none trained yet, or every candidate refused)."""


class ModelStore:
    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._labeler: Labeler | None = None
        self._refused: set[str] = set()

    @property
    def directory(self) -> Path:
        return Path(self.app.settings.data_dir) / "models"

    def path_of(self, relative: str) -> Path:
        return Path(self.app.settings.data_dir) / relative

    def active_version(self) -> str | None:
        self.app.runner.run_once(self.app.projection("models"))
        with reading(self.app.engine) as conn:
            return conn.execute(
                select(db.models.c.version).where(db.models.c.status == "active")
            ).scalar_one_or_none()

    def labeler(self) -> Labeler:
        """The active model, loaded once per promotion; trains a first one on a fresh install."""
        with self._lock:
            version = self.active_version()
            if version is None:
                from monitor.commands.models import train_first_model

                version = train_first_model(self.app)
            if self._labeler is not None and self._labeler.version == version:
                return self._labeler
            if version not in self._refused:
                loaded = self._load(version)
                if loaded is not None:
                    self._labeler = loaded
                    return loaded
            if self._labeler is None:
                self._labeler = self._earlier_model(version)
            return self._labeler

    def load_version(self, version: str) -> Labeler:
        """Load a specific registered version (for evaluation), or raise with the reason."""
        with reading(self.app.engine) as conn:
            path = conn.execute(
                select(db.models.c.path).where(db.models.c.version == version)
            ).scalar_one_or_none()
        if path is None:
            raise ModelUnavailableError(f"no model version {version} (see `monitor model list`)")
        from classifiers import artifacts  # scikit-learn loads only when a model is needed

        try:
            labeler = artifacts.load(self.path_of(path))
        except artifacts.ArtifactError as exc:
            raise ModelUnavailableError(f"model {version} refused: {exc}") from None
        labeler.version = version
        return labeler

    def _earlier_model(self, refused: str) -> Labeler:
        """In a fresh process: the most recently promoted other version that loads."""
        with reading(self.app.engine) as conn:
            earlier = conn.execute(
                select(db.models.c.version)
                .where(db.models.c.promoted_at.is_not(None), db.models.c.version != refused)
                .order_by(db.models.c.promoted_at.desc())
            ).scalars()
            candidates = [v for v in earlier if v not in self._refused]
        for version in candidates:
            loaded = self._load(version)
            if loaded is not None:
                log.warning("using model %s while %s is refused", version, refused)
                return loaded
        raise ModelUnavailableError(
            f"the active model {refused} cannot be loaded and no earlier model can stand in; "
            "train or promote another version (`monitor model list`)"
        )

    def _load(self, version: str) -> Labeler | None:
        try:
            return self.load_version(version)
        except ModelUnavailableError as exc:
            self._refused.add(version)
            log.error("%s; the previous model stays in use", exc)
            self.app.log.append(
                MODELS_STREAM, None, [ModelIntegrityFailed(version, str(exc)[:2000])]
            )
            return None
