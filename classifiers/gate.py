"""Quality gate: pinned metric floors on a labelled evaluation set (the realnews devset).

Why pinned floors (after trafilatura's tests/eval_gate.py): a model change that loses quality
should fail CI loudly instead of drifting down release by release. Floors live in
`gate_floors.json`; raising them is free, lowering one needs an explicit `allow_lower=True`
(`--allow-lower` on the command line) and shows up in review as a diff of that file.

    python -m classifiers.gate --data ../shared/realnews/devset.jsonl [--update] [--allow-lower]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FLOORS_FILE = Path(__file__).with_name("gate_floors.json")
METRICS = ("relevance_f1", "stance_macro_f1", "topics_micro_f1", "actors_micro_f1")
# The targets, for reporting; the gate enforces the pinned floors.
TARGETS: dict[str, float] = {
    "relevance_f1": 0.92,
    "stance_macro_f1": 0.65,
    "topics_micro_f1": 0.75,
    "actors_micro_f1": 0.80,
}


class GateError(RuntimeError):
    """A floor would be lowered without the explicit flag."""


def read_floors(path: Path = FLOORS_FILE) -> dict[str, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: float(data["floors"][k]) for k in METRICS}


def check(metrics: Mapping[str, Any], floors: Mapping[str, float] | None = None) -> list[str]:
    """Human-readable failures: every metric below its floor (empty list = pass)."""
    floors = read_floors() if floors is None else floors
    return [
        f"{name} = {float(metrics[name]):.4f} is below the floor {floor:.4f}"
        for name, floor in floors.items()
        if float(metrics[name]) + 1e-9 < floor
    ]


def update_floors(
    metrics: Mapping[str, Any],
    *,
    slack: float = 0.01,
    allow_lower: bool = False,
    path: Path = FLOORS_FILE,
) -> dict[str, float]:
    """Pin floors at measured - slack; refuse to lower any floor unless `allow_lower`."""
    current = read_floors(path) if path.exists() else {}
    proposed = {k: round(float(metrics[k]) - slack, 4) for k in METRICS}
    lowered = {k: (current[k], v) for k, v in proposed.items() if k in current and v < current[k]}
    if lowered and not allow_lower:
        detail = ", ".join(f"{k}: {old:.4f} -> {new:.4f}" for k, (old, new) in lowered.items())
        raise GateError(f"refusing to lower floors without allow_lower: {detail}")
    floors = (
        proposed if allow_lower else {k: max(v, current.get(k, v)) for k, v in proposed.items()}
    )
    payload = {"floors": floors, "targets": TARGETS, "data": "realnews/devset.jsonl"}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return floors


def main(argv: list[str] | None = None) -> int:
    from classifiers.corpus import load_corpus
    from classifiers.evaluate import evaluate
    from classifiers.train import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="labelled JSONL to evaluate on")
    parser.add_argument("--corpus", default="seed_corpus", help="training corpus directory")
    parser.add_argument("--update", action="store_true", help="pin floors at the new figures")
    parser.add_argument("--allow-lower", action="store_true", help="permit lowering a floor")
    args = parser.parse_args(argv)
    model = train(load_corpus(args.corpus))
    result = evaluate(model, load_corpus(args.data, check_duplicates=False))
    print(json.dumps({k: result[k] for k in METRICS}, indent=2))
    if args.update:
        try:
            print("floors:", update_floors(result, allow_lower=args.allow_lower))
        except GateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    failures = check(result)
    for line in failures:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
