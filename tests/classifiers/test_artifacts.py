"""Persistence: skops only, integrity and provenance checks (RELIABILITY.md cases 65-68)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import skops.io as sio

from classifiers import artifacts
from classifiers.artifacts import (
    ArtifactError,
    IntegrityError,
    UntrustedTypesError,
    VersionMismatchError,
)
from classifiers.labels import Example
from classifiers.predict import Labeler
from classifiers.train import Model

PACKAGE = Path(artifacts.__file__).parent
TEXT = "Turkey and the United States signed a defence cooperation agreement on Monday."


@pytest.fixture(scope="module")
def saved(model: Model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    artifacts.save(model, directory, {"metrics": {"relevance_f1": 1.0}})
    return directory


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_round_trip(saved: Path, labeler: Labeler) -> None:
    meta = json.loads((saved / "metadata.json").read_text())
    for key in ("sklearn_version", "data_hash", "counts", "params", "metrics", "created_at"):
        assert meta[key], key
    assert meta["sha256"] == hashlib.sha256((saved / "model.skops").read_bytes()).hexdigest()
    loaded = artifacts.load(saved)
    assert loaded.version == meta["version"]
    before, after = labeler.classify(TEXT).to_dict(), loaded.classify(TEXT).to_dict()
    before.pop("model_version"), after.pop("model_version")
    assert before == after


def test_model_file_is_small(saved: Path) -> None:
    assert (saved / "model.skops").stat().st_size < 50 * 1024 * 1024


def test_tampered_file_refused(saved: Path, tmp_path: Path) -> None:
    copy = _copy(saved, tmp_path / "m")
    data = bytearray((copy / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.skops").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        artifacts.load(copy)


def test_other_sklearn_version_refused(saved: Path, tmp_path: Path) -> None:
    copy = _copy(saved, tmp_path / "m")
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sklearn_version"] = "0.24.2"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(VersionMismatchError, match=r"scikit-learn 0\.24\.2"):
        artifacts.load(copy)


def test_untrusted_type_refused(saved: Path, tmp_path: Path) -> None:
    copy = _copy(saved, tmp_path / "m")
    sio.dump({"payload": eval}, copy / "model.skops")  # schema references builtins.eval
    assert "builtins.eval" in sio.get_untrusted_types(file=copy / "model.skops")
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"] = artifacts.sha256_file(copy / "model.skops")
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(UntrustedTypesError, match=r"builtins\.eval"):
        artifacts.load(copy)


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "../model.skops"])
def test_pickle_files_are_never_loaded(saved: Path, tmp_path: Path, name: str) -> None:
    copy = _copy(saved, tmp_path / "m")
    sentinel = tmp_path / "sentinel"
    # a pickle whose loading would create the sentinel file
    payload = b"cos\nsystem\n(S'touch " + str(sentinel).encode() + b"'\ntR."
    (copy / Path(name).name).write_bytes(payload)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["model_file"] = name
    meta["sha256"] = hashlib.sha256(payload).hexdigest()
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"not a \.skops file"):
        artifacts.load(copy)
    assert not sentinel.exists()


def test_pickle_bytes_behind_skops_name_refused(saved: Path, tmp_path: Path) -> None:
    copy = _copy(saved, tmp_path / "m")
    payload = b"\x80\x04\x95" + b"\x00" * 32
    (copy / "model.skops").write_bytes(payload)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sha256"] = hashlib.sha256(payload).hexdigest()
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="not a skops"):
        artifacts.load(copy)


def test_no_code_path_unpickles() -> None:
    pattern = re.compile(r"\bimport pickle\b|pickle\.load|joblib\.load|\bdill\b|cloudpickle")
    for source in PACKAGE.glob("*.py"):
        assert not pattern.search(source.read_text()), source.name


def test_persisted_vectorizer_has_no_stop_words_attribute(saved: Path) -> None:
    model = artifacts.load(saved).model
    vec = model.vectorizer
    assert not hasattr(vec, "stop_words_")
    assert "_word_cv" not in vec.__getstate__()  # only the term array is persisted
    vec.transform(["Turkey and the US held talks."])
    assert not hasattr(vec._word(), "stop_words_")


def test_untrusted_types_are_only_our_allowlist(saved: Path) -> None:
    found = set(sio.get_untrusted_types(file=saved / "model.skops"))
    assert found <= artifacts.ALLOWED_TYPES


def test_corpus_hash_recorded(saved: Path, corpus: list[Example]) -> None:
    from classifiers.corpus import data_hash

    assert json.loads((saved / "metadata.json").read_text())["data_hash"] == data_hash(corpus)
