"""Text features: word n-gram TF-IDF, hashed character n-gram TF-IDF and cue features.

Why this shape: word n-grams (with negation marks) carry topic and stance vocabulary; hashed
character n-grams generalise over inflections, names and typos without a vocabulary to store;
cue features (`cues.py`) carry prior knowledge. `transform_article` analyses each passage
once and builds the whole-article row from the passages' summed counts, so an article and its
passages cost one pass over the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

from classifiers.cues import CUE_FEATURES, CueStats, cue_row, cue_stats, mark_negation

WORD_TOKEN = r"(?u)\b[\w'\-]+\b"  # noqa: S105 - a regex, not a secret


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear TF x IDF, rows L2-normalised (TfidfVectorizer's defaults, sublinear_tf).

    Done on the CSR arrays directly: per-article calls are small, and scipy's generic
    operations cost more in overhead than in arithmetic there.
    """
    data = np.log(counts.data.astype(np.float32)) + np.float32(1.0)
    data *= idf[counts.indices]
    squares = data * data
    starts = counts.indptr[:-1]
    sums = np.zeros(counts.shape[0], dtype=np.float32)
    nonempty = counts.indptr[1:] > starts
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(squares, starts[nonempty])
    norms = np.sqrt(sums)
    norms[norms == 0] = 1.0
    data /= np.repeat(norms, np.diff(counts.indptr))
    return sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


class ArticleVectorizer(TransformerMixin, BaseEstimator):
    """Word n-gram TF-IDF + hashed char n-gram TF-IDF + cue features, one sparse matrix.

    The word vocabulary is persisted as one array of terms (not scikit-learn's dict, which
    skops would store as one node per term: 50 MB and seconds to load); the vectorizers are
    rebuilt from it on first use.
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (3, 5),
        cue_weight: float = 0.5,
        min_df: int = 1,
        max_word_features: int = 60000,
        char_hash_bits: int = 18,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.cue_weight = cue_weight
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.char_hash_bits = char_hash_bits

    # -- persistence: keep the arrays, drop the rebuilt vectorizers -------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_word_cv", None)
        state.pop("_char_hv", None)
        return state

    def _word(self) -> CountVectorizer:
        cv = self.__dict__.get("_word_cv")
        if cv is None:
            vocabulary = {str(t): i for i, t in enumerate(self.word_terms_)}
            cv = CountVectorizer(
                ngram_range=tuple(self.word_ngrams), token_pattern=WORD_TOKEN,
                lowercase=False, vocabulary=vocabulary, dtype=np.float32,
            )  # fmt: skip
            self._word_cv = cv
        return cv

    def _char(self) -> HashingVectorizer | None:
        if not self.char_ngrams:
            return None
        hv = self.__dict__.get("_char_hv")
        if hv is None:
            hv = HashingVectorizer(
                analyzer="char_wb", ngram_range=tuple(self.char_ngrams),
                n_features=2**self.char_hash_bits, alternate_sign=False, norm=None,
                dtype=np.float32,
            )  # fmt: skip
            self._char_hv = hv
        return hv

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, texts: list[str], y: Any = None) -> ArticleVectorizer:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: list[str], y: Any = None, **_: Any) -> sparse.csr_matrix:
        texts = list(texts)
        marked = [mark_negation(t) for t in texts]
        fitted = CountVectorizer(
            ngram_range=tuple(self.word_ngrams), min_df=self.min_df, token_pattern=WORD_TOKEN,
            max_features=self.max_word_features, lowercase=False, dtype=np.float32,
        )  # fmt: skip
        word_counts = sparse.csr_matrix(fitted.fit_transform(marked))
        self.word_terms_ = np.asarray(fitted.get_feature_names_out(), dtype=str)
        self.word_idf_ = self._idf(word_counts)
        self.__dict__.pop("_word_cv", None)
        counts = [word_counts]
        char = self._char()
        if char is not None:
            char_counts = sparse.csr_matrix(char.transform(texts))
            self.char_idf_ = self._idf(char_counts)
            counts.append(char_counts)
        stats = [cue_stats(t, m) for t, m in zip(texts, marked, strict=True)]
        return self._assemble(counts, stats)

    @staticmethod
    def _idf(counts: sparse.csr_matrix) -> np.ndarray:
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        return (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)

    # -- transforming -------------------------------------------------------------------------
    def _counts(self, texts: list[str], marked: list[str]) -> list[sparse.csr_matrix]:
        out = [sparse.csr_matrix(self._word().transform(marked))]
        char = self._char()
        if char is not None:
            out.append(sparse.csr_matrix(char.transform(texts)))
        return out

    def _assemble(
        self, counts: list[sparse.csr_matrix], stats: list[CueStats]
    ) -> sparse.csr_matrix:
        parts = [_tfidf(counts[0], self.word_idf_)]
        if len(counts) > 1:
            parts.append(_tfidf(counts[1], self.char_idf_))
        if self.cue_weight:
            cues = np.asarray([cue_row(s) for s in stats], dtype=np.float32) * self.cue_weight
            parts.append(sparse.csr_matrix(cues))
        return sparse.csr_matrix(sparse.hstack(parts, format="csr"))

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        texts = list(texts)
        marked = [mark_negation(t) for t in texts]
        stats = [cue_stats(t, m) for t, m in zip(texts, marked, strict=True)]
        return self._assemble(self._counts(texts, marked), stats)

    def transform_article(self, texts: list[str]) -> tuple[sparse.csr_matrix, list[CueStats]]:
        """Rows: the whole article (sum of the passages' counts), then each passage."""
        marked = [mark_negation(t) for t in texts]
        stats = [cue_stats(t, m) for t, m in zip(texts, marked, strict=True)]
        counts = []
        for block in self._counts(list(texts), marked):
            ones = sparse.csr_matrix(np.ones((1, block.shape[0]), dtype=block.dtype))
            total = sparse.csr_matrix(ones @ block)  # stays sparse: no dense 1 x 2**18 row
            counts.append(sparse.vstack([total, block], format="csr"))
        doc = stats[0]
        for extra in stats[1:]:
            doc = doc + extra
        return self._assemble(counts, [doc, *stats]), stats

    @property
    def n_word_features(self) -> int:
        return len(self.word_terms_)

    @property
    def n_char_features(self) -> int:
        return 2**self.char_hash_bits if self.char_ngrams else 0

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Word terms, then `char#<bucket>` (hashed, no name), then the cue features."""
        names = [f"word__{t}" for t in self.word_terms_]
        names += [f"char__#{i}" for i in range(self.n_char_features)]
        if self.cue_weight:
            names += [f"cue__{n}" for n in CUE_FEATURES]
        return np.asarray(names, dtype=object)


def make_vectorizer(params: dict[str, Any]) -> ArticleVectorizer:
    """The feature pipeline from training parameters."""
    return ArticleVectorizer(
        word_ngrams=tuple(params.get("word_ngrams", (1, 2))),
        char_ngrams=tuple(params["char_ngrams"]) if params.get("char_ngrams") else None,
        cue_weight=float(params.get("cue_weight", 0.5)),
        min_df=int(params.get("min_df", 1)),
        max_word_features=int(params.get("max_word_features", 60000)),
        char_hash_bits=int(params.get("char_hash_bits", 18)),
    )
