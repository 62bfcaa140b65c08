"""From ranked passages to quotes: the sentence or two that answers, each an exact slice.

Within the best passages every sentence is scored by its own similarity to the question, its
term overlap with it, and the rank of the passage it came from. A sentence that cannot stand
alone ("Some of those militias ...") is widened to the sentence before it. A statement that
several articles carry is quoted once, citing all of them, and the remaining slots go to
different information (maximal marginal relevance).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from .lexical import stem_terms
from .models import Article, Citation, Quote
from .retrieval import Hit
from .tables import PassageTable


# Words that point back at a previous sentence: such a sentence is quoted with the one before it.
_LEANS_BACK = re.compile(
    r"^[\"“‘'(]*\s*(?:he|she|it|they|this|that|these|those|such|his|her|their|its|but|and|or|so|"
    r"however|also|yet|still|meanwhile|instead|there|then|both|the two|some of (?:those|these|them))\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
MIN_WORDS = 6  # a shorter sentence rarely says anything on its own
SHARED_RUN = 6  # this many words in a row in two quotes means they carry the same statement


@dataclass(frozen=True, slots=True)
class QuoteParams:
    passages: int = 8  # how many of the best passages sentences are drawn from
    passage_weight: float = 0.4  # rank of the passage, against the sentence's own evidence
    dense_weight: float = 0.5  # within the sentence's own evidence: cosine against term overlap
    diversity: float = 0.3  # MMR: penalty for resembling a quote already chosen
    duplicate_cosine: float = 0.9  # this similar, in another article, is the same statement
    # Sharing a run of SHARED_RUN words is the same statement only this similar in meaning too: news
    # articles repeating a quote sit at 0.56 and above; boilerplate ("the aim of this study was") below.
    shared_run_cosine: float = 0.5
    citation_passages: int = 40  # how far down the ranking other carriers of a quote are looked for


@dataclass(slots=True)
class _Candidate:
    source: str
    start: int
    end: int
    score: float
    vector: np.ndarray
    text: str
    _runs: frozenset[tuple[str, ...]] | None = None

    def runs(self) -> frozenset[tuple[str, ...]]:
        """Word runs, worked out only for the few candidates close enough in meaning to need them."""
        if self._runs is None:
            self._runs = word_runs(self.text)
        return self._runs


def word_runs(text: str, run: int = SHARED_RUN) -> frozenset[tuple[str, ...]]:
    """Every run of `run` consecutive words, lowercased: computed once per text, compared many times."""
    words = _WORD.findall(text.lower())
    return frozenset(zip(*(words[i:] for i in range(run))))


def shares_statement(a: str, b: str, run: int = SHARED_RUN) -> bool:
    """True when both texts contain the same run of `run` consecutive words."""
    return not word_runs(a, run).isdisjoint(word_runs(b, run))


def term_coverage(question_terms: set[str], text: str) -> float:
    """Share of the question's content words (stemmed) that the text contains."""
    if not question_terms:
        return 0.0
    return len(question_terms & set(stem_terms(text))) / len(question_terms)


class QuotableIndex(Protocol):
    """What quoting reads from a loaded index (see `store.LoadedIndex`)."""

    passages: PassageTable
    articles: Mapping[str, Article]
    sentence_rows: list[tuple[int, ...]]
    sentence_vectors: np.ndarray


def leans_back(sentence: str) -> bool:
    """A sentence that needs the one before it to be understood, or says too little alone."""
    return bool(_LEANS_BACK.match(sentence)) or len(_WORD.findall(sentence)) < MIN_WORDS


def _previous_sentence(index: QuotableIndex, passage_row: int, position: int) -> tuple[int, int, int] | None:
    """(start, end, vector row) of the sentence before sentence `position` of a passage.

    Passages of one article are consecutive rows, so the sentence before a passage's first one is
    the last sentence of the previous passage that ends before it.
    """
    passage = index.passages[passage_row]
    if position > 0:
        start, end = passage.sentences[position - 1]
        return start, end, index.sentence_rows[passage_row][position - 1]
    if passage_row == 0 or index.passages[passage_row - 1].source != passage.source:
        return None
    before = index.passages[passage_row - 1]
    first_start = passage.sentences[position][0]
    for (start, end), row in zip(reversed(before.sentences), reversed(index.sentence_rows[passage_row - 1])):
        if end <= first_start:
            return start, end, row
    return None


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def pick_quotes(
    question: str, query_vector: np.ndarray, hits: Sequence[Hit], index: QuotableIndex, k: int,
    params: QuoteParams = QuoteParams(),
) -> list[Quote]:
    """The k quotes that best answer the question, duplicates merged into `also_in`.

    Sentence vectors were computed at build time, so this runs no model. A sentence that leans
    back is quoted from the start of the sentence before (news paragraphs are often a single
    sentence, so that may cross a paragraph break; the quote is still an exact slice), and
    scored by the two sentences' mean vector.
    """
    top = hits[: params.passages]
    if not top:
        return []
    best = top[0].score or 1.0
    question_terms = set(stem_terms(question))
    seen: dict[tuple[str, int], _Candidate] = {}
    passages = [index.passages[hit.row] for hit in top]
    row_lists = [index.sentence_rows[hit.row] for hit in top]
    needed = sorted({row for rows in row_lists for row in rows})  # one read for every sentence vector
    vectors = dict(zip(needed, np.asarray(index.sentence_vectors[needed], dtype=np.float32)))
    for hit, passage, rows in zip(top, passages, row_lists):
        text = index.articles[passage.source].text
        for position, (start, end) in enumerate(passage.sentences):
            row = rows[position]
            vector = vectors[row]
            if leans_back(text[start:end]):
                previous = _previous_sentence(index, hit.row, position)
                if previous is not None:
                    start = previous[0]
                    vector = _unit(vector + np.asarray(index.sentence_vectors[previous[2]], dtype=np.float32))
            own = params.dense_weight * float(vector @ query_vector) + (1 - params.dense_weight) * term_coverage(
                question_terms, text[start:end]
            )
            score = params.passage_weight * (hit.score / best) + (1 - params.passage_weight) * own
            key = (passage.source, row)
            if key not in seen or seen[key].score < score:
                seen[key] = _Candidate(passage.source, start, end, score, vector, text[start:end])
    chosen = _select(list(seen.values()), index.articles, k, params)
    pool = _CitationPool(index, hits[: params.citation_passages])
    return [_cite_elsewhere(quote, vector, pool, params.shared_run_cosine) for quote, vector in chosen]


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.source == b.source and a.start < b.end and b.start < a.end


def _select(
    candidates: list[_Candidate], articles: dict[str, Article], k: int, params: QuoteParams
) -> list[tuple[Quote, np.ndarray]]:
    """Greedy MMR; a candidate repeating a chosen statement from another article becomes a citation."""
    remaining = sorted(candidates, key=lambda c: -c.score)
    chosen: list[_Candidate] = []
    also: list[list[Citation]] = []
    while remaining and len(chosen) < k:
        def mmr(c: _Candidate) -> float:
            similarity = max((float(c.vector @ q.vector) for q in chosen), default=0.0)
            return c.score - params.diversity * max(similarity, 0.0)

        pick = max(remaining, key=mmr)
        remaining.remove(pick)
        chosen.append(pick)
        also.append([])
        # Everything that says the same thing is folded into this quote now, so it never takes a slot.
        for other in list(remaining):
            cosine = float(other.vector @ pick.vector)
            same = _overlaps(other, pick) or cosine >= params.duplicate_cosine or (
                cosine >= params.shared_run_cosine and not pick.runs().isdisjoint(other.runs())
            )
            if not same:
                continue
            remaining.remove(other)
            cited = {pick.source, *(c.source for c in also[-1])}
            if other.source not in cited:
                article = articles[other.source]
                also[-1].append(
                    Citation(other.source, article.title, other.start, other.end, article.paragraph_at(other.start))
                )
    return [
        (Quote(
            text=articles[c.source].text[c.start : c.end], source=c.source, title=articles[c.source].title,
            start=c.start, end=c.end, paragraph=articles[c.source].paragraph_at(c.start), score=round(c.score, 4),
            also_in=tuple(citations),
        ), c.vector)
        for c, citations in zip(chosen, also)
    ]


class _CitationPool:
    """The sentences of the passages ranked below the quotes, where other carriers of a quote may sit.

    Sentence spans and vectors come from the index (no re-splitting, no model). One product with
    the quote's vector leaves the few sentences close enough in meaning; only those are split into
    word runs, each once however many quotes ask.
    """

    def __init__(self, index: QuotableIndex, hits: Sequence[Hit]) -> None:
        self.articles = index.articles
        rows: dict[tuple[str, int, int], int] = {}
        for hit in hits:
            source = index.passages.source(hit.row)
            for (start, end), row in index.passages.sentence_spans_of(hit.row):
                rows.setdefault((source, start, end), row)
        self.sentences = sorted(rows)
        self.vectors = np.asarray(index.sentence_vectors[[rows[key] for key in self.sentences]], dtype=np.float32)
        self._runs: dict[tuple[str, int, int], frozenset[tuple[str, ...]]] = {}

    def runs(self, key: tuple[str, int, int]) -> frozenset[tuple[str, ...]]:
        if key not in self._runs:
            source, start, end = key
            self._runs[key] = word_runs(self.articles[source].text[start:end])
        return self._runs[key]


def _cite_elsewhere(quote: Quote, vector: np.ndarray, pool: _CitationPool, min_cosine: float) -> Quote:
    """Articles carrying the quoted statement but not drawn as candidates are cited too."""
    cited = {quote.source, *(c.source for c in quote.also_in)}
    runs = word_runs(quote.text)
    extra: list[Citation] = []
    close = np.flatnonzero(pool.vectors @ vector >= min_cosine) if len(pool.sentences) else []
    for position in close:  # in (source, start) order: an article's first carrier is cited
        key = pool.sentences[position]
        source, start, end = key
        if source in cited or runs.isdisjoint(pool.runs(key)):
            continue
        article = pool.articles[source]
        extra.append(Citation(source, article.title, start, end, article.paragraph_at(start)))
        cited.add(source)
    if not extra:
        return quote
    return replace(quote, also_in=quote.also_in + tuple(extra))
