"""The label vocabulary shared by every labelled example (see LABELS.md).

Why standard library only: the service's event payloads and import-linter contracts depend on
this module, so it must stay importable without numpy or scikit-learn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOPICS: tuple[str, ...] = (
    "security_counterterrorism",
    "defense_industry",
    "military_operations",
    "regional_conflicts",
    "alliance_diplomacy",
    "economy_energy",
)
STANCES: tuple[str, ...] = ("cooperation", "tension", "neutral")
ORGANISATIONS: tuple[str, ...] = ("NATO", "EU", "UN", "ISIS", "PKK", "YPG", "HAMAS")

# ISO 3166-1 alpha-3, copied from pycountry so that this module needs no third-party package;
# tests/classifiers/test_labels.py checks that the two stay equal.
_ISO_ALPHA3_TEXT = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES
BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE
CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK
DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB
GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV HTI HUN IDN IMN IND
IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR KNA KOR KWT LAO LBN
LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT
MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR
NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU
RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN
SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA
UKR UMI URY USA UZB VAT VCT VEN VGB VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""
ISO_ALPHA3: frozenset[str] = frozenset(_ISO_ALPHA3_TEXT.split())
ACTOR_CODES: frozenset[str] = ISO_ALPHA3 | frozenset(ORGANISATIONS)
_PASSAGE_SUFFIX = re.compile(r"-p\d+$")
REQUIRED_KEYS: tuple[str, ...] = ("id", "text", "relevant", "actors", "topics", "stance")


class LabelError(ValueError):
    """A labelled example breaks the LABELS.md scheme; the message says which field and why."""


@dataclass(frozen=True)
class Example:
    """One labelled text: a seed passage, a negative, an analyst label or a devset item.

    `group` is the source document: grouped cross-validation keeps passages of one document on
    one side of a split. A `source` that names a document (a path or URL) is the group; a
    generic source such as "team-written" is not, and then the id without its passage suffix
    ("-p07") is.
    """

    id: str
    text: str
    relevant: bool
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    stance: str = "neutral"
    source: str = ""
    title: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group(self) -> str:
        document = self.extra.get("document")
        if isinstance(document, str) and document:
            return document
        if self.source and any(c in self.source for c in "/:#"):
            return self.source
        return _PASSAGE_SUFFIX.sub("", self.id)

    @property
    def full_text(self) -> str:
        """What a model reads: the title, a blank line, then the text (README of realnews)."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            id=self.id,
            text=self.text,
            relevant=self.relevant,
            actors=list(self.actors),
            topics=list(self.topics),
            stance=self.stance,
            source=self.source,
        )
        if self.title is not None:
            out["title"] = self.title
        return out


def _str_list(record: Mapping[str, Any], key: str) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LabelError(f"{key!r} must be a list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise LabelError(f"{key!r} has duplicates: {value!r}")
    return value


def validate_labels(
    relevant: bool, actors: Iterable[str], topics: Iterable[str], stance: str
) -> None:
    """Raise LabelError unless the labels are in the vocabulary and consistent."""
    if not isinstance(relevant, bool):
        raise LabelError(f"'relevant' must be true or false, got {relevant!r}")
    actors, topics = list(actors), list(topics)
    unknown = [a for a in actors if a not in ACTOR_CODES]
    if unknown:
        raise LabelError(f"unknown actor code(s) {unknown}: use ISO alpha-3 or {ORGANISATIONS}")
    bad_topics = [t for t in topics if t not in TOPICS]
    if bad_topics:
        raise LabelError(f"unknown topic(s) {bad_topics}: expected some of {TOPICS}")
    if stance not in STANCES:
        raise LabelError(f"unknown stance {stance!r}: expected one of {STANCES}")
    if not relevant and (actors or topics or stance != "neutral"):
        raise LabelError("relevant=false requires empty actors, empty topics and stance neutral")


def example_from_dict(record: Mapping[str, Any]) -> Example:
    """Validate one JSON object in the LABELS.md format and build an Example."""
    if not isinstance(record, Mapping):
        raise LabelError(f"an example must be a JSON object, got {type(record).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise LabelError(f"missing key(s) {missing}")
    ex_id, text = record["id"], record["text"]
    if not isinstance(ex_id, str) or not ex_id.strip():
        raise LabelError(f"'id' must be a non-empty string, got {ex_id!r}")
    if not isinstance(text, str) or not text.strip():
        raise LabelError(f"'text' of {ex_id} must be a non-empty string")
    actors, topics = _str_list(record, "actors"), _str_list(record, "topics")
    stance = record["stance"]
    try:
        validate_labels(record["relevant"], actors, topics, stance)
    except LabelError as exc:
        raise LabelError(f"{ex_id}: {exc}") from None
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise LabelError(f"{ex_id}: 'title' must be a string or null")
    source = record.get("source") or ""
    if not isinstance(source, str):
        raise LabelError(f"{ex_id}: 'source' must be a string")
    known = set(REQUIRED_KEYS) | {"source", "title"}
    return Example(
        id=ex_id,
        text=text,
        relevant=record["relevant"],
        actors=tuple(actors),
        topics=tuple(topics),
        stance=stance,
        source=source,
        title=title or None,
        extra={k: v for k, v in record.items() if k not in known},
    )
