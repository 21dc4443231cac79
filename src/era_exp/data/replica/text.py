"""Generated texts with realistic lengths that a retriever can match: Zipf-distributed pseudo-words.

Every domain draws from its own slice of one pseudo-word vocabulary (overlapping slices, as real
domains share words), mixed with the domain's function words (English stop words for prose,
keywords and punctuation for code). A query carries a few rare *topic* words; its relevant documents
carry them too, more of them the higher the grade, so lexical and dense retrievers both score above
chance. Texts are built a batch at a time with numpy, which keeps a million documents to minutes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from era_exp.data.registry import DOMAINS

VOCAB_SIZE = 60_000
DOMAIN_VOCAB = 24_000
TOPIC_RANK = 3_000  # topic words come from ranks above this: rare in the background text
WORDS_PER_TOPIC = 4
MAX_WORDS = 4_000
LENGTH_SIGMA = 0.7

_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "ch",
    "cl",
    "dr",
    "fl",
    "gr",
    "kr",
    "pl",
    "pr",
    "sh",
    "st",
    "th",
    "tr",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
_CODAS = ("", "", "n", "r", "s", "l", "m", "x", "nd", "st")
_PROSE = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "by",
    "was",
    "are",
    "be",
    "this",
    "from",
    "or",
    "at",
    "an",
    "it",
    "which",
    "not",
    "have",
    "has",
    "were",
    "can",
    "all",
    "its",
    "been",
    "more",
    "also",
    "their",
    "other",
    "than",
    "into",
    "such",
    "these",
    "may",
    "between",
]
_CODE = [
    "=",
    "(",
    ")",
    ":",
    ",",
    ".",
    "[",
    "]",
    "def",
    "return",
    "if",
    "else",
    "for",
    "in",
    "self",
    "None",
    "import",
    "from",
    "class",
    "while",
    "not",
    "and",
    "or",
]
_CODE_DOMAINS = {"Code"}


@cache
def vocabulary() -> np.ndarray:
    """The pseudo-word vocabulary, fixed for every seed (object array of ``VOCAB_SIZE`` words)."""
    rng = np.random.default_rng(20241014)
    words: set[str] = set()
    while len(words) < VOCAB_SIZE:
        syllables = rng.integers(1, 4)
        word = "".join(
            _ONSETS[rng.integers(len(_ONSETS))]
            + _VOWELS[rng.integers(len(_VOWELS))]
            + _CODAS[rng.integers(len(_CODAS))]
            for _ in range(syllables)
        )
        if len(word) > 2:
            words.add(word)
    return np.array(sorted(words), dtype=object)[rng.permutation(VOCAB_SIZE)]


@cache
def _zipf_cdf(size: int) -> np.ndarray:
    weights = 1.0 / (np.arange(size) + 2.7) ** 1.07
    return np.cumsum(weights) / weights.sum()


@dataclass(frozen=True)
class DomainWords:
    """The words one domain writes with: background vocabulary, function words, line style."""

    words: np.ndarray
    ends: np.ndarray
    function: np.ndarray
    function_rate: float
    end_rate: float

    @classmethod
    @cache
    def of(cls, domain: str) -> DomainWords:
        vocab = vocabulary()
        start = DOMAINS.index(domain) * (VOCAB_SIZE - DOMAIN_VOCAB) // max(len(DOMAINS) - 1, 1)
        words = vocab[start : start + DOMAIN_VOCAB]
        if domain in _CODE_DOMAINS:
            return cls(words, words + "\n\t", np.array(_CODE, dtype=object), 0.35, 1 / 8)
        return cls(words, words + ".", np.array(_PROSE, dtype=object), 0.3, 1 / 16)

    def topics(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` rows of ``WORDS_PER_TOPIC`` distinct rare words (one row per query)."""
        ranks = np.empty((count, WORDS_PER_TOPIC), dtype=np.int64)
        for row in range(count):
            ranks[row] = rng.choice(np.arange(TOPIC_RANK, DOMAIN_VOCAB), WORDS_PER_TOPIC, replace=False)
        return ranks

    def lengths(self, rng: np.random.Generator, median: int, count: int) -> np.ndarray:
        """Text lengths in words: log-normal around ``median``, at least one word."""
        drawn = rng.lognormal(np.log(max(median, 1)), LENGTH_SIGMA, count)
        return np.clip(np.rint(drawn), 1, MAX_WORDS).astype(np.int64)

    def texts(self, rng: np.random.Generator, lengths: np.ndarray) -> list[str]:
        """One background text per entry of ``lengths`` (words drawn Zipf-like, with sentence ends)."""
        total = int(lengths.sum())
        ranks = np.searchsorted(_zipf_cdf(len(self.words)), rng.random(total))
        tokens = np.where(rng.random(total) < self.end_rate, self.ends[ranks], self.words[ranks])
        function = rng.random(total) < self.function_rate
        tokens[function] = self.function[rng.integers(len(self.function), size=int(function.sum()))]
        tokens = tokens.tolist()
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [" ".join(tokens[a:b]) for a, b in itertools.pairwise(bounds)]

    def topic_text(self, ranks: np.ndarray) -> str:
        """The topic words of one query, as text."""
        return " ".join(self.words[ranks].tolist())


def insert_words(rng: np.random.Generator, text: str, words: str) -> str:
    """``text`` with ``words`` spliced in at a random word boundary."""
    parts = text.split(" ")
    at = int(rng.integers(len(parts) + 1))
    return " ".join([*parts[:at], words, *parts[at:]])
