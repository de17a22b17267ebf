"""The label vocabulary and the seed corpus schema (LABELS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pycountry
import pytest

from classifiers.corpus import CorpusError, data_hash, load_corpus
from classifiers.labels import (
    ISO_ALPHA3,
    ORGANISATIONS,
    STANCES,
    TOPICS,
    Example,
    LabelError,
    example_from_dict,
)

SEED_CORPUS = Path(__file__).resolve().parents[2] / "seed_corpus"

GOOD = {
    "id": "x-1",
    "text": "Turkey and the US signed a deal.",
    "relevant": True,
    "actors": ["TUR", "USA"],
    "topics": ["defense_industry"],
    "stance": "cooperation",
    "source": "seeds/x.txt",
}


def test_iso_codes_match_pycountry() -> None:
    assert {c.alpha_3 for c in pycountry.countries} == ISO_ALPHA3
    assert {"NATO", "EU", "UN", "ISIS", "PKK", "YPG", "HAMAS"} == set(ORGANISATIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stance": "friendly"}, "unknown stance"),
        ({"topics": ["sports"]}, "unknown topic"),
        ({"actors": ["XXX"]}, "unknown actor"),
        ({"relevant": "yes"}, "true or false"),
        ({"relevant": False}, "relevant=false requires"),
        ({"text": "  "}, "non-empty"),
        ({"actors": ["TUR", "TUR"]}, "duplicates"),
    ],
)
def test_invalid_labels_have_clear_errors(change: dict, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        example_from_dict({**GOOD, **change})


def test_missing_key() -> None:
    record = dict(GOOD)
    del record["stance"]
    with pytest.raises(LabelError, match="missing key"):
        example_from_dict(record)


def test_group_is_the_source_document() -> None:
    assert example_from_dict(GOOD).group == "seeds/x.txt"
    generic = example_from_dict({**GOOD, "id": "dwd-004-p02", "source": "team-written"})
    assert generic.group == "dwd-004"


def test_seed_corpus_schema(corpus: list[Example]) -> None:
    # load_corpus validates every label and refuses duplicate ids or texts across files
    files = sorted(SEED_CORPUS.glob("*.jsonl"))
    assert files, "seed_corpus has no JSONL files"
    assert len(corpus) >= 300
    assert len({e.id for e in corpus}) == len(corpus)
    for e in corpus:
        assert e.stance in STANCES and set(e.topics) <= set(TOPICS)
        if not e.relevant:
            assert not e.actors and not e.topics and e.stance == "neutral", e.id
    assert {True, False} == {e.relevant for e in corpus}


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(GOOD), "", json.dumps({**GOOD, "id": "x-2", "stance": "meh"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:3: x-2: unknown stance"):
        load_corpus(path)
    path.write_text(json.dumps(GOOD) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: invalid JSON"):
        load_corpus(path)


def test_duplicates_across_files_refused(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({**GOOD, "id": "x-9"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate text"):
        load_corpus(tmp_path)
    (tmp_path / "b.jsonl").write_text(json.dumps({**GOOD, "text": "Other."}) + "\n")
    with pytest.raises(CorpusError, match="duplicate id"):
        load_corpus(tmp_path)


def test_data_hash_is_order_independent_and_label_sensitive() -> None:
    a = example_from_dict(GOOD)
    b = example_from_dict({**GOOD, "id": "x-2", "text": "Another text."})
    assert data_hash([a, b]) == data_hash([b, a])
    changed = Example(**{**a.__dict__, "stance": "tension"})
    assert data_hash([changed, b]) != data_hash([a, b])
