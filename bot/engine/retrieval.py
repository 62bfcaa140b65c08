"""Question in, ranked passages out: dense and BM25 search, fused, with the evidence for declining.

Both retrievers return their own top candidates; every candidate is then scored exactly by both
(the cosine from the stored vectors, BM25 from the full score vector), so fusion never has to
guess a score for a passage only one side found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .ann import VectorIndex, closest
from .lexical import LexicalIndex, top_rows
from .steering import RowRange, exact_top, within

Fusion = Literal["rrf", "score"]


@dataclass(frozen=True, slots=True)
class FusionParams:
    method: Fusion = "score"
    dense_weight: float = 0.5
    rrf_k: int = 60
    candidates: int = 50


@dataclass(frozen=True, slots=True)
class Hit:
    """One passage with every signal that ranked it."""

    row: int
    score: float  # fused, higher is better
    dense: float  # cosine similarity to the question
    lexical: float  # BM25 score
    dense_rank: int  # 1-based; 0 when outside that retriever's candidates
    lexical_rank: int


def _ranks(rows: np.ndarray) -> dict[int, int]:
    return {int(row): rank for rank, row in enumerate(rows, start=1) if row >= 0}


def fuse(
    dense_rows: np.ndarray, lexical_rows: np.ndarray, dense_scores: dict[int, float],
    lexical_scores: dict[int, float], params: FusionParams,
) -> list[Hit]:
    """Rank the union of both candidate lists; `*_scores` hold exact scores for every row in it."""
    dense_rank, lexical_rank = _ranks(dense_rows), _ranks(lexical_rows)
    rows = list(dict.fromkeys([*dense_rank, *lexical_rank]))
    if not rows:
        return []
    w = params.dense_weight
    if params.method == "rrf":
        def fused(row: int) -> float:
            d, l = dense_rank.get(row), lexical_rank.get(row)
            return (w / (params.rrf_k + d) if d else 0.0) + ((1 - w) / (params.rrf_k + l) if l else 0.0)
    else:
        dense_values = np.array([dense_scores[r] for r in rows])
        low, high = float(dense_values.min()), float(dense_values.max())
        top_lexical = max(lexical_scores.values(), default=0.0)

        def fused(row: int) -> float:
            d = (dense_scores[row] - low) / (high - low) if high > low else 1.0
            l = lexical_scores.get(row, 0.0) / top_lexical if top_lexical > 0 else 0.0
            return w * d + (1 - w) * l

    hits = [
        Hit(row, fused(row), dense_scores[row], lexical_scores.get(row, 0.0),
            dense_rank.get(row, 0), lexical_rank.get(row, 0))
        for row in rows
    ]
    hits.sort(key=lambda hit: (-hit.score, hit.row))
    return hits


def rerank(hits: list[Hit], params: FusionParams) -> list[Hit]:
    """The same candidates fused another way: lets an evaluation compare fusions on one search."""
    by_dense = sorted((h for h in hits if h.dense_rank), key=lambda h: h.dense_rank)
    by_lexical = sorted((h for h in hits if h.lexical_rank), key=lambda h: h.lexical_rank)
    return fuse(
        np.array([h.row for h in by_dense], dtype=np.int64), np.array([h.row for h in by_lexical], dtype=np.int64),
        {h.row: h.dense for h in hits}, {h.row: h.lexical for h in hits if h.lexical > 0}, params,
    )


class Retriever:
    """Hybrid search over one loaded index."""

    def __init__(self, vectors: np.ndarray, dense: VectorIndex, lexical: LexicalIndex, params: FusionParams) -> None:
        self._vectors = vectors
        self._dense = dense
        self._lexical = lexical
        self.params = params

    def search(
        self, question: str, query_vector: np.ndarray, *, lexical_scores: np.ndarray | None = None,
        rows: RowRange | None = None, params: FusionParams | None = None,
    ) -> list[Hit]:
        """Every candidate either retriever found, best first.

        `lexical_scores` replaces the question's own BM25 scores (a follow-up's, see `steering`);
        `rows` holds the search to one article's passages; `params` replaces the retriever's own.
        """
        params = params or self.params
        count = params.candidates
        if rows is None:
            dense_rows = closest(self._dense, self._vectors, query_vector, count)
        else:
            dense_rows = exact_top(self._vectors, query_vector, rows, count)
        all_lexical = within(self._lexical.scores(question) if lexical_scores is None else lexical_scores, rows)
        _, lexical_rows = top_rows(all_lexical, count)
        rows = np.unique(np.concatenate([dense_rows, lexical_rows])).astype(np.int64)
        if not len(rows):
            return []
        cosines = np.asarray(self._vectors[rows], dtype=np.float32) @ query_vector
        dense_scores = {int(r): float(c) for r, c in zip(rows, cosines)}
        # An approximate index only has to find the right candidates: exact cosines order them.
        dense_rows = np.array(sorted(dense_rows.tolist(), key=lambda r: (-dense_scores[r], r)), dtype=np.int64)
        lexical_scores = {} if all_lexical is None else {int(r): float(all_lexical[r]) for r in rows}
        return fuse(dense_rows, lexical_rows, dense_scores, lexical_scores, params)


@dataclass(frozen=True, slots=True)
class SentenceHit:
    """A sentence found on its own, anywhere in the corpus, with the signals that found it."""

    row: int  # in the sentence vectors, fingerprints and sentence table
    dense: float  # cosine similarity to the question
    lexical: float  # BM25 score of the sentence alone, over the best one's (0 to 1)


def find_sentences(
    question: str, query_vector: np.ndarray, dense: VectorIndex, lexical: LexicalIndex, vectors: np.ndarray,
    count: int, *, lexical_scores: np.ndarray | None = None, rows: RowRange | None = None,
) -> list[SentenceHit]:
    """The union of the `count` sentences closest in meaning and the `count` best by words.

    Quoting scores them with their context; here they are only found, so an answer sentence whose
    passage ranks low (a long passage about something else) is still a candidate. `lexical_scores`
    and `rows` work as in `Retriever.search`.
    """
    if not len(dense) or count < 1:
        return []
    if rows is None:
        dense_rows = closest(dense, vectors, query_vector, count)
    else:
        dense_rows = exact_top(vectors, query_vector, rows, count)
    all_lexical = within(lexical.scores(question) if lexical_scores is None else lexical_scores, rows)
    lexical_scores, lexical_rows = top_rows(all_lexical, count)
    rows = np.unique(np.concatenate([dense_rows, lexical_rows])).astype(np.int64)
    if not len(rows):
        return []
    cosines = np.asarray(vectors[rows], dtype=np.float32) @ query_vector  # exact, whatever the index kind
    best = float(lexical_scores[0]) if len(lexical_scores) else 0.0
    words = np.zeros(len(rows)) if all_lexical is None or best <= 0 else all_lexical[rows] / best
    return [SentenceHit(int(r), float(c), float(w)) for r, c, w in zip(rows, cosines, words)]
