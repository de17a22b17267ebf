"""Scoring extracted text against the fixture pages' ground truth (../shared/fixtures/README.md).

Snippet sets (`with` / `without`) score containment; full-text sets score 4-token shingle
precision, recall and F1, each page weighted equally.
"""

from __future__ import annotations

import re
from collections import Counter

import trafilatura

from monitor.pipeline.extract import Extracted, ExtractionResult


def trafilatura_direct(
    html: bytes, *, url: str, content_type: str | None, author_known: bool = False
) -> ExtractionResult:
    """The baseline: trafilatura on the raw bytes, as its benchmark runs it."""
    text = trafilatura.extract(html, include_comments=False, include_tables=True)
    return Extracted(text or "", None, None, None, None, None, "trafilatura")


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text)
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def score(rows: list[dict], texts: list[str]) -> dict[str, dict[str, float]]:
    """The README's rules: snippet containment for `snippets`, 4-token shingle F1 for full text."""
    sums: dict[str, Counter[str]] = {}
    for row, text in zip(rows, texts, strict=True):
        tally = sums.setdefault(row["set"], Counter())
        if row["kind"] == "fulltext":
            expected, got = _shingles(row["text"]), _shingles(text)
            counts = [(expected & got).total(), (got - expected).total(), (expected - got).total()]
            if sum(counts):
                for key, count in zip(("tp", "fp", "fn"), counts, strict=True):
                    tally[key] += count / sum(counts)
        else:
            flat = " ".join(text.split())
            found = [" ".join(s.split()) in flat for s in row["with"]]
            leaked = [" ".join(s.split()) in flat for s in row["without"]]
            tally.update(tp=sum(found), fn=len(found) - sum(found))
            tally.update(fp=sum(leaked), tn=len(leaked) - sum(leaked))
    return {name: _metrics(tally) for name, tally in sorted(sums.items())}


def _metrics(t: Counter[str]) -> dict[str, float]:
    precision, recall = t["tp"] / (t["tp"] + t["fp"]), t["tp"] / (t["tp"] + t["fn"])
    metrics = {"P": precision, "R": recall, "F1": 2 * precision * recall / (precision + recall)}
    if t["tn"]:
        metrics["accuracy"] = (t["tp"] + t["tn"]) / t.total()
    return {key: round(value, 4) for key, value in metrics.items()}
