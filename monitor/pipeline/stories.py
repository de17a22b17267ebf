"""Near-duplicate detection: syndicated or lightly rewritten copies of one story.

MinHash over word shingles estimates the Jaccard similarity of two texts from two fixed-size
signatures, and LSH banding turns "which stored articles might be the same story?" into an
exact-match lookup on a few band keys (an indexed table), after which `similarity` decides.
Pure functions; the caller persists signatures and band keys.

Choices (measured in tests/unit/test_stories.py on constructed wire copies, rewrites and
same-topic stories; exact Jaccard, lowest "same story" pair vs highest "different story" pair):
- Shingles of 3 words, lower-cased `\\w+` tokens after NFKC. 1 word: 0.66 vs 0.50 (any two
  articles on one topic look alike); 2: 0.54 vs 0.25; 3: 0.48 vs 0.17 (the widest gap); 4: 0.42
  vs 0.13; 5: 0.37 vs 0.11 (a light rewrite, a changed word per sentence, falls apart).
- THRESHOLD 0.3: in that gap, about three standard errors of the estimate from each side.
- 120 permutations: the standard error of the estimate is sqrt(J(1-J)/120), 0.042 at J = 0.3;
  a signature is 120 integers below 2**32.
- 40 bands of 3 rows: a pair becomes a candidate with probability 1 - (1 - J^3)^40: 0.67 at
  J = 0.3, 0.93 at 0.4, 0.99 at 0.48, 0.18 at 0.17 and 0.005 at 0.05 (unrelated articles), so
  copies are found and few unrelated articles need a comparison. 32 bands of 4 rows would miss
  44 % of the pairs at 0.4.
Changing any of these invalidates stored signatures and keys: `SCHEME` names the set in use.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata

import numpy as np
from datasketch import MinHash

SHINGLE_WORDS = 3
NUM_PERM = 120
BANDS = 40
ROWS = NUM_PERM // BANDS
SEED = 1
HASH = "affine32"  # datasketch >= 2.0 permutation scheme, named so an upgrade cannot change it
THRESHOLD = 0.3  # estimated Jaccard at or above which two texts are one story
SCHEME = f"mh{SHINGLE_WORDS}w{NUM_PERM}p{BANDS}b"
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[bytes]:
    """Distinct runs of SHINGLE_WORDS words; a shorter text is one shingle of all its words."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).lower())
    if not words:
        return set()
    width = min(SHINGLE_WORDS, len(words))
    return {" ".join(words[i : i + width]).encode("utf-8") for i in range(len(words) - width + 1)}


def signature(text: str) -> tuple[int, ...]:
    """The MinHash signature of `text`; empty for a text without words (it matches nothing)."""
    grams = shingles(text)
    if not grams:
        return ()
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_permutations(), scheme=HASH)
    minhash.update_batch(sorted(grams))
    return tuple(int(value) for value in minhash.hashvalues)


def band_keys(sig: tuple[int, ...]) -> list[str]:
    """One key per band, e.g. "mh3w128p32b:07:1f0c...": texts sharing a key are candidates."""
    if len(sig) != NUM_PERM:
        return []
    keys = []
    for band in range(BANDS):
        rows = sig[band * ROWS : (band + 1) * ROWS]
        digest = hashlib.blake2b(struct.pack(f"<{ROWS}Q", *rows), digest_size=8).hexdigest()
        keys.append(f"{SCHEME}:{band:02d}:{digest}")
    return keys


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets (0.0 if either is empty)."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def same_story(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return similarity(a, b) >= THRESHOLD


@functools.cache
def _permutations() -> np.ndarray:
    """The hash permutations depend only on SEED and NUM_PERM; drawing them is the slow part."""
    template = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=HASH)
    return template.permutations
