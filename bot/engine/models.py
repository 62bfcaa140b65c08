"""The plain data that flows through the engine.

Every front end (terminal, JSON, Discord) renders the same `Answer`, so they can never disagree
about what the articles say. Offsets are character offsets into the file decoded as UTF-8 (no
newline translation, a BOM counts as one character), so `file_text[start:end] == text` always.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .sentences import is_markdown, layout


@dataclass(frozen=True, slots=True)
class Article:
    """One seeds file, decoded. `source` is the path relative to the seeds folder (POSIX form)."""

    source: str
    title: str
    dateline: str | None
    text: str  # the whole file, decoded, untouched (front matter included: it is never quoted)
    sha256: str  # of the file's bytes
    body_start: int  # offset where the body begins (after front matter, headline and dateline)
    # YYYY-MM-DD: the front matter's `published` (or `date`), else a date opening the file name.
    published: str | None = None
    # Every `key: value` pair of the front matter, in file order, unknown keys too.
    metadata: tuple[tuple[str, str], ...] = ()
    # `article_structure` of this text, when the index already worked it out (see `tables`).
    structure: "Structure | None" = field(default=None, compare=False, repr=False)

    def meta(self, key: str) -> str | None:
        """The front matter's value for `key` (the last one, if repeated), or None."""
        return front_matter_value(self.metadata, key)

    @property
    def outlet(self) -> str | None:
        return self.meta("outlet")

    @property
    def url(self) -> str | None:
        return self.meta("url")

    @property
    def language(self) -> str | None:
        return self.meta("language")

    def cite(self, start: int, end: int) -> "Citation":
        """Where `text[start:end]` can be read, with who published it and when."""
        return citation(self.source, self.title, self.metadata, self.published, self.paragraph_at(start), start, end)

    def paragraph_at(self, offset: int) -> int:
        """1-based number of the body paragraph holding `offset` (blank lines belong to the one before).

        A paragraph is a non-blank body line, or, in a hard-wrapped article, a blank-line-separated
        block (a list item or heading inside it counts as one of its own); see `sentences.layout`.
        """
        return paragraph_number(self._structure()[0], offset)

    @property
    def headings(self) -> tuple[tuple[int, int], ...]:
        """Spans of the body's Markdown headings, without the "#"s: context, never quoted
        (a `.md` file, or a .txt that reads as Markdown, see `sentences.is_markdown`)."""
        return self._structure()[1]

    def _structure(self) -> "Structure":
        return self.structure if self.structure is not None else article_structure(self.source, self.text, self.body_start)

    def heading_at(self, offset: int) -> str | None:
        """The text of the last heading at or before `offset`: the section a quote sits in."""
        headings = self.headings
        index = bisect_right([start for start, _ in headings], offset)
        return self.text[slice(*headings[index - 1])] if index else None


Structure = tuple[tuple[int, ...], tuple[tuple[int, int], ...]]


def front_matter_value(metadata: tuple[tuple[str, str], ...], key: str) -> str | None:
    found = [value for name, value in metadata if name == key]
    return found[-1] if found else None


def paragraph_number(paragraph_starts: "Sequence[int]", offset: int) -> int:
    return max(bisect_right(paragraph_starts, offset), 1)


def citation(source: str, title: str, metadata: tuple[tuple[str, str], ...], published: str | None,
             paragraph: int, start: int, end: int) -> "Citation":
    """The one way a citation is made: from an `Article`, or from the index's article table, which
    needs no text for it (`tables.ArticleTable.cite`)."""
    return Citation(source, title, start, end, paragraph,
                    front_matter_value(metadata, "outlet"), front_matter_value(metadata, "url"), published)


def article_structure(source: str, text: str, body_start: int) -> Structure:
    """(where each body paragraph's first line starts, heading spans). A reply may cite dozens of
    passages of the same few articles, so the index's article table keeps these per article
    (`tables.ArticleTable`), dying with its index; a module-wide cache outlived every rebuild."""
    units = layout(text, body_start, markdown=is_markdown(source, text, body_start)).units
    return (
        tuple(unit.line_start for unit in units),
        tuple((unit.start, unit.end) for unit in units if unit.kind == "heading"),
    )


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of whole sentences from one article: the unit that is embedded and searched."""

    source: str
    start: int
    end: int
    text: str  # == article.text[start:end]
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) of each sentence inside it


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a quoted statement can be read."""

    source: str
    title: str
    start: int
    end: int
    paragraph: int
    outlet: str | None = None
    url: str | None = None
    published: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Quote:
    """An exact slice of one article, plus every other article that carries the same statement."""

    text: str
    source: str
    title: str
    start: int
    end: int
    paragraph: int
    score: float
    also_in: tuple[Citation, ...] = ()
    outlet: str | None = None
    url: str | None = None
    published: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot says to one question: quotes, or a deliberate decline."""

    question: str
    answered: bool
    quotes: tuple[Quote, ...] = ()
    # Why nothing is quoted: "declined" (off-topic), "empty" (no question), "no-index" (nothing indexed).
    reason: str | None = None
    diagnostics: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """One article as the index holds it (what /sources and `sources` list)."""

    source: str
    title: str
    passages: int
    sha256: str
    indexed_at: str  # ISO 8601, UTC
    published: str | None = None  # YYYY-MM-DD
    outlet: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SourcesReport:
    """What the index holds, read without rebuilding, and whether the seeds have moved on since."""

    model: str
    dimension: int
    built_at: str
    format_version: int
    passages: int
    articles: tuple[IndexedArticle, ...]
    seeds_changed: bool
    index_kind: str = "flat"
    # The index questions in other languages are answered from (`Engine.other_languages`), if any.
    other_languages: "SourcesReport | None" = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A seeds file that was not indexed, and why (the reason is shown to people as is)."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a rebuild changed, for the admin who asked for it."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int
    passages_before: int
    passages_after: int
    embedded: int  # passages that had to be embedded (the rest came from the cache)
    seconds: float
    skipped: tuple[Skipped, ...] = ()


# How a rebuild reports as it runs: progress(stage, done, total), stage "reading", "embedding" or "writing".
Progress = Callable[[str, int, int], None]
