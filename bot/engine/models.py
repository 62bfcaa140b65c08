"""The plain data that flows through the engine.

Every front end (terminal, JSON, Discord) renders the same `Answer`, so they can never disagree
about what the articles say. Offsets are character offsets into the file decoded as UTF-8 (no
newline translation, a BOM counts as one character), so `file_text[start:end] == text` always.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Article:
    """One seeds file, decoded. `source` is the path relative to the seeds folder (POSIX form)."""

    source: str
    title: str
    dateline: str | None
    text: str  # the whole file, decoded, untouched
    sha256: str  # of the file's bytes
    body_start: int  # offset where the body begins (after the headline and any dateline)

    def paragraph_at(self, offset: int) -> int:
        """1-based paragraph number of the body line holding `offset` (blank and dateline lines skipped)."""
        line_ends, paragraphs = _paragraph_lines(self.text, self.body_start)
        line = bisect_right(line_ends, offset)
        return max(paragraphs[line] if line < len(line_ends) else paragraphs[-1], 1)


@lru_cache(maxsize=4096)
def _paragraph_lines(text: str, body_start: int) -> tuple[list[int], list[int]]:
    """(end offset of each body line, paragraph number at that line): worked out once per article,
    since a reply may cite dozens of passages of the same few articles."""
    line_ends, paragraphs = [], []
    position, number = body_start, 0
    for line in text[body_start:].splitlines(keepends=True):
        number += bool(line.strip())
        position += len(line)
        line_ends.append(position)
        paragraphs.append(number)
    return line_ends, paragraphs or [0]


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
