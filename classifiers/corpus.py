"""Load and validate labelled JSON Lines (LABELS.md "File format").

Why strict: a single mislabelled line silently degrades every model trained after it, so a
load fails loudly, naming the file and line, instead of skipping what it cannot read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from classifiers.labels import Example, LabelError, example_from_dict


class CorpusError(ValueError):
    """The labelled data cannot be used; the message names the file and the line."""


def iter_jsonl(path: Path) -> Iterable[tuple[int, Example]]:
    """Yield (line number, Example) for every non-blank line of one JSONL file."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            try:
                yield number, example_from_dict(record)
            except LabelError as exc:
                raise CorpusError(f"{path}:{number}: {exc}") from None


def corpus_files(path: str | Path) -> list[Path]:
    """Every `*.jsonl` of a directory (sorted, so the order and hash are stable) or one file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise CorpusError(f"{path}: no *.jsonl files")
        return files
    if not path.is_file():
        raise CorpusError(f"{path}: no such file or directory")
    return [path]


def load_corpus(path: str | Path, *, check_duplicates: bool = True) -> list[Example]:
    """Read and validate every example; duplicate ids or texts across files are errors."""
    examples: list[Example] = []
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    for file in corpus_files(path):
        for number, example in iter_jsonl(file):
            where = f"{file}:{number}"
            if check_duplicates:
                if example.id in seen_ids:
                    raise CorpusError(
                        f"{where}: duplicate id {example.id!r} (first at {seen_ids[example.id]})"
                    )
                key = " ".join(example.text.split()).lower()
                if key in seen_texts:
                    raise CorpusError(
                        f"{where}: duplicate text of {example.id!r} (first at {seen_texts[key]})"
                    )
                seen_ids[example.id] = where
                seen_texts[key] = where
            examples.append(example)
    return examples


def data_hash(examples: Iterable[Example]) -> str:
    """sha256 of the labelled content (order-independent), recorded beside every model."""
    lines = sorted(
        json.dumps(
            [e.id, e.full_text, e.relevant, sorted(e.actors), sorted(e.topics), e.stance],
            ensure_ascii=False,
        )
        for e in examples
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def label_counts(examples: Iterable[Example]) -> dict[str, int]:
    """Counts recorded in model metadata: examples, relevant, per stance and per topic."""
    counts: dict[str, int] = {"examples": 0, "relevant": 0}
    for e in examples:
        counts["examples"] += 1
        counts["relevant"] += int(e.relevant)
        counts[f"stance:{e.stance}"] = counts.get(f"stance:{e.stance}", 0) + 1
        for topic in e.topics:
            counts[f"topic:{topic}"] = counts.get(f"topic:{topic}", 0) + 1
    return counts
