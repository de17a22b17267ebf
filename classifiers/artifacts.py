"""Save and load models with skops only, with integrity and provenance checks.

Why so strict: a model file is code-adjacent data that the service loads automatically after
a promotion. Pickle (and joblib) run arbitrary code on load, so they are never used; skops
refuses unknown types, and we refuse any type beyond an explicit allowlist, a file whose
sha256 differs from the one recorded at save time, and a file written by another
scikit-learn version (its estimators may unpack differently).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sklearn
import skops
import skops.io as sio

from classifiers.predict import Labeler
from classifiers.train import Model

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
FORMAT = "monitor-classifier/1"
ZIP_MAGIC = b"PK\x03\x04"
# Our own types that skops reports as untrusted; everything else must be trusted by skops.
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "classifiers.train.Model",
        "classifiers.features.ArticleVectorizer",
    }
)


class ArtifactError(RuntimeError):
    """A model directory cannot be used; the message says why."""


class IntegrityError(ArtifactError):
    """The model file's sha256 differs from the one recorded when it was saved."""


class VersionMismatchError(ArtifactError):
    """The model was saved by another scikit-learn version."""


class UntrustedTypesError(ArtifactError):
    """The skops file references types outside the allowlist (e.g. builtins.eval)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(
    model: Model, directory: str | Path, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write `model.skops` and `metadata.json` into `directory`; return the metadata."""
    if not isinstance(model, Model):
        raise TypeError(f"expected a classifiers.train.Model, got {type(model).__name__}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    tmp = path.with_suffix(".skops.tmp")
    sio.dump(model, tmp)
    os.replace(tmp, path)
    digest = sha256_file(path)
    created = datetime.now(UTC)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "model_file": MODEL_FILE,
        "sha256": digest,
        "size_bytes": path.stat().st_size,
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "created_at": created.isoformat(timespec="seconds"),
        "data_hash": model.info.get("data_hash"),
        "counts": model.info.get("counts"),
        "params": model.params,
        "metrics": {},
        "version": f"{created:%Y%m%dT%H%M%S}-{digest[:8]}",
    }
    meta.update(metadata or {})
    tmp_meta = directory / (METADATA_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp_meta, directory / METADATA_FILE)
    return meta


def read_metadata(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / METADATA_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no model metadata") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a {FORMAT} metadata file")
    return meta


def check_untrusted_types(path: Path) -> list[str]:
    """The allowlisted untrusted types of a skops file; raise if anything else is there."""
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt zip or schema: refuse, never guess
        raise ArtifactError(f"{path}: not a readable skops file: {exc}") from None
    unexpected = sorted(set(untrusted) - ALLOWED_TYPES)
    if unexpected:
        raise UntrustedTypesError(f"{path}: refusing untrusted types {unexpected}")
    return sorted(untrusted)


def _release_freed_memory() -> None:
    """Return the loader's freed buffers to the OS.

    skops unpacks the arrays through temporary copies; glibc keeps that freed heap (about
    20 MB here), so a long-running service would hold it for nothing. No-op off glibc.
    """
    # not glibc (no malloc_trim) or no C library found: nothing to give back
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


def load(directory: str | Path) -> Labeler:
    """Verify and load a saved model; any doubt raises an ArtifactError subclass."""
    directory = Path(directory)
    meta = read_metadata(directory)
    name = str(meta.get("model_file", ""))
    if Path(name).name != name or not name.endswith(".skops"):
        raise ArtifactError(f"{directory}: model file {name!r} is not a .skops file; refusing")
    path = directory / name
    if not path.is_file():
        raise ArtifactError(f"{path}: missing model file")
    with path.open("rb") as handle:
        if handle.read(4) != ZIP_MAGIC:
            raise ArtifactError(f"{path}: not a skops (zip) file; refusing")
    digest = sha256_file(path)
    if digest != meta.get("sha256"):
        raise IntegrityError(
            f"{path}: sha256 {digest[:16]}… does not match the recorded "
            f"{str(meta.get('sha256'))[:16]}…; the file was modified, refusing to load"
        )
    if meta.get("sklearn_version") != sklearn.__version__:
        raise VersionMismatchError(
            f"{path}: saved with scikit-learn {meta.get('sklearn_version')}, running "
            f"{sklearn.__version__}; retrain the model"
        )
    trusted = check_untrusted_types(path)
    try:
        model = sio.load(path, trusted=trusted)
    except Exception as exc:
        raise ArtifactError(f"{path}: skops refused to load: {exc}") from None
    _release_freed_memory()
    if not isinstance(model, Model):
        raise ArtifactError(f"{path}: holds a {type(model).__name__}, not a Model")
    return Labeler(model, version=str(meta.get("version") or digest[:12]))
