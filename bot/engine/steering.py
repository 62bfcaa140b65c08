"""How a question's search is steered: by a thread's earlier questions, or held to one article.

Why here and not in the reply: follow-up context only moves *retrieval* ("and what did Iran
say?" after a question about Trump's threat searches near both); the reply still quotes only the
articles. The question's own vector and words dominate: the earlier questions' mean vector is
mixed in at `CONTEXT_VECTOR_WEIGHT`, their BM25 scores at `CONTEXT_WORDS_WEIGHT`.

Restricting to one article is a filter on the rows searched (every passage and sentence of that
article is scored exactly), never a post-filter of the global top candidates, which could leave
no quote although the article has matching sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lexical import LexicalIndex

CONTEXT_VECTOR_WEIGHT = 0.5  # the earlier questions' mean vector, against the question's (1.0)
CONTEXT_WORDS_WEIGHT = 0.3  # their BM25 scores, against the question's (1.0)
CONTEXT_QUESTIONS = 3  # how many earlier questions of a thread count (the latest ones)


@dataclass(frozen=True, slots=True)
class RowRange:
    """[first, last) rows of one article's passages or sentences."""

    first: int
    last: int

    def rows(self) -> np.ndarray:
        return np.arange(self.first, self.last, dtype=np.int64)


def steer_vector(question_vector: np.ndarray, context_vectors: np.ndarray | None) -> np.ndarray:
    """The question's unit vector moved towards its context's mean, renormalised."""
    if context_vectors is None or not len(context_vectors):
        return question_vector
    mixed = question_vector + CONTEXT_VECTOR_WEIGHT * np.asarray(context_vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mixed))
    return (mixed / norm).astype(np.float32) if norm else question_vector


def steered_scores(lexical: LexicalIndex, question: str, context: tuple[str, ...]) -> np.ndarray | None:
    """BM25 of the question plus, at a lower weight, of the earlier questions' words."""
    own = lexical.scores(question)
    if not context:
        return own
    earlier = lexical.scores(" ".join(context))
    if earlier is None:
        return own
    return earlier * CONTEXT_WORDS_WEIGHT if own is None else own + earlier * CONTEXT_WORDS_WEIGHT


def within(scores: np.ndarray | None, rows: RowRange | None) -> np.ndarray | None:
    """Scores with every row outside `rows` zeroed (BM25's top rows then come from inside only)."""
    if scores is None or rows is None:
        return scores
    kept = np.zeros_like(scores)
    kept[rows.first : rows.last] = scores[rows.first : rows.last]
    return kept


def exact_top(vectors: np.ndarray, query_vector: np.ndarray, rows: RowRange, count: int) -> np.ndarray:
    """The `count` rows of `rows` closest to the query, by exact cosine (an article has few rows)."""
    candidates = rows.rows()
    if not len(candidates):
        return candidates
    cosines = np.asarray(vectors[rows.first : rows.last], dtype=np.float32) @ query_vector
    order = np.lexsort((candidates, -cosines))[:count]
    return candidates[order]
