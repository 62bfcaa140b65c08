"""Answer -> what a person reads in a terminal, or the JSON a program reads.

The only words here that are not quotes come from `bot.messages`; quotes are printed exactly as
sliced from their files (the Discord body is `bot.discord.payload`'s, built from the same Answer).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from . import messages
from .language import question_language
from .engine.models import Answer, Citation, Quote, SourcesReport


def _cite(title: str, source: str, paragraph: int) -> str:
    return messages.CITED_ARTICLE.format(title=title, source=source, paragraph=paragraph)


def _also(citations: tuple[Citation, ...]) -> str:
    return messages.CITED_SEPARATOR.join(_cite(c.title, c.source, c.paragraph) for c in citations)


def answer_text(answer: Answer) -> str:
    """Numbered quotes, each with its headline and file; or the fixed message for no answer."""
    language = question_language(answer.question)
    if not answer.answered and not answer.quotes:
        return messages.no_answer(answer.reason, language)
    blocks = []
    if not answer.answered:
        blocks.append(messages.localise(messages.DECLINE, language))  # --no-abstain: the quotes follow, but the bot would not have answered
    for number, quote in enumerate(answer.quotes, start=1):
        lines = [
            messages.TERMINAL_QUOTE.format(number=number, text=quote.text),
            messages.TERMINAL_QUOTE_SOURCE.format(cited=_cite(quote.title, quote.source, quote.paragraph)),
        ]
        if quote.also_in:
            lines.append(messages.TERMINAL_ALSO_IN.format(items=_also(quote.also_in)))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _quote_json(rank: int, quote: Quote) -> dict:
    return {
        "rank": rank,
        "quote": quote.text,
        "source": quote.source,
        "title": quote.title,
        "start": quote.start,
        "end": quote.end,
        "score": quote.score,
        "paragraph": quote.paragraph,
        "outlet": quote.outlet,
        "url": quote.url,
        "published": quote.published,
        "also_in": [  # spelled out: dataclasses.asdict deep-copies, and a quote may carry dozens
            {"source": c.source, "title": c.title, "start": c.start, "end": c.end, "paragraph": c.paragraph,
             "outlet": c.outlet, "url": c.url, "published": c.published}
            for c in quote.also_in
        ],
    }


def answer_json(answer: Answer) -> dict:
    """The `ask --json` contract: `quote == file_text[start:end]` for every passage."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "passages": [_quote_json(rank, quote) for rank, quote in enumerate(answer.quotes, start=1)],
    }


def sources_json(report: SourcesReport) -> dict:
    return {
        "index": {
            "model": report.model,
            "dimension": report.dimension,
            "built_at": report.built_at,
            "format_version": report.format_version,
            "passages": report.passages,
            "articles": len(report.articles),
            "index_kind": report.index_kind,
        },
        "articles": [asdict(article) for article in report.articles],
        "seeds_changed": report.seeds_changed,
        "other_languages": None if (other := report.other_languages) is None else {
            "model": other.model, "built_at": other.built_at, "passages": other.passages,
            "articles": len(other.articles), "seeds_changed": other.seeds_changed,
        },
    }


def sources_text(report: SourcesReport) -> str:
    lines = [messages.TERMINAL_SOURCES.format(
        articles=len(report.articles), passages=report.passages, built_at=report.built_at, model=report.model,
        index_kind=report.index_kind,
    )]
    for article in report.articles:
        lines.append(messages.TERMINAL_SOURCES_ITEM.format(
            title=article.title, source=article.source, passages=article.passages, indexed_at=article.indexed_at,
        ))
    if report.seeds_changed:
        lines.append(messages.TERMINAL_SOURCES_STALE)
    if (other := report.other_languages) is not None:
        lines.append(messages.TERMINAL_SOURCES_OTHER.format(
            articles=len(other.articles), passages=other.passages, built_at=other.built_at, model=other.model))
        if other.seeds_changed and not report.seeds_changed:  # one `index` run rebuilds both: say it once
            lines.append(messages.TERMINAL_SOURCES_STALE)
    return "\n".join(lines)


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
