"""Turn engine results into Discord message bodies: pure functions, no I/O, no model code.

Why this module exists: the bot must never write its own prose about the news. Everything a
reply contains is either a verbatim slice of an article (quotes, headlines, file names, taken
from the engine's `Answer`) or one of the template constants of `bot.messages`. Keeping the
formatting here, apart from the cogs, lets the command line print exactly what the bot would
send (`message_body`) and lets tests check Discord's limits without a connection.

Neutralising article text (`neutralise`)
---------------------------------------
Article text is shown as written. To make it render inert we only *insert* characters:

* a backslash before every markdown-significant character (``\\ * _ ~ ` | [ ] < > @``), and before
  ``# - +`` and the dot of ``1.`` when they start a line. Discord's markdown treats ``\\`` +
  punctuation as that punctuation, so readers see the original characters. This defuses
  ``@everyone``/``@here`` (``\\@everyone``), user/role/channel mentions and timestamps
  (``\\<@123>``), masked links (``\\[x\\](http\\://…)``), code fences, spoilers, headings, quotes.
* a backslash before the colon of every ``scheme://`` (``https\\://…``): Discord turns a URL into
  a link only when ``http(s)://`` is written out whole, so a bare URL, and the URL of a defused
  masked link, read as written but cannot be clicked. Inside a URL the other characters are
  escaped like everywhere else (an escaped character is shown as itself in plain text).
* no zero-width characters are added, and bidirectional / zero-width characters that the
  article itself contains are kept (they are part of the exact slice); each quote sits in its own
  embed field, so a stray right-to-left override cannot reorder a citation.

Because every backslash in the output is an inserted escape, dropping each backslash inverts
`neutralise` exactly (the tests' `unescape`), which is how they prove a displayed quote is a prefix
of the slice.
Pinging is additionally switched off on every send with ``AllowedMentions.none()``.

Lengths are measured in UTF-16 code units (`discord_len`), which is never less than the code
point count, so bodies fit whichever way Discord counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from .. import messages
from ..language import question_language
from ..engine.models import Answer, Citation, Quote, ReindexReport, SourcesReport

# --- Discord's limits ----------------------------------------------------------------------------
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
MESSAGE_EMBEDS_TOTAL = 6000
MAX_EMBEDS = 10

MAX_QUOTES = 10  # more would not be readable; top_k is at most 10 anyway
QUOTE_NAME_BUDGET = 200
ALSO_IN_BUDGET = 300
SOURCE_BUDGET = 200
ARTICLES_PER_PAGE = 10
PAGE_TOTAL_BUDGET = 5500  # stay clear of the 6,000 total per message


# --- neutralising --------------------------------------------------------------------------------
_ALWAYS_ESCAPE = frozenset("\\*_~`|[]<>@")
_LINE_START_ESCAPE = frozenset("#-+")
_LINK_COLON = "://"  # its colon is escaped: Discord autolinks only an unbroken `http(s)://`
_LINE_NUMBER = re.compile(r"[ \t]*\d+(?=\.)")


def discord_len(text: str | None) -> int:
    """Length as UTF-16 code units: an upper bound on how Discord counts characters."""
    if not text:
        return 0
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def neutralise(text: str) -> str:
    """Escape `text` so it renders as written and can neither ping, link, nor format (see module doc)."""
    out: list[str] = []
    line_start = True
    index = 0
    length = len(text)
    while index < length:
        if line_start:
            match = _LINE_NUMBER.match(text, index)
            if match:  # "12. " at a line start would become a list item
                out.append(match.group(0))
                out.append("\\.")
                index = match.end() + 1
                line_start = False
                continue
        char = text[index]
        if (char in _ALWAYS_ESCAPE or (line_start and char in _LINE_START_ESCAPE)
                or (char == ":" and text.startswith(_LINK_COLON, index))):
            out.append("\\")
        out.append(char)
        if char == "\n":
            line_start = True
        elif not (line_start and char in " \t"):
            line_start = False
        index += 1
    return "".join(out)


def fit(text: str, budget: int) -> str:
    """Neutralised `text`, shortened with `messages.ELLIPSIS` to at most `budget` units.

    Cuts at a whitespace boundary so the shown words are a prefix of the exact slice; a text
    with no whitespace early enough is cut between characters (still a prefix).
    """
    if len(text) <= budget:  # escaping only adds characters, so longer texts cannot fit whole
        escaped = neutralise(text)
        if discord_len(escaped) <= budget:
            return escaped
    room = budget - discord_len(messages.ELLIPSIS)
    if room <= 0:
        return messages.ELLIPSIS.strip()[: max(budget, 0)]

    def shown(cut: int) -> str:
        return neutralise(text[:cut].rstrip())

    def fits(cut: int) -> bool:
        return discord_len(shown(cut)) <= room

    # Largest prefix length that fits (lengths grow with the prefix, so bisect).
    low, high = 0, min(len(text), room)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    limit = low
    boundary = max((m.start() for m in re.finditer(r"\s", text[: limit + 1])), default=0)
    # Prefer a word boundary; fall back to a character cut only when the words are too long.
    cut = boundary if boundary >= limit // 2 and text[:boundary].strip() else limit
    body = shown(cut)
    if not body:
        return messages.ELLIPSIS.strip()
    return body + messages.ELLIPSIS


# --- message bodies ----------------------------------------------------------------------------
@dataclass(slots=True)
class Reply:
    """One Discord message: the single thing both the bot and the CLI preview are built from."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None  # buttons (see `views.answer_view`); never a select that pings

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `send`/`followup.send`/`reply`/`edit_original_response`."""
        kwargs: dict[str, Any] = {
            "content": self.content,
            "embeds": list(self.embeds),
            "allowed_mentions": discord.AllowedMentions.none(),
        }
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Serialised the way discord.py puts it on the wire."""
        body = {
            "content": self.content,
            "embeds": [embed.to_dict() for embed in self.embeds],
            "allowed_mentions": discord.AllowedMentions.none().to_dict(),
        }
        if self.view is not None:
            body["components"] = self.view.to_components()
        return body


def notice(text: str) -> Reply:
    """A reply made of one template constant (decline, busy, cooldown, errors)."""
    return Reply(content=text[:CONTENT_LIMIT])


def _also_in_line(citations: Sequence[Citation], budget: int) -> str:
    """'Also in: …' listing as many other articles as fit, then 'and N more'."""
    if not citations:
        return ""
    items: list[str] = []
    for position, citation in enumerate(citations):
        item = messages.CITED_ARTICLE.format(
            title=fit(citation.title, 80),
            source=fit(citation.source, 80),
            paragraph=citation.paragraph,
        )
        candidate = items + [item]
        rest = len(citations) - position - 1
        more = messages.ALSO_IN_MORE.format(count=rest) if rest else ""
        line = messages.ALSO_IN.format(items=messages.CITED_SEPARATOR.join(candidate)) + more
        if discord_len(line) > budget:
            break
        items = candidate
    if not items:
        line = messages.ALSO_IN_COUNT.format(count=len(citations))
        return line if discord_len(line) <= budget else ""
    rest = len(citations) - len(items)
    more = messages.ALSO_IN_MORE.format(count=rest) if rest else ""
    return messages.ALSO_IN.format(items=messages.CITED_SEPARATOR.join(items)) + more


_SAFE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s<>()\[\]\"'`\\]*)?")
URL_LIMIT = 512  # Discord's limit for a link button's URL
PUBLISHER_BUDGET = 120


def safe_url(url: str | None) -> str | None:
    """The front matter's URL when it is a plain http(s) link Discord will take, else None.

    Only URLs from the admin's front matter reach here (`Quote.url`), never text of the article;
    anything that could break out of a markdown link or a button is refused, not repaired.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_LIMIT or not _SAFE_URL.fullmatch(url):
        return None
    return url


def citation_line(source: str, paragraph: int, outlet: str | None, published: str | None, url: str | None) -> str:
    """'— source, paragraph N', or with who published it when: '— [Outlet, 2026-01-28](url) · source, …'."""
    source_text = fit(source, SOURCE_BUDGET)
    outlet_text = fit(outlet, PUBLISHER_BUDGET) if outlet and outlet.strip() else None
    date_text = fit(published, 20) if published else None
    link = safe_url(url)
    if outlet_text and date_text:
        publisher = messages.PUBLISHER_OUTLET_DATE.format(outlet=outlet_text, published=date_text)
    else:
        publisher = outlet_text or date_text or (messages.PUBLISHER_ARTICLE if link else None)
    if publisher is None:
        return messages.CITATION.format(source=source_text, paragraph=paragraph)
    if link:
        # Inside a masked link's text an escaped "]" stays text; the URL has no character that could end it.
        publisher = messages.PUBLISHER_LINK.format(publisher=publisher, url=link)
    return messages.CITATION_PUBLISHED.format(publisher=publisher, source=source_text, paragraph=paragraph)


def quote_field(number: int, quote: Quote, value_budget: int) -> tuple[str, str]:
    """(name, value) of the embed field for one quote, value within `value_budget`."""
    name = messages.QUOTE_HEADING.format(number=number, title="")
    name += fit(quote.title, QUOTE_NAME_BUDGET - discord_len(name))
    value_budget = min(value_budget, FIELD_VALUE_LIMIT)
    citation = citation_line(quote.source, quote.paragraph, quote.outlet, quote.published, quote.url)
    also = _also_in_line(quote.also_in, min(ALSO_IN_BUDGET, max(value_budget // 3, 0)))
    tail = "\n" + citation + ("\n" + also if also else "")
    quote_budget = value_budget - discord_len(tail)
    if quote_budget < 40 and also:  # keep room for the quote itself
        tail = "\n" + citation
        quote_budget = value_budget - discord_len(tail)
    return name, fit(quote.text, max(quote_budget, 1)) + tail


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def answer_footer(newest: str | None, language: str = "en") -> str:
    """The footer, saying how recent the index is when any article is dated."""
    if newest and _DATE.fullmatch(newest):
        return messages.localise(messages.ANSWER_FOOTER_NEWEST, language).format(newest=newest)
    return messages.localise(messages.ANSWER_FOOTER, language)


def answer_reply(answer: Answer, *, newest: str | None = None, first_number: int = 1,
                 content: str | None = None) -> Reply:
    """The reply to one question: numbered, cited quotes in one embed, or a constant decline.

    `newest`: the newest published date in the index (the footer says "articles up to" it);
    `first_number`: the number of the first quote (a "More quotes" page goes on counting);
    `content`: a template line above the embed (e.g. who shared it).
    """
    quotes = answer.quotes[:MAX_QUOTES]
    language = question_language(answer.question)
    if not answer.answered or not quotes:
        return notice(messages.no_answer(answer.reason, language))
    title = messages.localise(messages.ANSWER_TITLE, language)
    footer = answer_footer(newest, language)
    embed = discord.Embed(title=title, colour=discord.Colour.dark_teal())
    embed.set_footer(text=footer)
    overhead = discord_len(title) + discord_len(footer)
    names_budget = len(quotes) * QUOTE_NAME_BUDGET
    per_value = min(FIELD_VALUE_LIMIT, (MESSAGE_EMBEDS_TOTAL - overhead - names_budget) // len(quotes))
    for number, quote in enumerate(quotes, start=first_number):
        name, value = quote_field(number, quote, per_value)
        embed.add_field(name=name, value=value, inline=False)
    return Reply(content=content[:CONTENT_LIMIT] if content else None, embeds=[embed])


def message_body(answer: Answer, *, newest: str | None = None) -> dict[str, Any]:
    """The embed part of what the bot sends for `answer` (`views.answer_body` adds the buttons)."""
    return answer_reply(answer, newest=newest).to_dict()


def paragraph_reply(title: str, source: str, number: int, text: str, url: str | None) -> Reply:
    """A quote's whole paragraph, verbatim (shortened with an ellipsis only past Discord's limit)."""
    heading = fit(title, EMBED_TITLE_LIMIT) or messages.SOURCES_UNTITLED
    citation = citation_line(source, number, None, None, None)
    room = EMBED_DESCRIPTION_LIMIT - discord_len(citation) - 1
    embed = discord.Embed(title=heading, description=fit(text, room) + "\n" + citation,
                          colour=discord.Colour.dark_teal())
    link = safe_url(url)
    if link:
        embed.url = link
    return Reply(content=None, embeds=[embed])


# --- /sources ------------------------------------------------------------------------------------
def sources_pages(report: SourcesReport) -> list[Reply]:
    """One ephemeral embed per page listing the indexed articles; pages stay within the limits."""
    summary = messages.SOURCES_SUMMARY.format(
        articles=len(report.articles),
        passages=report.passages,
        model=fit(report.model, 200),
        dimension=report.dimension,
        index_kind=fit(report.index_kind, 40),
        built_at=fit(report.built_at, 60),
    )
    if report.seeds_changed:
        summary += "\n" + messages.SOURCES_STALE
    if (other := report.other_languages) is not None:
        summary += "\n" + messages.SOURCES_OTHER.format(
            articles=len(other.articles), passages=other.passages, model=fit(other.model, 200),
            built_at=fit(other.built_at, 60))
        if other.seeds_changed and not report.seeds_changed:
            summary += "\n" + messages.SOURCES_STALE
    if not report.articles:
        summary += "\n" + messages.SOURCES_EMPTY

    rows = [
        (
            fit(article.title, FIELD_NAME_LIMIT) or messages.SOURCES_UNTITLED,
            fit(
                messages.SOURCES_ITEM.format(
                    source=article.source, passages=article.passages, indexed_at=article.indexed_at
                ),
                FIELD_VALUE_LIMIT,
            ),
        )
        for article in report.articles
    ]
    footer_room = discord_len(messages.SOURCES_PAGE.format(page=9999, pages=9999))
    base = discord_len(messages.SOURCES_TITLE) + discord_len(summary) + footer_room
    pages: list[list[tuple[str, str]]] = [[]]
    used = base
    for name, value in rows:
        size = discord_len(name) + discord_len(value)
        if pages[-1] and (len(pages[-1]) >= ARTICLES_PER_PAGE or used + size > PAGE_TOTAL_BUDGET):
            pages.append([])
            used = base
        pages[-1].append((name, value))
        used += size

    replies: list[Reply] = []
    for number, page in enumerate(pages, start=1):
        embed = discord.Embed(title=messages.SOURCES_TITLE, description=summary, colour=discord.Colour.dark_teal())
        for name, value in page:
            embed.add_field(name=name, value=value, inline=False)
        if len(pages) > 1:
            embed.set_footer(text=messages.SOURCES_PAGE.format(page=number, pages=len(pages)))
        replies.append(Reply(content=None, embeds=[embed]))
    return replies


# --- /reindex ------------------------------------------------------------------------------------
def reindex_progress(stage: str, done: int, total: int) -> Reply:
    """The interim text shown while a rebuild runs."""
    return notice(messages.REINDEX_PROGRESS.format(stage=fit(stage, 40), done=done, total=total))


def _name_list(names: Sequence[str]) -> str:
    """Escaped names, one per line, within a field value; the overflow is counted."""
    if not names:
        return messages.REINDEX_NONE
    return lines_within([fit(name, 200) for name in names], FIELD_VALUE_LIMIT - 1)


def lines_within(lines: Sequence[str], budget: int) -> str:
    """As many of `lines` as fit in `budget` (Discord's count), then "…and N more" for the rest."""
    shown: list[str] = []
    used = 0
    for position, line in enumerate(lines):
        more = messages.LIST_MORE.format(count=len(lines) - position)
        if used + discord_len(line) + 1 + discord_len(more) > budget:
            shown.append(more)
            break
        shown.append(line)
        used += discord_len(line) + 1
    return "\n".join(shown)


def reindex_reply(report: ReindexReport) -> Reply:
    """What a rebuild changed: added/removed/changed articles, passages before → after, time."""
    embed = discord.Embed(title=messages.REINDEX_TITLE, colour=discord.Colour.dark_teal())
    seconds = report.seconds if math.isfinite(report.seconds) else 0.0
    embed.description = messages.REINDEX_SECONDS.format(seconds=seconds)
    embed.add_field(name=messages.REINDEX_ADDED, value=_name_list(report.added), inline=False)
    embed.add_field(name=messages.REINDEX_REMOVED, value=_name_list(report.removed), inline=False)
    embed.add_field(name=messages.REINDEX_CHANGED, value=_name_list(report.changed), inline=False)
    embed.add_field(
        name=messages.REINDEX_PASSAGES,
        value=messages.REINDEX_PASSAGES_VALUE.format(
            before=report.passages_before,
            after=report.passages_after,
            embedded=report.embedded,
            unchanged=report.unchanged,
        ),
        inline=False,
    )
    if report.skipped:
        skipped = [messages.SKIPPED_ITEM.format(source=item.source, reason=item.reason) for item in report.skipped]
        embed.add_field(name=messages.REINDEX_SKIPPED, value=_name_list(skipped), inline=False)
    return Reply(content=None, embeds=[embed])
