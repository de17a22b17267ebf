"""Near-duplicate stories: syndicated and rewritten copies merge, same-topic stories do not.

The texts are constructed here (no fixture needed): one wire story, its copy on a site with
different boilerplate, a lightly edited rewrite, and other stories on the same topic that share
most of the vocabulary and the same site boilerplate. The printed figures justify THRESHOLD.
"""

from __future__ import annotations

import random
import re

import pytest

from monitor.pipeline.stories import (
    BANDS,
    NUM_PERM,
    SCHEME,
    THRESHOLD,
    band_keys,
    same_story,
    shingles,
    signature,
    similarity,
)

WIRE = """
ANKARA, Nov 20 - Turkey and the United States agreed on Thursday to move ahead with the
modernisation of Turkey's fleet of F-16 fighter jets, officials from both countries said,
ending months of uncertainty over a deal that had been held up in the U.S. Congress.
The agreement covers upgrade kits for 79 aircraft already in service and the purchase of 40 new
jets, a package worth about $23 billion. Turkish Defence Minister Yasar Guler told reporters in
Ankara that the first deliveries of the new aircraft were expected within three years.
The deal had been linked to Turkey's approval of Sweden's membership of NATO, which the Turkish
parliament ratified earlier this year after a long delay. Some U.S. lawmakers had also raised
concerns about Turkey's purchase of the Russian S-400 air defence system in 2019, which led to
its removal from the F-35 programme.
A State Department spokesperson said the sale would strengthen the interoperability of the two
allies and support NATO's southern flank. Analysts in Washington said the decision marked a
thaw in relations that had been strained by disagreements over Syria, where the United States
backs Kurdish-led forces that Ankara regards as terrorists.
Turkey has meanwhile continued to develop its own fighter, the KAAN, which made its first
flight in February. Officials said the F-16 upgrade was intended to bridge the gap until the
domestic jet enters service in the next decade.
"""

SITE_A_HEADER = "Breaking News | Defence | Subscribe to our newsletter for daily updates."
SITE_A_FOOTER = """Read more: Turkey's drone exports soar. Related: NATO summit coverage.
Copyright 2026 Example Wire Service. All rights reserved. This material may not be published,
broadcast, rewritten or redistributed. Follow us on social media and sign up for alerts."""
SITE_B_FOOTER = """Share this article: Facebook Twitter Email. Comments are closed.
More from our Middle East desk. Advertisement. Most read this week. Newsletter sign-up.
Terms of use | Privacy policy | Cookie settings | Contact the editors."""

REWRITE = """
Turkey and the United States have agreed to go ahead with the modernisation of Turkey's fleet
of F-16 fighter jets, officials from both countries said on Thursday, ending months of
uncertainty over a deal held up in the U.S. Congress.
The agreement covers upgrade kits for 79 aircraft already in service as well as the purchase
of 40 new jets, a package worth roughly $23 billion. Turkish Defence Minister Yasar Guler told
journalists in Ankara that the first deliveries of the new aircraft were expected within three
years.
The deal had been tied to Turkey's approval of Sweden's NATO membership, which the Turkish
parliament ratified earlier this year after a long delay. Some U.S. lawmakers had also raised
concerns about Ankara's purchase of the Russian S-400 air defence system in 2019, which led to
its removal from the F-35 programme.
A State Department spokesperson said the sale would strengthen the interoperability of the two
allies. Analysts said the decision marked a thaw in relations strained by disagreements over
Syria, where Washington backs Kurdish-led forces that Ankara regards as terrorists.
Turkey has meanwhile continued to develop its own fighter, the KAAN, which first flew in
February. Officials said the F-16 upgrade was meant to bridge the gap until the domestic jet
enters service in the next decade.
"""

SAME_TOPIC_1 = """
ANKARA, Nov 21 - Turkey is in talks with Britain and Germany to buy 40 Eurofighter Typhoon jets,
Turkish Defence Minister Yasar Guler said on Friday, a day after Ankara secured approval for an
upgrade of its F-16 fleet from the United States.
Guler told reporters in Ankara that negotiations with the consortium that builds the Typhoon
were progressing and that Germany had dropped its objections to the sale. Berlin had previously
blocked the deal over concerns about Turkey's human rights record and its policy in Syria.
The minister said the Eurofighter purchase would help the Turkish air force replace ageing
aircraft until the KAAN, the country's own fighter jet, enters service. The KAAN made its first
flight in February and officials hope to deliver the first production aircraft in 2028.
Analysts said Turkey was trying to diversify its suppliers after its removal from the U.S.-led
F-35 programme in 2019, which followed its purchase of the Russian S-400 air defence system.
NATO allies have welcomed the talks, saying they would strengthen the alliance's southern flank.
"""

SAME_TOPIC_2 = """
WASHINGTON, Nov 19 - U.S. lawmakers on Wednesday questioned the Biden administration's plan to
sell F-16 fighter jets to Turkey, saying Ankara had not done enough to address concerns about
its purchase of the Russian S-400 air defence system and its operations in northern Syria.
Members of the House Foreign Affairs Committee said the sale, worth about $23 billion, should be
conditioned on guarantees that the jets would not be used against Greece or against Kurdish-led
forces backed by the United States. A State Department official told the committee that Turkey's
ratification of Sweden's NATO membership had opened the way for the deal.
The committee's chairman said Congress would review the notification carefully. Turkey was
removed from the F-35 programme in 2019 after it took delivery of the S-400, and relations
between the two NATO allies have been strained since.
"""


def _with_boilerplate(text: str, header: str, footer: str) -> str:
    return f"{header}\n{text}\n{footer}"


def _word_swaps(text: str, every: int, seed: int = 7) -> str:
    """A mechanical rewrite: one word in `every` replaced by another word."""
    rng = random.Random(seed)
    words = text.split()
    for index in range(rng.randrange(every), len(words), every):
        words[index] = rng.choice(["reportedly", "notably", "also", "officially", "indeed"])
    return " ".join(words)


def _exact_jaccard(a: str, b: str) -> float:
    first, second = shingles(a), shingles(b)
    return len(first & second) / len(first | second)


SAME = {
    "syndicated, other boilerplate": (
        _with_boilerplate(WIRE, SITE_A_HEADER, SITE_A_FOOTER),
        _with_boilerplate(WIRE, "", SITE_B_FOOTER),
    ),
    "light manual rewrite": (WIRE, REWRITE),
    "rewrite on another site": (
        _with_boilerplate(WIRE, SITE_A_HEADER, SITE_A_FOOTER),
        _with_boilerplate(REWRITE, "", SITE_B_FOOTER),
    ),
    "one word in 15 swapped": (WIRE, _word_swaps(WIRE, 15)),
    "first four paragraphs only": (WIRE, "\n".join(WIRE.strip().splitlines()[:14])),
}
DIFFERENT = {
    "same topic, next day": (WIRE, SAME_TOPIC_1),
    "same topic, Congress angle": (WIRE, SAME_TOPIC_2),
    "two same-topic stories": (SAME_TOPIC_1, SAME_TOPIC_2),
    "same topic, same site boilerplate": (
        _with_boilerplate(WIRE, SITE_A_HEADER, SITE_A_FOOTER),
        _with_boilerplate(SAME_TOPIC_1, SITE_A_HEADER, SITE_A_FOOTER),
    ),
}


@pytest.mark.parametrize("name", SAME)
def test_copies_of_one_story_merge(name: str) -> None:
    a, b = SAME[name]
    estimated = similarity(signature(a), signature(b))
    print(f"same story   {name:34} exact {_exact_jaccard(a, b):.3f} estimated {estimated:.3f}")
    assert same_story(signature(a), signature(b))
    assert set(band_keys(signature(a))) & set(band_keys(signature(b)))  # found as candidates


@pytest.mark.parametrize("name", DIFFERENT)
def test_different_stories_on_one_topic_stay_apart(name: str) -> None:
    a, b = DIFFERENT[name]
    estimated = similarity(signature(a), signature(b))
    print(f"other story  {name:34} exact {_exact_jaccard(a, b):.3f} estimated {estimated:.3f}")
    assert not same_story(signature(a), signature(b))
    assert estimated < THRESHOLD / 2  # a wide margin, not a near miss


def test_threshold_sits_in_the_gap_between_the_groups() -> None:
    lowest_same = min(similarity(signature(a), signature(b)) for a, b in SAME.values())
    highest_other = max(similarity(signature(a), signature(b)) for a, b in DIFFERENT.values())
    print(f"lowest same {lowest_same:.3f}, highest different {highest_other:.3f}, at {THRESHOLD}")
    assert highest_other < THRESHOLD <= lowest_same


def test_signatures_are_stable_and_shaped_for_storage() -> None:
    sig = signature(WIRE)
    assert sig == signature(WIRE) and len(sig) == NUM_PERM
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in sig)
    keys = band_keys(sig)
    assert len(keys) == BANDS == len(set(keys))
    assert all(re.fullmatch(rf"{SCHEME}:\d\d:[0-9a-f]{{16}}", key) for key in keys)
    # pinned values catch a silent change of hashing (which would orphan every stored key)
    assert signature("Turkey and the United States agreed")[:3] == (291592285, 700012649, 821481870)


def test_case_punctuation_and_unicode_forms_do_not_matter() -> None:
    first, second = (
        signature("Ｔürkiye’s DEFENCE, minister"),
        signature("türkiye s defence minister"),
    )
    assert similarity(first, second) == 1.0


def test_texts_without_words_match_nothing() -> None:
    assert signature("") == signature(" ... !!! ") == ()
    assert band_keys(()) == [] and similarity((), ()) == 0.0
    assert not same_story(signature(""), signature(""))


def test_short_texts_still_get_a_signature() -> None:
    assert len(signature("Ceasefire")) == NUM_PERM
    assert similarity(signature("Ceasefire"), signature("ceasefire")) == 1.0
