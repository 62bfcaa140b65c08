"""Lexical search with bm25s: catches the names, numbers and rare words that embeddings blur.

The tokenizer (English stopwords, Snowball stemmer) and its vocabulary are saved beside the BM25
matrices so a question is tokenised exactly as the passages were.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from bm25s.tokenization import Tokenizer

from .diskarray import open_array

# Anserini's BEIR settings: shorter passages than web documents favour a low b.
K1 = 0.9
B = 0.4

_stemmer = Stemmer.Stemmer("english")

# bm25s logs a line per load; the engine reports what matters itself.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def _tokenizer() -> Tokenizer:
    return Tokenizer(stemmer=_stemmer.stemWord, stopwords="en", lower=True)


_word = re.compile(r"(?u)\b\w\w+\b")
_stopwords = frozenset(STOPWORDS_EN)


def unstemmed_words(text: str) -> list[str]:
    """The words BM25 reads (two or more word characters), before stopwords and stemming."""
    return _word.findall(text)


def stem_terms(text: str) -> list[str]:
    """The normalisation BM25 applies, for term-overlap scoring of single sentences."""
    words = [word for word in _word.findall(text.lower()) if word not in _stopwords]
    return _stemmer.stemWords(words)


@lru_cache(maxsize=1024)
def question_stems(question: str) -> tuple[str, ...]:
    """A question's stems, worked out once: the passage and the sentence BM25 both look them up, and
    bm25s's own tokenizer costs several times as much for one short text."""
    return tuple(stem_terms(question))


class LexicalIndex:
    """BM25 over passage texts; ids are row numbers of the texts given."""

    def __init__(self, retriever: bm25s.BM25 | None, tokenizer: Tokenizer, size: int) -> None:
        self._retriever = retriever
        self._tokenizer = tokenizer
        self._size = size

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        tokenizer = _tokenizer()
        if not texts:  # bm25s cannot index nothing; an empty seeds folder is still a valid index
            return cls(None, tokenizer, 0)
        ids = tokenizer.tokenize(texts, return_as="ids", show_progress=False)
        retriever = bm25s.BM25(k1=K1, b=B)
        retriever.index(ids, show_progress=False)
        return cls(retriever, tokenizer, len(texts))

    def __len__(self) -> int:
        return self._size

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._retriever is None:
            (folder / "EMPTY").write_text("no passages\n")
            return
        self._retriever.save(str(folder), show_progress=False)
        self._tokenizer.save_vocab(str(folder))
        self._tokenizer.save_stopwords(str(folder))

    @classmethod
    def load(cls, folder: Path, size: int) -> "LexicalIndex":
        tokenizer = _tokenizer()
        if size == 0:
            return cls(None, tokenizer, 0)
        retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        for name in ("data", "indices"):  # postings stay on disk; a question reads only its terms' (see diskarray)
            retriever.scores[name] = open_array(folder / f"{name}.csc.index.npy")
        tokenizer.load_vocab(str(folder))
        tokenizer.load_stopwords(str(folder))
        return cls(retriever, tokenizer, size)

    def query_ids(self, question: str) -> list[int]:
        """Known vocabulary ids of the question's terms (unknown words cannot match anything)."""
        if self._retriever is None:
            return []
        # What `tokenize(..., update_vocab=False)` gives (the same splitter, stopwords and stemmer),
        # less the empty id it puts for unknown words.
        vocabulary = self._tokenizer.get_vocab_dict()
        return [vocabulary[stem] for stem in question_stems(question) if stem in vocabulary]

    def scores(self, question: str) -> np.ndarray | None:
        """BM25 score of every passage, or None when no word of the question is in the vocabulary."""
        terms = self.query_ids(question)
        if not terms or self._retriever is None:
            return None
        # bm25s's own get_scores adds each posting list with np.add.at, ~10x slower than a plain indexed
        # add; a term's postings name each passage once, so the plain add is exact (same scores).
        postings = self._retriever.scores
        data, indices, indptr = postings["data"], postings["indices"], postings["indptr"]
        scores = np.zeros(self._size, dtype=np.float32)
        for term in terms:
            start, end = int(indptr[term]), int(indptr[term + 1])
            scores[indices[start:end]] += data[start:end]
        if self._retriever.nonoccurrence_array is not None:  # BM25L/BM25+ variants; not Lucene's, used here
            scores += self._retriever.nonoccurrence_array[terms].sum()
        return scores


def top_rows(scores: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the k best positive scores, best first."""
    if scores is None or not len(scores):
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    matched = np.flatnonzero(scores > 0)  # usually a small share of a large index: partition only those
    k = min(k, len(matched))
    if not k:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    top = matched[np.argpartition(-scores[matched], k - 1)[:k]]
    top = top[np.lexsort((top, -scores[top]))]  # best first; ties by row, as a stable sort of rows would
    return scores[top].astype(np.float32), top.astype(np.int64)
