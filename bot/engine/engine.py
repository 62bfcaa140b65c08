"""The engine every front end calls: it owns the loaded index, answers, and rebuilds.

Plain synchronous Python; the Discord layer calls it through `asyncio.to_thread`. A rebuild is
made beside the live index and swapped in with one reference assignment, so questions asked
during a rebuild are answered from the old index, and a failed rebuild changes nothing.

When the model reads English only, a second engine over the same seeds, with a model that reads
Arabic, Persian and Sorani too (`Settings.for_other_languages`), answers questions in those
languages (and every question, when most articles are written in one of them), and may pick the
quotes for English ones too (`ENGLISH_QUOTES`: the first index still
decides whether to decline them); it is built, re-indexed and followed together with the first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import MULTILINGUAL_MODELS, Settings
from ..language import question_language
from . import library
from .ann import serve_single_threaded
from .declining import DeclineParams, Evidence, should_decline
from .embedding import Embedder, make_embedder
from .following import Follower
from .models import Answer, IndexedArticle, Progress, Quote, ReindexReport, SourcesReport
from .quoting import QuoteParams, params_for, pick_quotes
from .reading import Paragraph, article_key, find_by_key, headline_choices, newest_published, paragraph_of, resolve_article
from .retrieval import FusionParams, Hit, Retriever, find_sentences
from .steering import CONTEXT_QUESTIONS, RowRange, steer_vector, steered_scores
from .store import building, loading
from .store.layout import BuildParams
from .store.loading import LoadedIndex
from .store.publishing import BuildLocked
from .library import ArticleRefused  # noqa: F401  (re-exported: the Discord layer sees only this module)

log = logging.getLogger(__name__)


class ReindexInProgress(RuntimeError):
    """A rebuild is already running; a second one is refused rather than queued."""


def build_params(settings: Settings) -> BuildParams:
    return BuildParams(
        model=make_embedder(settings).name,  # the backend too: torch and int8 vectors must not mix
        passage_max_tokens=settings.passage_max_tokens,
        passage_overlap_sentences=settings.passage_overlap_sentences,
        ann_threshold=settings.ann_threshold,
        ann_kind=settings.ann_kind,
        passage_vectors=settings.passage_vectors_for_model,
    )


@dataclass(frozen=True, slots=True)
class _Search:
    """One question's search of one index: what declining reads, and what quoting goes on from."""

    question: str
    context: tuple[str, ...]
    index: LoadedIndex
    query_vector: np.ndarray
    sentence_rows: RowRange | None  # the sentences of the one article searched, if `article` was given
    hits: list[Hit]
    evidence: Evidence | None  # None when only quotes are wanted (`Engine.quotes`)
    decline: DeclineParams
    quote_params: QuoteParams


class _Live:
    """One loaded index with its retriever; replaced whole, never mutated."""

    def __init__(self, index: LoadedIndex, fusion: FusionParams) -> None:
        self.index = index
        self.retriever = Retriever(index.vectors, index.dense, index.lexical, fusion)


class Engine:
    """Answers from the live index; rebuilds beside it and swaps."""

    def __init__(self, settings: Settings, embedder: Embedder, index: LoadedIndex, *,
                 other_languages: "Engine | None" = None) -> None:
        self.settings = settings
        self.other_languages = other_languages  # answers questions not in English, if set
        self.embedder = embedder
        self.fusion = FusionParams(
            settings.fusion, settings.dense_weight, settings.rrf_k, settings.candidates
        )
        self._decline = DeclineParams(
            settings.min_dense_score, settings.confident_dense_score, settings.min_term_coverage
        )
        self.quote_params = params_for(settings.embedding_model)  # public: an evaluation may try others
        self._reads_languages = settings.embedding_model in MULTILINGUAL_MODELS
        self._english_quotes_from_other = settings.quotes_english_from_other_languages_model
        self._live = _Live(index, self.fusion)
        self._reindex_lock = threading.Lock()
        self._seed_stats: dict = {}  # `sources` re-reads only the seeds files that changed since it last looked
        self._follower: Follower | None = None

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, settings: Settings, *, embedder: Embedder | None = None, progress: Progress | None = None
    ) -> "Engine":
        """Load the index, rebuilding it first when it is missing, damaged or stale."""
        embedder = embedder or make_embedder(settings)
        index, reason = cls._load_current(settings)
        if reason is not None:
            log.warning("rebuilding the index: %s", reason)
            try:
                index, report = building.build(
                    settings.index_dir, settings.seeds_dir, embedder, build_params(settings),
                    max_file_bytes=settings.max_file_bytes, batch_size=settings.embedding_batch_size,
                    previous=index, progress=progress,
                )
            except (OSError, BuildLocked) as error:
                if index is None:
                    raise
                # A stale index still answers from what it holds; losing it would help nobody.
                log.warning("could not rebuild (%s); answering from the existing index", error)
            else:
                log.info("indexed %d articles, %d passages in %.1fs",
                         len(index.articles), report.passages_after, report.seconds)
        assert index is not None
        other_settings = settings.for_other_languages()
        other = cls.open(other_settings, progress=progress) if other_settings is not None else None
        engine = cls(settings, embedder, index, other_languages=other)
        engine.ask("warm up")  # loads the model and touches every search structure: the first real question is not slower
        return engine

    @staticmethod
    def _load_current(settings: Settings) -> tuple[LoadedIndex | None, str | None]:
        """(index, why it must be rebuilt); an index that loads but is stale still seeds the cache."""
        try:
            index = loading.load(settings.index_dir)
        except loading.IndexUnavailable as error:
            return None, str(error)
        try:
            stale = loading.staleness(
                index.manifest, index.article_hashes(), settings.seeds_dir, build_params(settings),
                max_file_bytes=settings.max_file_bytes,
            )
        except OSError as error:  # the seeds folder is missing or unreadable: the build will say so
            stale = str(error)
        return index, stale

    # --- answering ---------------------------------------------------------------------------------

    def ask(
        self, question: str, *, k: int | None = None, abstain: bool = True, context: tuple[str, ...] = (),
        article: str | None = None, offset: int = 0,
    ) -> Answer:
        """Quotes that answer the question, or a decline; never free text.

        `context`: a thread's earlier questions; they steer retrieval only (see `steering`).
        `article`: a source; only that article is searched. `offset`: skip that many quotes of the
        same ranking ("More quotes": the ranking does not depend on the offset, so pages never repeat).
        """
        k = k or self.settings.top_k
        if not question.strip():
            return Answer(question, answered=False, reason="empty")
        other = self.other_languages
        if other is not None and (question_language(question) != "en" or self.index.articles.main_language() != "en"):
            # This model reads English only: a question in another language, or any question over
            # articles mostly in another, is the other model's whole, declining included.
            return other.ask(question, k=k, abstain=abstain, context=context, article=article, offset=offset)
        found = self._search(question, context, article)
        if isinstance(found, Answer):
            return found
        declined = should_decline(found.evidence, found.decline)
        diagnostics = found.evidence.as_dict()
        if declined and abstain:
            return Answer(question, answered=False, reason="declined", diagnostics=diagnostics)
        if other is not None and self._english_quotes_from_other:
            # This index decides whether to decline; the other picks the quotes (`ENGLISH_QUOTES`).
            quotes = other.quotes(question, k=k, context=context, article=article, offset=offset)
        else:
            quotes = self._quotes(found, k, offset)
        return Answer(
            question, answered=not declined and bool(quotes), quotes=quotes,
            reason="declined" if declined else None, diagnostics=diagnostics,
        )

    def quotes(self, question: str, *, k: int, context: tuple[str, ...] = (), article: str | None = None,
               offset: int = 0) -> tuple[Quote, ...]:
        """What `ask(..., abstain=False)` quotes, without weighing whether to decline: for the index
        that only picks the quotes of questions another index decides on (`ENGLISH_QUOTES`)."""
        found = self._search(question, context, article, weigh=False)
        return () if isinstance(found, Answer) else self._quotes(found, k, offset)

    def _search(self, question: str, context: tuple[str, ...], article: str | None,
                weigh: bool = True) -> "_Search | Answer":
        """The question's passages and (`weigh`) the evidence for declining it, or the Answer that ends it here."""
        live = self._live  # one read: a swap during this question cannot mix two indexes
        if not live.index.passages:
            return Answer(question, answered=False, reason="no-index")
        serve_single_threaded()  # in this thread: questions run in worker threads, and OpenMP counts per thread
        index = live.index
        context = tuple(c for c in context if c.strip())[-CONTEXT_QUESTIONS:]
        vectors = self.embedder.encode_queries([question, *context])
        query_vector = steer_vector(vectors[0], vectors[1:] if context else None)
        passage_rows = sentence_rows = None
        if article is not None:
            if article not in index.articles.position:
                return Answer(question, answered=False, reason="declined")
            meta = index.articles.metas[index.articles.position[article]]
            passage_rows, sentence_rows = RowRange(*meta.passage_rows), RowRange(*meta.sentence_rows)
        fusion, quote_params, decline = self.fusion, self.quote_params, self._decline
        if self._reads_languages and question_language(question) != index.articles.main_language():
            # Words match only within one language. For a question in a language few articles are
            # written in, matching words would rank those few first whatever they say, and finding
            # none of its words elsewhere proves nothing: a model that reads both languages ranks
            # it by meaning alone, and declines it without asking for shared words.
            fusion = replace(fusion, dense_weight=1.0)
            quote_params = replace(quote_params, dense_weight=1.0, words_weight=0.0)
            decline = replace(decline, words_can_match=False)
        steered = context or article is not None
        hits = live.retriever.search(
            question, query_vector, rows=passage_rows, params=fusion,
            lexical_scores=steered_scores(index.lexical, question, context) if context else None,
        ) if steered else live.retriever.search(question, query_vector, params=fusion)
        return _Search(question, context, index, query_vector, sentence_rows, hits,
                       Evidence.of(question, hits, index) if weigh else None, decline, quote_params)

    def _quotes(self, found: "_Search", k: int, offset: int) -> tuple[Quote, ...]:
        index, question, context = found.index, found.question, found.context
        # Enough sentences for k quotes once repeats are folded into "also in" and neighbours joined
        # to quotes: -k N means N.
        # The count follows the page size, not the offset, so every page comes from one ranking.
        count = max(self.fusion.candidates, 4 * k)
        sentence_lexical = steered_scores(index.sentences.lexical, question, context) if context else None
        sentences = find_sentences(question, found.query_vector, index.sentences.dense, index.sentences.lexical,
                                   index.sentence_vectors, count, lexical_scores=sentence_lexical,
                                   rows=found.sentence_rows)
        return tuple(pick_quotes(question, found.query_vector, found.hits, index, offset + k, found.quote_params,
                                 sentences)[offset:])

    # --- reading the index (autocomplete, "Full paragraph", the footer) ---------------------------

    def paragraph(self, article_key: str, number: int) -> Paragraph | None:
        """Paragraph `number` of the article named by `article_key`, verbatim; None if gone."""
        article = find_by_key(self.index.articles, article_key)
        return None if article is None else paragraph_of(article, number)

    def article_choices(self, typed: str, limit: int = 25) -> list[tuple[str, str]]:
        """(headline, key) of articles matching what a member typed, for autocomplete."""
        return headline_choices(self.index.articles, typed, limit)

    def resolve_article(self, given: str) -> str | None:
        """The source an `article:` value names (an autocomplete key, a path or a headline)."""
        return resolve_article(self.index.articles, given)

    def article_keys(self, sources: tuple[str, ...]) -> dict[str, str | None]:
        """Each source's short content key (what a "Full paragraph" button carries), None if not indexed."""
        articles = self.index.articles
        return {source: article_key(articles.metas[articles.position[source]].sha256)
                if source in articles.position else None for source in sources}

    def newest_published(self) -> str | None:
        """The newest date an indexed article carries (the answer footer's "articles up to")."""
        return newest_published(self.index.articles)

    def search(self, question: str) -> list[Hit]:
        """Ranked passages without quoting: for benchmarks that judge passages, not quotes."""
        live = self._live
        serve_single_threaded()
        return live.retriever.search(question, self.embedder.encode_queries([question])[0])

    # --- what is indexed ---------------------------------------------------------------------------

    @property
    def index(self) -> LoadedIndex:
        """The index questions are answered from right now; a reindex replaces it whole, never edits it."""
        return self._live.index

    def sources(self) -> SourcesReport:
        index = self.index
        report = sources_report(index.manifest, index.article_list(), self._seeds_changed(index))
        if self.other_languages is not None:
            report = replace(report, other_languages=self.other_languages.sources())
        return report

    def _seeds_changed(self, index: LoadedIndex) -> bool:
        return loading.staleness(
            index.manifest, index.article_hashes(), self.settings.seeds_dir, build_params(self.settings),
            max_file_bytes=self.settings.max_file_bytes, known=self._seed_stats,
        ) is not None

    # --- rebuilding -----------------------------------------------------------------------------

    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    def reindex(self, progress: Progress | None = None) -> ReindexReport:
        """Rebuild from the seeds folder and swap; raises ReindexInProgress if one already runs."""
        with self._rebuilding():
            return self._rebuild(progress)

    @contextmanager
    def _rebuilding(self) -> Iterator[None]:
        if not self._reindex_lock.acquire(blocking=False):
            raise ReindexInProgress("a rebuild is already running")
        try:
            yield
        finally:
            self._reindex_lock.release()

    # --- following other processes' builds ----------------------------------------------------

    def adopt(self, index: LoadedIndex) -> bool:
        """Answer from `index` (published by another process) from now on; False while this engine rebuilds."""
        if not self._reindex_lock.acquire(blocking=False):
            return False
        try:
            self._live = _Live(index, self.fusion)
            return True
        finally:
            self._reindex_lock.release()

    def follow_published(self) -> None:
        """Pick up builds other processes publish in INDEX_DIR, and keep their cleanup off ours (a serving process)."""
        if self.other_languages is not None:
            self.other_languages.follow_published()
        if self._follower is None:
            self._follower = Follower(self.settings.index_dir, build_params(self.settings).to_dict(),
                                      lambda: self.index, self.adopt, rebuilding=lambda: self.reindexing)
            self._follower.start()

    def stop_following(self) -> None:
        if self.other_languages is not None:
            self.other_languages.stop_following()
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    def _rebuild(self, progress: Progress | None) -> ReindexReport:
        report = self._build_own(progress)
        if self.other_languages is not None:  # the same seeds, read again: nothing changed them meanwhile (our lock)
            other = self.other_languages.reindex(progress)
            report = replace(report, seconds=report.seconds + other.seconds)
        return report

    def _build_own(self, progress: Progress | None) -> ReindexReport:
        """This engine's index alone, rebuilt from the seeds folder and swapped in."""
        try:
            index, report = building.build(
                self.settings.index_dir, self.settings.seeds_dir, self.embedder, build_params(self.settings),
                max_file_bytes=self.settings.max_file_bytes, batch_size=self.settings.embedding_batch_size,
                previous=self.index, progress=progress,
            )
        except BuildLocked as error:
            raise ReindexInProgress(str(error)) from None
        self._live = _Live(index, self.fusion)
        return report

    def _changing_seeds(self, change: Callable[[], object], undo: Callable[[], object],
                        progress: Progress | None) -> ReindexReport:
        """Change the seeds folder and re-index both indexes; if that fails, undo the change and bring
        back in line an index that had already taken it in (the first, when only the second's build
        failed): otherwise it would go on quoting an article the folder no longer holds, or miss one
        it holds again."""
        with self._rebuilding():
            change()
            try:
                return self._rebuild(progress)
            except BaseException as error:
                undo()
                if isinstance(error, Exception):  # not on Ctrl-C: stop at once
                    self._realign()
                raise

    def _realign(self) -> None:
        if self.other_languages is None or not self._seeds_changed(self.index):
            return
        try:
            self._build_own(None)  # its vectors are all still in the index it replaces: nothing is embedded
        except Exception:  # the first error is the one the admin is told; this one is in the log
            log.exception("could not bring the index back in line with the seeds folder; /reindex will")

    # --- articles managed from Discord (`/articles`) ------------------------------------------------
    # Each changes the seeds folder and re-indexes under the rebuild lock, so no other rebuild can
    # read the folder half-changed; if the re-index fails, the file change is undone.

    def add_article(self, name: str, data: bytes, *, outlet: str | None = None, url: str | None = None,
                    published: str | None = None, progress: Progress | None = None) -> ReindexReport:
        """Save an uploaded file into the seeds folder (checked, atomically) and re-index."""
        settings = self.settings
        saved: list[Path] = []

        def save() -> None:
            saved.append(library.save_article(settings.seeds_dir, settings.archive, name, data,
                                              max_file_bytes=settings.max_file_bytes, outlet=outlet, url=url,
                                              published=published))

        return self._changing_seeds(save, lambda: saved[0].unlink(missing_ok=True), progress)

    def remove_article(self, source: str, progress: Progress | None = None) -> ReindexReport:
        """Move an article's file to the archive folder and re-index."""
        settings = self.settings
        return self._changing_seeds(lambda: library.archive_article(settings.seeds_dir, settings.archive, source),
                                    lambda: library.restore_article(settings.seeds_dir, settings.archive, source),
                                    progress)

    def restore_article(self, source: str, progress: Progress | None = None) -> ReindexReport:
        """Move an archived file back into the seeds folder and re-index."""
        settings = self.settings
        return self._changing_seeds(lambda: library.restore_article(settings.seeds_dir, settings.archive, source),
                                    lambda: library.archive_article(settings.seeds_dir, settings.archive, source),
                                    progress)

    def archived_articles(self) -> list[str]:
        """What `restore_article` can bring back."""
        return library.archived_articles(self.settings.archive)


def sources_report(manifest: dict, articles: tuple[IndexedArticle, ...], seeds_changed: bool) -> SourcesReport:
    """What a manifest says, in the shape every front end lists."""
    return SourcesReport(
        model=manifest["params"]["model"],
        dimension=manifest["dimension"],
        built_at=manifest["built_at"],
        format_version=manifest["format_version"],
        passages=manifest["counts"]["passages"],
        articles=articles,
        seeds_changed=seeds_changed,
        index_kind=manifest["index_kind"],
    )
