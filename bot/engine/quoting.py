"""From ranked passages and sentences to quotes: the sentence or two that answers, each an exact slice.

Candidates are the sentences of the best passages and those the sentence search found anywhere in
the corpus. Each is scored by its own similarity to the question, its term overlap with it, the
best passage around it, and whether it carries what the question asks for. A sentence that cannot
stand alone ("Some of those militias ...") is widened to the sentence before it, and a quote takes
in the sentence beside it when that one scores nearly as high. A statement that several articles
carry (nearly the same vector, a shared run of six words, or the same figure in enough of the same
words) is quoted once, citing all of them, and the remaining slots go to different information
(maximal marginal relevance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..config import BUNDLED_E5, BUNDLED_NOMIC
from .answer_types import asks_for_latest, carries, wants
from .fingerprints import Fingerprints, RunLookup, question_term_keys, word_hash
from .lexical import unstemmed_words
from .models import Article, Citation, Quote
from .retrieval import Hit, SentenceHit
from .tables import ArticleTable, PassageTable

if TYPE_CHECKING:
    from .store.sentence_search import SentenceSearch


@dataclass(frozen=True, slots=True)
class QuoteParams:
    passages: int = 8  # how many of the best passages sentences are drawn from
    passage_weight: float = 0.4  # rank of the passage, against the sentence's own evidence
    dense_weight: float = 0.5  # within the sentence's own evidence: cosine against term overlap
    diversity: float = 0.3  # MMR: penalty for resembling a quote already chosen
    duplicate_cosine: float = 0.9  # this similar, in another article, is the same statement
    # Sharing a run of six words (fingerprints.SHARED_RUN) is the same statement only this similar in
    # meaning too: news articles repeating a quote sit at 0.56 and above; boilerplate ("the aim of
    # this study was") below.
    shared_run_cosine: float = 0.5
    # Or they give the same figure ("won 46 seats", "with 46 seats ... came first") and share this many
    # other content words, at least this similar: one fact in two wordings (0 words: off). Chosen on
    # the tuning half's carriers (README, "Answer quality").
    figure_terms: int = 3
    figure_cosine: float = 0.5
    citation_passages: int = 40  # how far down the ranking other carriers of a quote are looked for
    words_weight: float = 0.0  # BM25 of the sentence alone, on top of its own term overlap
    answer_type_weight: float = 0.0  # carrying what the question asks for (answer_types)
    recency_weight: float = 0.0  # for questions about the latest news: how new its article is
    # A sentence beside a quote joins it when it scores at least this share of the quote's own score:
    # news prose often splits one answer over two sentences (the claim, then its figure or reason).
    neighbour_share: float = 0.8


# Weights chosen per model on the tuning half of the dev corpus (`eval qa --half tuning`; figures in
# the README). e5's cosines are packed tight, so it leans on them more and on the passage less, and
# the answer-type term paid on both halves; for MiniLM no change from the defaults paid on the
# held-back half, so it keeps them. nomic's cosine alone ranks a sentence best (dense weight 1.0:
# 22 -> 26 first quote on the tuning half, against the defaults).
TUNED: dict[str, QuoteParams] = {
    BUNDLED_E5: QuoteParams(passage_weight=0.2, dense_weight=0.8, answer_type_weight=0.05, neighbour_share=0.9),
    BUNDLED_NOMIC: QuoteParams(passage_weight=0.2, dense_weight=1.0),
}


def params_for(model: str) -> QuoteParams:
    return TUNED.get(model, QuoteParams())


@dataclass(slots=True)
class _Candidate:
    source: str
    start: int
    end: int
    score: float
    vector: np.ndarray
    rows: tuple[int, ...]  # its sentences' rows in the sentence vectors and fingerprints
    # (cosine, word overlap, best passage around it, answer-type/recency/BM25 terms), weighed by `_score`
    signals: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


class QuotableIndex(Protocol):
    """What quoting reads from a loaded index (see `store.loading.LoadedIndex`)."""

    passages: PassageTable
    articles: ArticleTable
    sentence_vectors: np.ndarray
    fingerprints: Fingerprints
    sentences: "SentenceSearch"


def _heading_between(articles: ArticleTable, position: int, end: int, start: int) -> bool:
    """A section heading between two sentences of article `position`: the one after starts afresh,
    it leans on nothing. Only a gap holding more than white space can hold one, so most pairs
    never need the article's structure worked out."""
    if not articles.text(position)[end:start].strip():
        return False
    return any(end <= h_start and h_end <= start for h_start, h_end in articles.structure(position)[1])


def _figures(text: str) -> frozenset[int]:
    """The numbers a statement gives, as the term hashes its sentences are fingerprinted with. A
    number is never a stopword and stems to itself, so its words need no stemming (a third of
    quoting's reads of a statement's figures went to the stemmer)."""
    return frozenset(word_hash(term) for term in unstemmed_words(text) if term.isdigit() and term.strip("0"))


@dataclass(frozen=True, slots=True)
class _Fact:
    """What another sentence must share to state the same fact in other words (`QuoteParams.figure_terms`)."""

    figures: frozenset[int]
    words: frozenset[int]  # its other content words
    needed: int

    def stated_by(self, prints: Fingerprints, groups: Sequence[Sequence[int]]) -> np.ndarray:
        """For each group of sentence rows (a candidate's one or two sentences), whether it gives the
        figure in enough of the same words (never, if the statement gives no figure)."""
        stated = np.zeros(len(groups), dtype=bool)
        if not self.needed or not groups:
            return stated
        giving = np.flatnonzero(prints.holding(groups, self.figures) > 0)  # few do: only their words are read
        if len(giving):
            stated[giving] = prints.holding([groups[i] for i in giving.tolist()], self.words) >= self.needed
        return stated


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def pick_quotes(
    question: str, query_vector: np.ndarray, hits: Sequence[Hit], index: QuotableIndex, k: int,
    params: QuoteParams = QuoteParams(), found: Sequence[SentenceHit] = (),
) -> list[Quote]:
    """The k quotes that best answer the question, duplicates merged into `also_in`.

    Candidates are the sentences of the best passages and the sentences found on their own
    anywhere in the corpus (`found`). Each is scored by its own similarity and word overlap with
    the question, the best passage it sits in (its context), whether it carries what the question
    asks for (a date, a number, a person...) and, for a question about the latest news, how recent
    its article is. Sentence vectors were computed at build time, so this runs no model. A
    sentence that leans back is quoted from the start of the sentence before (news paragraphs are
    often a single sentence, so that may cross a paragraph break; the quote is still an exact
    slice), and scored by the two sentences' mean vector.
    """
    top = hits[: params.passages]
    if not top and not found:
        return []
    ranked = hits[: params.citation_passages]
    best = max((hit.score for hit in ranked), default=0.0) or 1.0
    # Each sentence of the ranked passages, with its best passage's fused score over the best: hits
    # come best first, so a sentence's first passage is its best.
    in_ranked, from_hit = index.passages.sentence_rows_of_each([hit.row for hit in ranked])
    pool_rows, first = np.unique(in_ranked, return_index=True)
    passage_scores = np.array([hit.score for hit in ranked]) / best
    context = dict(zip(pool_rows.tolist(), passage_scores[from_hit[first]].tolist()))
    words = {hit.row: hit.lexical for hit in found}
    # Every sentence row's article and span come from the sentence table: no passage is rebuilt.
    in_top, _ = index.passages.sentence_rows_of_each([hit.row for hit in top])
    rows = list(dict.fromkeys([*in_top.tolist(), *(hit.row for hit in found)]))
    spans = np.asarray(index.sentences.table[rows]).tolist()  # (article position, start, end) per row
    metas, prints = index.articles.metas, index.fingerprints
    question_terms = question_term_keys(question)
    before = {  # a sentence that leans back -> the one before it in its article
        row: row - 1 for row, (position, _, _) in zip(rows, spans)
        if prints.leans_back(row) and row - 1 >= metas[position].sentence_rows[0]
    }
    before_spans = dict(zip(before.values(), np.asarray(index.sentences.table[list(before.values())]).tolist()))
    vectors = np.asarray(index.sentence_vectors[rows], dtype=np.float32)  # one read for all of them
    if before:
        earlier = dict(zip(before.values(), np.asarray(index.sentence_vectors[list(before.values())], dtype=np.float32)))
    groups: list[tuple[int, ...]] = [(row,) for row in rows]  # each candidate's sentence rows
    for i, (row, (position, start, end)) in enumerate(zip(rows, spans)):
        if row in before:
            _, previous_start, previous_end = before_spans[before[row]]
            if not _heading_between(index.articles, position, previous_end, start):
                spans[i] = [position, previous_start, end]
                groups[i] = (before[row], row)
                vectors[i] = _unit(vectors[i] + earlier[before[row]])
    # Signals in one pass each: question terms held (once, across a quote's two sentences), cosine, context.
    overlaps = (prints.holding(groups, question_terms) / len(question_terms)).tolist() if question_terms else [0.0] * len(rows)
    cosines = (vectors @ query_vector).tolist()
    extras = [params.words_weight * words.get(row, 0.0) for row in rows]
    wanted = wants(question) if params.answer_type_weight else None
    # Reads every article's date, so only when a weight lets it change a score.
    recency = _recency(index) if params.recency_weight and asks_for_latest(question) else None
    if wanted is not None or recency is not None:
        for i, (position, start, end) in enumerate(spans):
            if wanted is not None and carries(wanted, index.articles.text(position)[start:end]):
                extras[i] += params.answer_type_weight
            if recency is not None:
                extras[i] += params.recency_weight * recency.get(metas[position].source, 0.0)
    candidates = [
        _Candidate(metas[position].source, start, end, 0.0, vector, group,
                   signals=(cosine, overlap, context.get(row, 0.0), extra))
        for row, (position, start, end), vector, group, cosine, overlap, extra
        in zip(rows, spans, vectors, groups, cosines, overlaps, extras)
    ]
    _score(candidates, params)
    runs = prints.run_lookup(np.unique(np.concatenate([pool_rows, np.array(
        [row for c in candidates for row in c.rows], dtype=np.int64)])))
    chosen = _select(candidates, index.articles, runs, k, params)
    pool = _CitationPool(index, pool_rows, runs)
    return [pool.cite_elsewhere(quote, candidate, fact, params) for quote, candidate, fact in chosen]


def _score(candidates: list[_Candidate], params: QuoteParams) -> None:
    """Weigh each candidate's signals into its score (`TUNED` holds per-model weights).

    Rescaling the cosine to the candidates' own range was tried for e5, whose cosines sit in
    0.7-0.9, and did not pay on the tuning half; the raw cosine stays.
    """
    for candidate in candidates:
        cosine, overlap, context, extra = candidate.signals
        own = params.dense_weight * cosine + (1 - params.dense_weight) * overlap
        candidate.score = params.passage_weight * context + (1 - params.passage_weight) * own + extra


def _recency(index: QuotableIndex) -> dict[str, float]:
    """Each dated article's place between the oldest (0) and the newest (1) in the index."""
    dated = {meta.source: date.fromisoformat(meta.published).toordinal()
             for meta in index.articles.metas if meta.published}
    if not dated:
        return {}
    oldest, newest = min(dated.values()), max(dated.values())
    return {source: (day - oldest) / (newest - oldest) if newest > oldest else 1.0 for source, day in dated.items()}


def _select(
    candidates: list[_Candidate], articles: ArticleTable, runs: RunLookup, k: int, params: QuoteParams
) -> list[tuple[Quote, _Candidate, _Fact]]:
    """Greedy MMR; a candidate repeating a chosen statement from another article becomes a citation.

    Each pick is settled whole before the next (its repeats folded in, its neighbour joined), so the
    first quotes never depend on k: "More quotes" pages (k = offset + page) repeat no quote and skip
    none. Each pick's cosines to every candidate come from one matrix-vector product (a hundred
    candidates' full square cost more than the rest of quoting, measured); only the candidates
    close enough to a pick (or overlapping it) are looked at one by one.
    """
    candidates = sorted(candidates, key=lambda c: -c.score)
    if not candidates:
        return []
    vectors = np.stack([c.vector for c in candidates])
    scores = np.array([c.score for c in candidates])
    sources = {source: i for i, source in enumerate(dict.fromkeys(c.source for c in candidates))}
    source_ids = np.array([sources[c.source] for c in candidates])
    starts = np.array([c.start for c in candidates])
    ends = np.array([c.end for c in candidates])
    alive = np.ones(len(candidates), dtype=bool)
    penalty = np.zeros(len(candidates))  # each candidate's likeness to the closest quote chosen so far
    owner = np.full(len(candidates), -1)  # the pick a candidate is quoted in or folded into
    at = {(c.source, max(c.rows)): i for i, c in enumerate(candidates)}  # by its own sentence, the last
    read: dict[str, Article] = {}

    def article(source: str) -> Article:
        if source not in read:
            read[source] = articles[source]
        return read[source]

    def terms_of(i: int) -> frozenset[int]:
        return frozenset().union(*(runs.prints.terms_of(row) for row in candidates[i].rows))

    facts: dict[int, _Fact] = {}

    def fact_of(i: int) -> _Fact:
        if i not in facts:
            c = candidates[i]
            figures = _figures(article(c.source).text[c.start:c.end])
            facts[i] = _Fact(figures, terms_of(i) - figures, params.figure_terms if figures else 0)
        return facts[i]

    def fold(pick: int, said: int, citations: list[Citation] | None) -> np.ndarray:
        """Every live candidate saying what candidate `said` says is folded into `pick` (and cited, if
        `citations` is given and it sits in another article)."""
        similarity = vectors @ vectors[said]
        overlapping = (source_ids == source_ids[said]) & (starts < ends[said]) & (starts[said] < ends)
        near = alive & (overlapping | (similarity >= min(params.shared_run_cosine, params.duplicate_cosine,
                                                         params.figure_cosine)))
        same = near & (overlapping | (similarity >= params.duplicate_cosine))
        # The rest of the near ones are the same statement only if they share a six-word run with it.
        check = np.flatnonzero(near & ~same & (similarity >= params.shared_run_cosine))
        if len(check):
            sharing = runs.sharing(candidates[said].rows)
            same[[other for other in check.tolist() if not sharing.isdisjoint(candidates[other].rows)]] = True
        check = np.flatnonzero(near & ~same & (similarity >= params.figure_cosine)) if params.figure_terms else ()
        if len(check) and (fact := fact_of(said)).needed:  # a statement without a figure skips the reads
            same[check[fact.stated_by(runs.prints, [candidates[other].rows for other in check.tolist()])]] = True
        cited = None if citations is None else {candidates[pick].source, *(c.source for c in citations)}
        for other in np.flatnonzero(same).tolist():  # in score order
            alive[other] = False
            owner[other] = pick
            found = candidates[other]
            if cited is not None and found.source not in cited:
                citations.append(articles.cite(articles.position[found.source], found.start, found.end))
                cited.add(found.source)
        return similarity

    chosen: list[tuple[Quote, _Candidate, _Fact]] = []
    while alive.any() and len(chosen) < k:
        pick = int(np.argmax(np.where(alive, scores - params.diversity * penalty, -np.inf)))
        alive[pick] = False
        owner[pick] = pick
        c, citations = candidates[pick], []
        # Everything that says the same thing is folded into this quote now, so it never takes a slot.
        penalty = np.maximum(penalty, np.maximum(fold(pick, pick, citations), 0.0))
        start, end = c.start, c.end
        joined = _neighbour(candidates, pick, at, owner, params.neighbour_share, articles)
        if joined is not None:
            alive[joined] = False
            owner[joined] = pick
            fold(pick, joined, None)  # its repeats are not quoted again; the citations stay the pick's
            start, end = min(start, candidates[joined].start), max(end, candidates[joined].end)
        source = article(c.source)
        chosen.append((Quote(
            text=source.text[start:end], source=c.source, title=source.title, start=start, end=end,
            paragraph=source.paragraph_at(start), score=round(c.score, 4), also_in=tuple(citations),
            outlet=source.outlet, url=source.url, published=source.published,
        ), c, fact_of(pick)))
    return chosen


def _neighbour(
    candidates: list[_Candidate], pick: int, at: dict[tuple[str, int], int], owner: np.ndarray, share: float,
    articles: ArticleTable,
) -> int | None:
    """The better-scoring sentence beside a pick, if it comes close enough to join the quote.

    A quote stays at most two sentences. Only a candidate no other quote holds may join (it would
    repeat that quote), and never across a section heading. The pick keeps its own vector and runs
    for citing other carriers: the statement it was chosen for is what they must repeat.
    """
    c = candidates[pick]
    beside = [
        i for row in (min(c.rows) - 1, max(c.rows) + 1)
        if (i := at.get((c.source, row))) is not None and owner[i] in (-1, pick)
        and candidates[i].score >= share * c.score and len({*c.rows, *candidates[i].rows}) <= 2
    ]
    if not beside:
        return None
    joined = max(beside, key=lambda i: candidates[i].score)
    other = candidates[joined]
    if _heading_between(articles, articles.position[c.source], min(c.end, other.end), max(c.start, other.start)):
        return None
    return joined


class _CitationPool:
    """The sentences of the passages ranked below the quotes, where other carriers of a quote may sit.

    Sentence spans, vectors and six-word runs all come from the index (no re-splitting, no model).
    One product with the quote's vector leaves the few sentences close enough in meaning; only
    those have their runs read. `rows` are sorted: sentence rows run article by article (in
    source order) and in text order within one.
    """

    def __init__(self, index: QuotableIndex, rows: np.ndarray, runs: RunLookup) -> None:
        self.articles = index.articles
        self.runs = runs  # holds these rows' runs
        self.rows = rows
        self.spans = np.asarray(index.sentences.table[rows]).tolist()  # (article position, start, end)
        self.vectors = np.asarray(index.sentence_vectors[rows], dtype=np.float32)

    def cite_elsewhere(self, quote: Quote, candidate: _Candidate, fact: _Fact, params: QuoteParams) -> Quote:
        """Articles carrying the quoted statement but not drawn as candidates are cited too."""
        if not len(self.rows):
            return quote
        similarity = self.vectors @ candidate.vector
        close = np.flatnonzero(similarity >= min(params.shared_run_cosine, params.figure_cosine))
        if not len(close):
            return quote
        cited = {quote.source, *(c.source for c in quote.also_in)}
        extra: list[Citation] = []
        rows, cosines = self.rows[close], similarity[close]
        sharing = self.runs.sharing(candidate.rows)  # a few rows: set lookups beat np.isin's sort
        carrying = (cosines >= params.shared_run_cosine) & np.fromiter(
            (row in sharing for row in rows.tolist()), dtype=bool, count=len(rows))
        if fact.needed:  # the same figure in enough of the same words: read only for the rows still in doubt
            doubt = np.flatnonzero(~carrying & (cosines >= params.figure_cosine))
            carrying[doubt] = fact.stated_by(self.runs.prints, [[row] for row in rows[doubt].tolist()])
        for position in close[carrying].tolist():  # in (source, start) order: an article's first carrier is cited
            article_position, start, end = self.spans[position]
            source = self.articles.metas[article_position].source
            if source not in cited:
                extra.append(self.articles.cite(article_position, start, end))
                cited.add(source)
        return replace(quote, also_in=quote.also_in + tuple(extra)) if extra else quote
