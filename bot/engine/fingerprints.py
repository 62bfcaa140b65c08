"""Each sentence's words, hashed once at build time, so answering a question splits no text.

Quoting asks three word-level questions of every sentence it looks at: which of the question's
content words it contains (term coverage), whether it repeats a run of six words from another
quote (the same statement), and whether it leans on the sentence before. Answered with a regular
expression and a stemmer per sentence per question, they cost about 2 ms a question on SciFact,
as much as the whole search and half an encode. Here every distinct sentence's stemmed
content words and six-word runs are hashed into two CSR arrays at build time; a question then
compares a few dozen small integer sets.

Hashes are 64-bit (blake2b of each word, mixed per position for runs) and the same in every
process, so they can be stored; a false match between two sentences' sets is about one in 10^16.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .diskarray import csr_gather, open_array, ranges
from .lexical import stem_terms

WORD = re.compile(r"\w+")
SHARED_RUN = 6  # this many words in a row in two sentences means they carry the same statement
MIN_WORDS = 6  # a shorter sentence rarely says anything on its own

# Words that point back at a previous sentence: such a sentence is quoted with the one before it.
_LEANS_BACK = re.compile(
    r"^[\"“‘'(]*\s*(?:he|she|it|they|this|that|these|those|such|his|her|their|its|but|and|or|so|"
    r"however|also|yet|still|meanwhile|instead|there|then|both|the two|some of (?:those|these|them))\b",
    re.IGNORECASE,
)

# Odd multipliers, one per position in a run: the run's hash is a sum that depends on word order.
_RUN_MULTIPLIERS = np.array(
    [int.from_bytes(hashlib.blake2b(f"run position {i}".encode(), digest_size=8).digest(), "little") | 1
     for i in range(SHARED_RUN)],
    dtype=np.uint64,
)
BLOCK = 50_000  # sentences hashed together
FILES = ("term_ptr.npy", "terms.npy", "run_ptr.npy", "runs.npy", "leans_back.npy")


def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def term_keys(text: str) -> frozenset[int]:
    """Hashed stems of a text's content words (as BM25 sees them)."""
    return frozenset(word_hash(term) for term in stem_terms(text))


# The closed word classes an English question is framed with: interrogatives, auxiliaries and
# personal pronouns. They say what kind of answer is wanted (`answer_types`), not what it is about,
# so they are not content words a passage must hold; BM25's own stopword list keeps them. "us" is
# left out: lowercased, it is the US.
QUESTION_FRAME = frozenset("""
    what whats which who whom whose when where why how
    do does did done doing is are was were be been being am can could would should shall may might
    must have has had having i me my mine you your yours we our ours he him his she her hers they
    them their theirs it its
""".split())


def question_term_keys(question: str) -> frozenset[int]:
    """The question's side of coverage: its content words, less the words it is framed with."""
    return frozenset(word_hash(term) for term in stem_terms(" ".join(
        word for word in WORD.findall(question.lower().replace("'", " ").replace("\u2019", " "))
        if word not in QUESTION_FRAME)))


def leans_back(sentence: str, word_count: int | None = None) -> bool:
    """A sentence that needs the one before it to be understood, or says too little alone.

    `word_count` saves counting again when the caller has already split the sentence into words.
    """
    if word_count is None:
        word_count = len(WORD.findall(sentence))
    return bool(_LEANS_BACK.match(sentence)) or word_count < MIN_WORDS


class _WordHashes(dict):
    """word -> hash, each worked out once: a corpus repeats its words."""

    def __missing__(self, word: str) -> int:
        value = self[word] = word_hash(word)
        return value


class _TermHashes(dict):
    """lowercased word -> hash of its stem, or None for a stopword or one letter (as `stem_terms`)."""

    def __missing__(self, word: str) -> int | None:
        terms = stem_terms(word)
        value = self[word] = word_hash(terms[0]) if terms else None
        return value


def _grouped_unique(groups: np.ndarray, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, values): the distinct values of each group 0..count-1, sorted, in CSR form."""
    order = np.lexsort((values, groups))
    groups, values = groups[order], values[order]
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = (groups[1:] != groups[:-1]) | (values[1:] != values[:-1])
    groups, values = groups[keep], values[keep]
    ptr = np.zeros(count + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(groups, minlength=count))
    return ptr, values


def _join_ptrs(ptrs: list[np.ndarray]) -> np.ndarray:
    """CSR pointers of consecutive blocks as one: each block's offsets shifted by what came before."""
    joined, offset = [ptrs[0]], int(ptrs[0][-1])
    for ptr in ptrs[1:]:
        joined.append(ptr[1:] + offset)
        offset += int(ptr[-1])
    return np.concatenate(joined)


@dataclass(slots=True)
class Fingerprints:
    """Row r of the sentence vectors -> its term hashes, run hashes and lean-back flag."""

    term_ptr: np.ndarray  # (S + 1,) int64 into terms
    terms: np.ndarray  # uint64, sorted and unique within each sentence
    run_ptr: np.ndarray  # (S + 1,) int64 into runs
    runs: np.ndarray  # uint64, sorted and unique within each sentence
    leans: np.ndarray  # (S,) bool

    @classmethod
    def compute(cls, sentences: Sequence[str], run: int = SHARED_RUN) -> "Fingerprints":
        """A block of sentences at a time, so a million passages never hold their words as Python ints at once."""
        hashes, term_hashes = _WordHashes(), _TermHashes()
        blocks = [
            cls._compute_block(sentences[i : i + BLOCK], hashes, term_hashes, run)
            for i in range(0, len(sentences), BLOCK)
        ] or [cls._compute_block([], hashes, term_hashes, run)]
        return cls(
            _join_ptrs([b.term_ptr for b in blocks]), np.concatenate([b.terms for b in blocks]),
            _join_ptrs([b.run_ptr for b in blocks]), np.concatenate([b.runs for b in blocks]),
            np.concatenate([b.leans for b in blocks]),
        )

    @classmethod
    def _compute_block(
        cls, sentences: Sequence[str], hashes: _WordHashes, term_hashes: _TermHashes, run: int
    ) -> "Fingerprints":
        """One pass of regex and stemmer over the texts; hashing and deduplication in numpy."""
        words: list[int] = []
        word_rows: list[int] = []
        terms: list[int] = []
        term_rows: list[int] = []
        leans = np.zeros(len(sentences), dtype=bool)
        for row, sentence in enumerate(sentences):
            sentence_words = WORD.findall(sentence.lower())
            words += map(hashes.__getitem__, sentence_words)
            word_rows += [row] * len(sentence_words)
            sentence_terms = [term for term in map(term_hashes.__getitem__, sentence_words) if term is not None]
            terms += sentence_terms
            term_rows += [row] * len(sentence_terms)
            leans[row] = leans_back(sentence, len(sentence_words))
        word_hashes = np.array(words, dtype=np.uint64)
        rows = np.array(word_rows, dtype=np.int64)
        starts = max(len(word_hashes) - run + 1, 0)
        run_hashes = np.zeros(starts, dtype=np.uint64)
        for position, multiplier in enumerate(_RUN_MULTIPLIERS[:run]):  # wrapping uint64 arithmetic
            run_hashes += word_hashes[position : position + starts] * multiplier
        within = rows[:starts] == rows[run - 1 : run - 1 + starts]  # the run does not cross into the next sentence
        term_ptr, term_values = _grouped_unique(
            np.array(term_rows, dtype=np.int64), np.array(terms, dtype=np.uint64), len(sentences)
        )
        run_ptr, run_values = _grouped_unique(rows[:starts][within], run_hashes[within], len(sentences))
        return cls(term_ptr, term_values, run_ptr, run_values, leans)

    def __len__(self) -> int:
        return len(self.leans)

    def save(self, folder: Path) -> None:
        for name, array in zip(FILES, (self.term_ptr, self.terms, self.run_ptr, self.runs, self.leans)):
            np.save(folder / name, array)

    @classmethod
    def load(cls, folder: Path) -> "Fingerprints":
        # The pointers and flags are small; the hash arrays of a million passages are read by rows.
        return cls(np.load(folder / FILES[0]), open_array(folder / FILES[1]), np.load(folder / FILES[2]),
                   open_array(folder / FILES[3]), np.load(folder / FILES[4]))

    def terms_of(self, row: int) -> frozenset[int]:
        return frozenset(np.asarray(self.terms[int(self.term_ptr[row]) : int(self.term_ptr[row + 1])]).tolist())

    def runs_of(self, row: int) -> frozenset[int]:
        return frozenset(np.asarray(self.runs[int(self.run_ptr[row]) : int(self.run_ptr[row + 1])]).tolist())

    def leans_back(self, row: int) -> bool:
        return bool(self.leans[row])

    def holding(self, groups: Sequence[Sequence[int]], terms: frozenset[int]) -> np.ndarray:
        """How many of `terms` the sentences of each group hold between them (a term two of them hold
        counts once), for every candidate quote of one or two sentences in one read."""
        counts = np.zeros(len(groups), dtype=np.int64)
        if not terms or not groups:
            return counts
        sizes = [len(group) for group in groups]
        flat = np.fromiter((row for group in groups for row in group), dtype=np.int64)
        values, owners = csr_gather(self.term_ptr, self.terms, flat)
        # A question holds a handful of terms: a binary search in them costs less than np.isin's
        # set machinery, which took half of this call.
        wanted = np.sort(np.fromiter(terms, dtype=np.uint64, count=len(terms)))
        at = np.searchsorted(wanted, values)
        at[at == len(wanted)] = 0
        keep = wanted[at] == values
        if all(size == 1 for size in sizes):  # one sentence a group: its terms are unique already
            return np.bincount(owners[keep], minlength=len(groups))
        group_of = np.repeat(np.arange(len(groups)), sizes)
        group, value = group_of[owners[keep]], values[keep]
        # Some group has two sentences: a term both hold is counted once.
        order = np.lexsort((value, group))  # by group, then term (np.unique(axis=1) is far slower)
        group, value = group[order], value[order]
        first = np.ones(len(group), dtype=bool)
        first[1:] = (group[1:] != group[:-1]) | (value[1:] != value[:-1])
        return np.bincount(group[first], minlength=len(groups))

    def run_lookup(self, rows: np.ndarray) -> "RunLookup":
        """The six-word runs of `rows`, sorted once, for asking which of them share a run with a sentence."""
        return RunLookup(self, np.asarray(rows, dtype=np.int64))


class RunLookup:
    """Which of a question's candidate sentences share a six-word run with a given one.

    One gather and one sort per question; each asking is then two binary searches per run of the
    sentence asked about, instead of reading and comparing every candidate's runs one by one.
    """

    def __init__(self, prints: Fingerprints, rows: np.ndarray) -> None:
        self.prints = prints
        values, owners = csr_gather(prints.run_ptr, prints.runs, rows)
        order = np.argsort(values, kind="stable")
        self._values, self._rows = values[order], rows[owners[order]]
        self._asked: dict[tuple[int, ...], frozenset[int]] = {}

    def sharing(self, rows: Sequence[int]) -> frozenset[int]:
        """The rows (among those looked up) sharing at least one run with any of `rows`."""
        key = tuple(rows)
        if key not in self._asked:  # a quote is asked about twice: when folding, and when citing
            runs, _ = csr_gather(self.prints.run_ptr, self.prints.runs, rows)
            if not len(runs) or not len(self._values):
                self._asked[key] = frozenset()
            else:
                lo, hi = np.searchsorted(self._values, runs, "left"), np.searchsorted(self._values, runs, "right")
                self._asked[key] = frozenset(self._rows[ranges(lo, hi)].tolist())
        return self._asked[key]


def coverage(question_terms: frozenset[int], text_terms: frozenset[int]) -> float:
    """Share of the question's content words (stemmed, hashed) that a text contains."""
    if not question_terms:
        return 0.0
    return len(question_terms & text_terms) / len(question_terms)
