"""Cue words and actor counts: the prior knowledge a few hundred examples cannot teach.

Small lexicons in the spirit of the CAMEO / PLOVER verb classes (cooperate, consult, aid versus
threaten, coerce, sanction, assault) let "imposed sanctions" and "expelled from the programme"
point the same way; negation and de-escalation ("did not agree", "lifted sanctions", "tension
abates") flip a cue's direction; sentences naming two actors mark a relation between states.
Counts are additive, so an article's statistics are the sum of its passages'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from classifiers.gazetteer import Mention, find_mentions, trie_pattern
from classifiers.labels import ORGANISATIONS

_TOKEN = re.compile(r"[a-z][a-z'\-]*[a-z]|[a-z]|[.,;:!?]")
_NEGATORS = frozenset(
    {"not", "no", "never", "without", "nor", "cannot", "didn't", "won't", "don't", "doesn't",
     "isn't", "aren't", "wasn't", "weren't", "hasn't", "haven't", "refused", "refuses",
     "refuse", "rejected", "rejects", "failed", "fails", "halted", "halts", "suspended",
     "suspends", "against"}
)  # fmt: skip
# De-escalation verbs flip what follows, like a negation: "lifted sanctions" and "ended the
# dispute" are cooperation (LABELS.md counts de-escalation steps as cooperation).
_DEESCALATORS = frozenset(
    {"lift", "lifts", "lifted", "lifting", "ease", "eases", "eased", "easing", "end", "ends",
     "ended", "ending", "resolve", "resolves", "resolved", "resolving", "defuse", "defused",
     "defusing", "settle", "settled", "settling", "avert", "averted", "calm", "calmed",
     "reduce", "reduced", "overcome", "mend", "mended", "repair", "repaired", "abate",
     "abated", "de-escalate", "de-escalated", "waive", "waived", "drop", "dropped", "scrap",
     "scrapped", "remove", "removed", "abates", "subsides", "subsided", "cools",
     "cooled"}
)  # fmt: skip
NEGATION_SCOPE = 3

# Lexicon entries match a word exactly or with a common inflection (see `_matches`).
COOPERATION = (
    "agree", "agreement", "accord", "cooperat", "collaborat", "partner", "partnership", "ally",
    "allies", "alliance", "sign", "signature", "deal", "support", "joint", "jointly",
    "together", "reset", "improv", "strengthen", "deepen", "boost", "ceasefire", "truce",
    "approv", "welcom", "memorandum", "friendship", "rapprochement", "thaw", "reconcil", "aid",
    "assist", "help", "mutual", "shared", "trust", "normaliz", "normalis", "restor", "resum",
    "praise", "pledge", "solidarity", "mediat", "coordinat", "mend", "repair", "conciliat",
    "conciliatory", "peace", "constructive", "cordial", "warm", "ease", "de-escalat",
    "breakthrough", "accession", "invite", "invitation", "congratulat", "thank", "back",
    "endorse", "free", "release", "return",
)  # fmt: skip
ENGAGEMENT = (
    "talk", "talks", "dialogue", "negotiat", "visit", "summit", "meet", "meeting", "met",
    "discuss", "consult", "call", "exchange", "envoy", "delegation", "host", "strategic",
    "bilateral", "exercise", "drill", "sell", "sale", "purchas", "buy", "deliver", "invest",
    "contract", "order", "trade",
)  # fmt: skip
TENSION = (
    "sanction", "threat", "threaten", "accus", "criticis", "criticiz", "critic", "condemn",
    "dispute", "tension", "strain", "block", "suspend", "expel", "expuls", "warn", "protest",
    "reject", "row", "clash", "retaliat", "violat", "violation", "withdraw", "ban", "tariff",
    "freez", "crisis", "spat", "hostil", "oppos", "confront", "escalat", "denounc", "blam",
    "punish", "penal", "halt", "cancel", "deteriorat", "rift", "feud", "standoff", "provocat",
    "provok", "embargo", "veto", "refus", "diverg", "disagree", "anger", "angry", "furious",
    "summon", "recall", "breach", "troubl", "sour", "worsen", "rebuk", "slam", "lash",
    "ultimatum", "seiz", "arrest", "detain", "invad", "invasion", "incursion", "offensive",
    "coerc", "pressur", "deny", "denied", "dismiss", "irk", "anger", "frustrat", "rival",
    "spy", "espionage", "intrusion", "airspace", "harass", "intercept", "challeng",
)  # fmt: skip
VIOLENCE = (
    "attack", "strike", "airstrike", "kill", "bomb", "bombing", "shell", "shot", "shoot",
    "downing", "kidnap", "terror", "terrorist", "militant", "insurgen", "war", "conflict",
    "fight", "assassinat", "explos", "casualt", "dead", "wound", "gunmen", "massacre", "raid",
    "missile", "rocket", "hostage", "siege",
)  # fmt: skip
TOPIC_CUES: dict[str, tuple[str, ...]] = {
    "security_counterterrorism": (
        "terror",
        "counterterror",
        "isis",
        "isil",
        "daesh",
        "pkk",
        "ypg",
        "militant",
        "intelligence",
        "extremis",
        "jihad",
        "insurgen",
        "border",
        "bomb",
        "attack",
        "qaeda",
        "security",
        "kidnap",
        "hostage",
    ),
    "defense_industry": (
        "arms",
        "weapon",
        "f-16",
        "f-35",
        "s-400",
        "missile",
        "drone",
        "frigate",
        "fighter",
        "jet",
        "procure",
        "defence",
        "defense",
        "caatsa",
        "export",
        "technology",
        "industry",
        "aircraft",
        "helicopter",
        "tank",
        "patriot",
        "sale",
        "contract",
        "nuclear",
    ),
    "military_operations": (
        "troop",
        "exercise",
        "drill",
        "base",
        "incirlik",
        "deploy",
        "operation",
        "naval",
        "navy",
        "army",
        "military",
        "forces",
        "soldier",
        "airstrike",
        "strike",
        "offensive",
        "patrol",
        "warship",
        "coalition",
        "incursion",
        "invasion",
    ),
    "regional_conflicts": (
        "syrian",
        "ukrainian",
        "iraqi",
        "libyan",
        "kashmiri",
        "palestinian",
        "israeli",
        "kurdish",
        "kurds",
        "idlib",
        "afrin",
        "donbas",
        "crimea",
        "nagorno",
        "golan",
        "west bank",
        "syria",
        "ukraine",
        "gaza",
        "iraq",
        "kashmir",
        "libya",
        "karabakh",
        "aegean",
        "cyprus",
        "war",
        "conflict",
        "ceasefire",
        "refugee",
        "crisis",
        "rebel",
        "civil",
        "occupation",
    ),
    "alliance_diplomacy": (
        "nato",
        "alliance",
        "ally",
        "allies",
        "summit",
        "talks",
        "dialogue",
        "visit",
        "minister",
        "diplomat",
        "ambassador",
        "embassy",
        "accession",
        "membership",
        "treaty",
        "memorandum",
        "relations",
        "ties",
        "bilateral",
        "negotiat",
        "un",
        "eu",
        "envoy",
    ),
    "economy_energy": (
        "trade",
        "invest",
        "energy",
        "pipeline",
        "gas",
        "oil",
        "tariff",
        "economic",
        "economy",
        "export",
        "import",
        "market",
        "currency",
        "lira",
        "bank",
        "business",
        "sanction",
        "nuclear",
        "power",
        "electric",
    ),
}


def tokens(text: str) -> list[str]:
    """Lower-case word tokens with sentence punctuation kept (it ends a negation scope)."""
    return _TOKEN.findall(text.lower())


def mark_negation(text: str) -> str:
    """Prefix the words after a negator with "neg_" until punctuation or NEGATION_SCOPE words.

    Used as the word vectorizer's preprocessor, so "did not sign" yields "neg_sign".
    """
    out: list[str] = []
    scope = 0
    for token in tokens(text):
        if token in ".,;:!?":  # noqa: S105 - punctuation, not a secret
            scope = 0
            continue
        if scope:
            out.append("neg_" + token)
            scope -= 1
        else:
            out.append(token)
        if token in _DEESCALATORS:  # "tension abates", "sanctions were lifted"
            for back in (2, 3):
                if len(out) >= back and not out[-back].startswith("neg_"):
                    out[-back] = "neg_" + out[-back]
        if token in _NEGATORS or token in _DEESCALATORS or token.endswith("n't"):
            scope = NEGATION_SCOPE
    return " ".join(out)


_INFLECTIONS = frozenset(
    {"", "s", "es", "e", "ed", "d", "ing", "ion", "ions", "ation", "ations", "er", "ers",
     "ment", "ments", "ly", "ive", "ively", "al", "ies", "y", "ied", "en", "ens", "ened",
     "ening", "m", "or", "ors", "ism", "ist", "ists", "ic", "ity", "ities", "ful", "ous"}
)  # fmt: skip


def _matches(word: str, entries: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    """A word matches an entry exactly or as entry + inflection ("banned" for "ban", but
    not "bank"; "warns" is not "war")."""
    if word in entries:
        return True
    if not word.startswith(prefixes):
        return False
    for n in range(len(word) - 1, 1, -1):
        stem, rest = word[:n], word[n:]
        if stem in entries:
            if rest in _INFLECTIONS:
                return True
            if rest[:1] == stem[-1:] and rest[1:] in _INFLECTIONS:  # doubled consonant
                return True
    return False


# Words of the genres that look like the domain but are not (LABELS.md: sport, company news,
# domestic politics, weather); relevance learns how much they count against.
OFF_DOMAIN = (
    "match", "season", "coach", "league", "cup", "goal", "tournament", "championship",
    "player", "team", "striker", "derby", "game", "olympic", "medal", "touchdown", "cricket",
    "football", "soccer", "tennis", "shares", "stock", "profit", "earnings", "quarter",
    "revenue", "investor", "ceo", "inc", "corp", "ltd", "customer", "software", "album",
    "film", "movie", "celebrity", "actor", "singer", "voter", "poll", "court", "trial",
    "police", "weather", "storm", "earthquake", "flood", "festival", "tourist", "patient",
    "hospital", "school", "student", "price", "prices", "analyst", "quarterly", "brand",
)  # fmt: skip
_LEXICONS: tuple[tuple[str, ...], ...] = (
    COOPERATION, TENSION, VIOLENCE, ENGAGEMENT, OFF_DOMAIN, *TOPIC_CUES.values()
)  # fmt: skip
_LEXICON_SETS = tuple((frozenset(lex), tuple({e[:2] for e in lex})) for lex in _LEXICONS)
_CUE_NAMES: tuple[str, ...] = (
    "coop", "tension", "violence", "engagement", "off_domain",
    *(f"topic_{t}" for t in TOPIC_CUES),
)  # fmt: skip
_SENTENCE = re.compile(r"[^.!?\n]+")
_RELATION_CUE = re.compile(
    r"\b" + trie_pattern(sorted({w.lower() for w in (*COOPERATION, *TENSION)})), re.I
)


@lru_cache(maxsize=200_000)
def _word_cues(word: str) -> tuple[int, ...] | None:
    """One flag per lexicon (cooperation, tension, violence, engagement, off-domain, topics),
    or None for the many words in no lexicon."""
    flags = tuple(int(_matches(word, entries, pre)) for entries, pre in _LEXICON_SETS)
    return flags if any(flags) else None


@dataclass
class CueStats:
    """Additive raw counts of one text, so an article's are the sum of its passages'."""

    plain: np.ndarray  # per _CUE_NAMES
    negated: np.ndarray  # cooperation and tension cues inside a negation scope
    n_words: int
    mentions: list[Mention]
    relation_sentences: np.ndarray  # sentences naming two actors; and with a relation cue

    def __add__(self, other: CueStats) -> CueStats:
        return CueStats(
            self.plain + other.plain, self.negated + other.negated,
            self.n_words + other.n_words, self.mentions + other.mentions,
            self.relation_sentences + other.relation_sentences,
        )  # fmt: skip


def _relation_sentences(text: str, mentions: list[Mention]) -> np.ndarray:
    """Sentences naming two different actors, and those of them with a relation cue."""
    out = np.zeros(2)
    if len({m.code for m in mentions}) < 2:
        return out
    position = 0
    for sentence in _SENTENCE.finditer(text):
        codes = set()
        while position < len(mentions) and mentions[position].start < sentence.end():
            if mentions[position].start >= sentence.start():
                codes.add(mentions[position].code)
            position += 1
        if len(codes) >= 2:
            out[0] += 1
            out[1] += bool(_RELATION_CUE.search(sentence.group(0)))
    return out


def cue_stats(text: str, marked: str | None = None) -> CueStats:
    marked = mark_negation(text) if marked is None else marked
    words = marked.split()
    plain_hits = [c for w in words if not w.startswith("neg_") and (c := _word_cues(w))]
    negated_hits = [c[:2] for w in words if w.startswith("neg_") and (c := _word_cues(w[4:]))]
    plain = np.sum(plain_hits, axis=0) if plain_hits else np.zeros(len(_CUE_NAMES))
    negated = np.sum(negated_hits, axis=0) if negated_hits else np.zeros(2)
    mentions = find_mentions(text)
    return CueStats(
        plain.astype(float), negated.astype(float), len(words), mentions,
        _relation_sentences(text, mentions),
    )  # fmt: skip


CUE_FEATURES: tuple[str, ...] = (
    "coop", "tension", "violence", "engagement", "off_domain", "neg_coop", "neg_tension",
    "coop_minus_tension", *(f"topic_{t}" for t in TOPIC_CUES), "n_states", "two_states",
    "n_orgs", "n_mentions", "relation_sentences", "relation_cue_sentences",
)  # fmt: skip


def cue_row(stats: CueStats) -> list[float]:
    """Log-scaled counts over log(length): a long article and a sentence stay comparable."""
    norm = max(1.0, float(np.log1p(stats.n_words))) / 3.0
    coop, tens = stats.plain[0], stats.plain[1]
    ncoop, ntens = stats.negated
    row = [float(np.log1p(v) / norm) for v in (coop, tens, *stats.plain[2:5])]
    row += [float(np.log1p(v) / norm) for v in (ncoop, ntens)]
    row.append(float((np.log1p(coop + ntens) - np.log1p(tens + ncoop)) / norm))
    row += [float(np.log1p(v) / norm) for v in stats.plain[5:]]
    codes = {m.code for m in stats.mentions}
    states = {c for c in codes if len(c) == 3 and c not in ORGANISATIONS}
    row += [
        min(len(states), 4) / 4,
        float(len(states) >= 2),
        min(len(codes - states), 3) / 3,
        float(np.log1p(len(stats.mentions)) / norm / 3.0),
        *(float(np.log1p(v) / norm) for v in stats.relation_sentences),
    ]
    return row
