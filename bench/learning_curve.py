"""Learning curve: how much do k analyst labels of real news add to the seed corpus?

The devset is split once into two halves (stratified by relevance and stance, fixed seed).
For k in 0, 25, 50, 100, k items drawn from half A are added to seed_corpus as analyst labels;
the model is evaluated on half B. Three draws per k; the mean and spread are printed. Labels
enter training through `train_with_labels`, as the service's analyst labels do.

    .venv/bin/python bench/learning_curve.py [--draws 3] [--ks 0,25,50,100] [--label-weight W]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from classifiers.corpus import load_corpus
from classifiers.evaluate import evaluate
from classifiers.labels import Example
from classifiers.train import train_with_labels

REPO = Path(__file__).resolve().parents[1]
DEVSET = REPO.parent / "shared" / "realnews" / "devset.jsonl"
METRICS = ("relevance_f1", "stance_macro_f1", "topics_micro_f1", "actors_micro_f1")


def halves(items: list[Example], seed: int = 7) -> tuple[list[Example], list[Example]]:
    """Split stratified by (relevant, stance) so both halves keep the label mix."""
    strata: dict[tuple[bool, str], list[Example]] = defaultdict(list)
    for item in items:
        strata[(item.relevant, item.stance)].append(item)
    rng = random.Random(seed)
    a: list[Example] = []
    b: list[Example] = []
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda e: e.id)
        rng.shuffle(group)
        a += group[: len(group) // 2]
        b += group[len(group) // 2 :]
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--ks", default="0,25,50,100")
    parser.add_argument("--label-weight", type=float, help="override params['label_weight']")
    args = parser.parse_args()
    corpus = load_corpus(REPO / "seed_corpus")
    pool, held_out = halves(load_corpus(DEVSET, check_duplicates=False))
    print(f"corpus {len(corpus)} examples; label pool {len(pool)}; evaluation half {len(held_out)}")
    summary = {}
    for k in (int(x) for x in args.ks.split(",")):
        runs = []
        for draw in range(args.draws if k else 1):
            labels = random.Random(100 + draw).sample(pool, k)
            started = time.perf_counter()
            params = {} if args.label_weight is None else {"label_weight": args.label_weight}
            model = train_with_labels(corpus, labels, params)
            result = evaluate(model, held_out)
            runs.append({m: result[m] for m in METRICS})
            print(
                f"k={k:3d} draw={draw} train={time.perf_counter() - started:5.1f}s "
                + " ".join(f"{m}={result[m]:.4f}" for m in METRICS),
                flush=True,
            )
        summary[k] = {
            m: {
                "mean": round(statistics.mean(r[m] for r in runs), 4),
                "sd": round(statistics.pstdev(r[m] for r in runs), 4),
            }
            for m in METRICS
        }
    print(json.dumps(summary, indent=2))
    ks = sorted(summary)
    gain = summary[ks[-1]]["stance_macro_f1"]["mean"] - summary[ks[0]]["stance_macro_f1"]["mean"]
    print(f"stance macro-F1 gain k={ks[-1]} over k={ks[0]}: {gain:+.4f} (required >= +0.05)")


if __name__ == "__main__":
    main()
