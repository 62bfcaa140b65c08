"""Reading the index for the Discord extras: whole paragraphs, headline lookup, the newest date.

Plain functions over a loaded index's article table; they never run the model, so autocomplete
and "Full paragraph" answer in microseconds on the event loop's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Article
from .sentences import is_markdown, layout
from .tables import ArticleTable

ARTICLE_KEY_LENGTH = 16  # hex digits of an article's sha256 that name it in button ids


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One body paragraph, verbatim: `article.text[start:end] == text`."""

    source: str
    title: str
    number: int
    start: int
    end: int
    text: str
    url: str | None = None


def article_key(sha256: str) -> str:
    """A short, stable name for an article's exact content (changes when the file changes)."""
    return sha256[:ARTICLE_KEY_LENGTH]


def paragraph_of(article: Article, number: int) -> Paragraph | None:
    """Body paragraph `number` (1-based, as `Article.paragraph_at` counts), or None if out of range."""
    units = layout(article.text, article.body_start, markdown=is_markdown(article.source, article.text,
                                                                         article.body_start)).units
    if not 1 <= number <= len(units):
        return None
    unit = units[number - 1]
    text = article.text[unit.start : unit.end]
    return Paragraph(article.source, article.title, number, unit.start, unit.end, text, article.url)


def find_by_key(articles: ArticleTable, key: str) -> Article | None:
    """The article whose sha256 starts with `key`, if the index still holds it."""
    if len(key) < 8:
        return None
    for position, meta in enumerate(articles.metas):
        if meta.sha256.startswith(key):
            return articles.at(position)
    return None


def resolve_article(articles: ArticleTable, given: str) -> str | None:
    """The source an `article:` option means: an autocomplete key, a source path, or a unique headline match."""
    given = given.strip()
    if not given:
        return None
    lowered = given.casefold()
    for meta in articles.metas:
        if meta.sha256.startswith(lowered) and len(lowered) >= 8:
            return meta.source
        if meta.source == given:
            return meta.source
    exact = [meta.source for meta in articles.metas if meta.title.casefold() == lowered]
    if len(exact) == 1:
        return exact[0]
    partial = [meta.source for meta in articles.metas if lowered in meta.title.casefold()]
    return partial[0] if len(partial) == 1 else None


def headline_choices(articles: ArticleTable, typed: str, limit: int) -> list[tuple[str, str]]:
    """(headline, key) of up to `limit` articles whose headline or file name contains `typed`.

    Headlines that start with what was typed come first, then other matches, newest first
    within each group; an empty `typed` lists the newest articles.
    """
    wanted = typed.strip().casefold()
    starts: list[tuple[str, int]] = []
    contains: list[tuple[str, int]] = []
    for position, meta in enumerate(articles.metas):
        title = meta.title.casefold()
        if not wanted or title.startswith(wanted):
            starts.append((meta.published or "", position))
        elif wanted in title or wanted in meta.source.casefold():
            contains.append((meta.published or "", position))
    ordered = sorted(starts, key=lambda item: item[0], reverse=True) + sorted(
        contains, key=lambda item: item[0], reverse=True
    )
    out = []
    for _, position in ordered[:limit]:
        meta = articles.metas[position]
        out.append((meta.title or meta.source, article_key(meta.sha256)))
    return out


def newest_published(articles: ArticleTable) -> str | None:
    """The latest YYYY-MM-DD any indexed article carries, or None when none is dated."""
    return max((meta.published for meta in articles.metas if meta.published), default=None)
