"""Classifier benchmark: throughput on one core, training time, model size and loaded RSS.

Throughput is measured on 1,000 real article texts (trafilatura extractions of the fixture
pages, cycled; the devset texts when the fixtures are missing) and printed as a ratio against
the bare vectorizer transform of the same texts in the same run.

    .venv/bin/python bench/classify.py [--articles 1000] [--extra-labels 5000]
"""

from __future__ import annotations

import os

# one core, no BLAS threads: the budget is per core (set before numpy is imported)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from classifiers import artifacts  # noqa: E402
from classifiers.corpus import load_corpus  # noqa: E402
from classifiers.labels import Example  # noqa: E402
from classifiers.predict import Labeler  # noqa: E402
from classifiers.train import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PAGES = SHARED / "fixtures" / "pages"
DEVSET = SHARED / "realnews" / "devset.jsonl"


def article_texts(n: int, kind: str = "pages") -> tuple[list[str], str]:
    """n real article texts: extracted fixture pages (cycled), else devset title + text."""
    texts: list[str] = []
    source = ""
    if kind == "pages" and PAGES.is_dir():
        import trafilatura

        for page in sorted(PAGES.glob("*.html")):
            text = trafilatura.extract(page.read_text(encoding="utf-8", errors="replace"))
            if text and len(text) >= 250:
                texts.append(text)
        source = f"{len(texts)} trafilatura extractions of {PAGES}"
    if not texts:
        texts = [e.full_text for e in load_corpus(DEVSET, check_duplicates=False)]
        source = f"{len(texts)} devset texts"
    return [texts[i % len(texts)] for i in range(n)], source


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def rss_after_load(directory: Path) -> dict[str, float]:
    """RSS (MB) of a fresh interpreter after importing classifiers, loading and classifying.

    Read from /proc/self/status: ru_maxrss would include the parent's size at fork time.
    """
    code = (
        "import sys\n"
        "def rss():\n"
        "    s = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "    return int(s['VmRSS'].split()[0]) / 1024, int(s['VmHWM'].split()[0]) / 1024\n"
        "from classifiers import artifacts\n"
        "before = rss()[0]\n"
        "lab = artifacts.load(sys.argv[1])\n"
        "lab.classify('Turkey and the United States held talks on F-16 sales.')\n"
        "now, peak = rss()\n"
        "print(before, now, peak)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(directory)], capture_output=True, text=True, check=True
    )
    before, now, peak = (float(v) for v in out.stdout.split())
    return {"after_imports": before, "after_load_and_classify": now, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--extra-labels", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texts", choices=("pages", "devset"), default="pages")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    corpus = load_corpus(REPO / "seed_corpus")
    started = time.perf_counter()
    model = train(corpus)
    train_corpus = time.perf_counter() - started
    labeler = Labeler(model)
    texts, source = article_texts(args.articles, args.texts)
    chars = sum(len(t) for t in texts) / len(texts)

    bare = best_of(args.repeats, lambda: model.vectorizer.transform(texts))
    full = best_of(args.repeats, lambda: [labeler.classify(t) for t in texts])
    lean = best_of(args.repeats, lambda: [labeler.classify(t, explain=False) for t in texts])

    # training time with analyst labels: the benchmark texts, labelled by the model itself
    extra = []
    for i in range(args.extra_labels):
        text = texts[i % len(texts)] + f"\n\n(variant {i})"
        c = labeler.classify(text, explain=False)
        extra.append(
            Example(
                id=f"bench-{i}", text=text, relevant=c.relevant, actors=tuple(c.actors),
                topics=tuple(c.topics), stance=c.stance, source=f"bench/{i}",
            )
        )  # fmt: skip
    started = time.perf_counter()
    train([*corpus, *extra])
    train_extra = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        meta = artifacts.save(model, tmp)
        size_mb = meta["size_bytes"] / 1e6
        started = time.perf_counter()
        artifacts.load(tmp)
        load_s = time.perf_counter() - started
        rss = rss_after_load(Path(tmp))

    result = {
        "texts": source,
        "articles": len(texts),
        "mean_chars": round(chars),
        "bare_vectorizer_articles_per_s": round(len(texts) / bare, 1),
        "classify_articles_per_s": round(len(texts) / full, 1),
        "classify_no_explanation_articles_per_s": round(len(texts) / lean, 1),
        "ratio_classify_to_bare_vectorizer": round(full / bare, 2),
        "train_seconds_corpus": round(train_corpus, 2),
        "corpus_examples": len(corpus),
        "train_seconds_corpus_plus_labels": round(train_extra, 2),
        "extra_labels": len(extra),
        "model_file_mb": round(size_mb, 2),
        "load_seconds": round(load_s, 2),
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
