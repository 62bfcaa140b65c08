"""The Discord message bodies: only quotes and constants, inert text, always within Discord's limits.

These are pure tests of `bot.discord.payload`; hypothesis throws hostile article text at it
(mass mentions, role/user/channel mentions, masked links, code fences, RTL and zero-width
characters, 10,000-character runs) and checks every body against Discord's limits.
"""

from __future__ import annotations

import json
import re

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import messages
from bot.discord import payload as dp
from bot.engine.models import Answer, Citation, IndexedArticle, Quote, ReindexReport, Skipped, SourcesReport
from discord_harness import SEEDS, FakeEngine, load_seed
from payload_checks import citation_tail, limit_violations, unescape

NONE = {"parse": []}

HOSTILE_PIECES = [
    "@everyone", "@here", "<@123>", "<@!123456789012345678>", "<@&123>", "<@&123456789012345678>",
    "<#123>", "</ask:1>", "<t:0:R>", "<:emoji:123>", "[x](http://evil.example)",
    "[click](<https://evil.example/a_b>)", "```", "```py\nprint(1)\n```", "`", "**", "__", "*", "_",
    "~~", "||", "\\", "\\\\", "> ", ">>> ", "# ", "## ", "-# ", "- ", "+ ", "1. ", "2003.", "\n", "\r\n",
    "\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d", "\u200f", "\ufeff", "\u00a0",
    "https://example.com/a_b~c", "http://x.y/@everyone", "http://x.y/<@1>", "mailto:a@b.c", " ", "  ",
    "ñ", "😀", "👨\u200d👩\u200d👧", "مرحبا", "שלום", "…", " …", ":", "'", '"',
]

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=12)), max_size=25
).map("".join)
long_text = st.builds(lambda piece, n: (piece + " ") * n, hostile_text, st.integers(0, 400)).map(
    lambda text: text[:10_000]
)
any_text = st.one_of(hostile_text, long_text)

citations = st.builds(
    Citation,
    source=hostile_text,
    title=hostile_text,
    start=st.integers(0, 10**6),
    end=st.integers(0, 10**6),
    paragraph=st.integers(1, 10**6),
)
quotes = st.builds(
    Quote,
    text=any_text,
    source=st.one_of(hostile_text, long_text.map(lambda text: text[:600])),
    title=hostile_text,
    start=st.integers(0, 10**6),
    end=st.integers(0, 10**6),
    paragraph=st.integers(1, 10**6),
    score=st.floats(-1, 1),
    also_in=st.lists(citations, max_size=4).map(tuple),  # 30: explicit test below
)
answers = st.builds(
    Answer,
    question=hostile_text,
    answered=st.just(True),
    quotes=st.lists(quotes, min_size=1, max_size=5).map(tuple),  # 10+ quotes: explicit test below
)

def assert_inert(text: str) -> None:
    """Every markdown/mention character is backslash-escaped, and so is the colon of every `scheme://`
    (Discord links `https://…` only when it is written out whole: `https\\://…` is shown as text)."""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            assert index + 1 < len(text), f"dangling backslash in {text!r}"
            index += 2
            continue
        assert char not in "*_~`|[]<>@", f"raw {char!r} at {index} in {text!r}"
        assert not text.startswith("://", index), f"a live link at {index} in {text!r}"
        index += 1


def strings_of(body: dict) -> list[str]:
    """Every text a person reads in a body."""
    out = [body.get("content") or ""]
    for embed in body["embeds"]:
        out += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text") or ""]
        for item in embed.get("fields", []):
            out += [item["name"], item["value"]]
    return out


def check_quote_value(quote: Quote, value: str) -> None:
    """The quote part of a field is the exact slice, or a whitespace-trimmed prefix + ELLIPSIS."""
    tail = citation_tail(quote, value)
    shown = value[: len(value) - len(tail)]
    if unescape(shown) == quote.text:
        return
    assert shown.endswith(messages.ELLIPSIS) or shown == messages.ELLIPSIS.strip(), repr(shown)
    if shown == messages.ELLIPSIS.strip():
        return
    prefix = unescape(shown[: -len(messages.ELLIPSIS)])
    assert quote.text.startswith(prefix), (prefix, quote.text)
    assert prefix == prefix.rstrip()


# --- real answers -------------------------------------------------------------------------------
def test_answer_layout_numbered_quotes_with_citations_and_also_in() -> None:
    engine = FakeEngine()
    answer = engine.ask("What did Maliki say about American interference?")
    body = dp.message_body(answer)
    assert body["content"] is None
    assert body["allowed_mentions"] == NONE
    [embed] = body["embeds"]
    assert embed["title"] == messages.ANSWER_TITLE
    assert embed["footer"]["text"] == messages.ANSWER_FOOTER
    assert len(embed["fields"]) == len(answer.quotes)
    for number, (quote, item) in enumerate(zip(answer.quotes, embed["fields"]), start=1):
        assert item["name"] == f"{number}. " + dp.neutralise(quote.title)
        assert item["value"].startswith(dp.neutralise(quote.text) + "\n")
        assert messages.CITATION.format(source=dp.neutralise(quote.source), paragraph=quote.paragraph) in item["value"]
        check_quote_value(quote, item["value"])
        # the quote shown is verbatim from the seed file at the cited offsets
        article = load_seed(SEEDS / quote.source)
        assert article.text[quote.start : quote.end] == quote.text
    first = embed["fields"][0]["value"]
    also = answer.quotes[0].also_in[0]
    assert "Also in: " + dp.neutralise(also.title) in first
    assert dp.neutralise(also.source) in first and f"paragraph {also.paragraph}" in first
    assert limit_violations(body) == []
    json.dumps(body)  # the CLI prints it as JSON


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (Answer("pizza?", False, reason="declined"), messages.DECLINE),
        (Answer("   ", False, reason="empty"), messages.EMPTY_QUESTION),
        (Answer("q", False, reason="no-index"), messages.NO_INDEX),
        (Answer("q", False, reason=None), messages.DECLINE),
        (Answer("q", True, quotes=()), messages.DECLINE),
    ],
)
def test_declines_are_fixed_templates(answer: Answer, text: str) -> None:
    assert dp.message_body(answer) == {"content": text, "embeds": [], "allowed_mentions": NONE}


def test_body_matches_what_discord_py_serialises() -> None:
    """`message_body` is built from the same Reply the cog sends."""
    answer = FakeEngine().ask("Maliki")
    reply = dp.answer_reply(answer)
    kwargs = reply.send_kwargs()
    assert kwargs["allowed_mentions"].to_dict() == NONE
    assert [embed.to_dict() for embed in kwargs["embeds"]] == dp.message_body(answer)["embeds"]
    assert all(isinstance(embed, discord.Embed) for embed in kwargs["embeds"])


# --- neutralising -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("@everyone and @here", "\\@everyone and \\@here"),
        ("<@123> <@&45> <#6>", "\\<\\@123\\> \\<\\@&45\\> \\<#6\\>"),
        ("[x](http://evil.example)", "\\[x\\](http\\://evil.example)"),
        ("```py\ncode```", "\\`\\`\\`py\ncode\\`\\`\\`"),
        ("# Big\n-# small\n> quoted\n12. listed", "\\# Big\n\\-# small\n\\> quoted\n12\\. listed"),
        ("||spoiler|| **bold** _it_ ~~s~~", "\\|\\|spoiler\\|\\| \\*\\*bold\\*\\* \\_it\\_ \\~\\~s\\~\\~"),
        ("see https://example.com/a_b~c.", "see https\\://example.com/a\\_b\\~c."),
        ("HTTPS://x.y/@everyone steam://run/1", "HTTPS\\://x.y/\\@everyone steam\\://run/1"),
        ("a\\b", "a\\\\b"),
        ("\u202eevil\u200b", "\u202eevil\u200b"),  # kept: part of the exact slice
    ],
)
def test_neutralise_examples(raw: str, shown: str) -> None:
    assert dp.neutralise(raw) == shown
    assert unescape(shown) == raw


def test_no_url_in_a_quote_renders_as_a_link() -> None:
    """The README's promise: no injected link renders, bare or masked. Shown as the source wrote it."""
    article = "Details at https://evil.example/login?next=a_b and [the ministry](https://evil.example/x)."
    quote = Quote(article, "a.txt", "Headline https://evil.example", 0, len(article), 1, 0.9)
    body = dp.message_body(Answer("q", True, (quote,)))
    for text in strings_of(body):
        assert_inert(text)
        assert not re.search(r"(?<!\\)https?://", text, re.IGNORECASE), text
    [field] = body["embeds"][0]["fields"]
    assert unescape(field["value"]).startswith(article)  # every character reads as written


@given(any_text)
@settings(max_examples=300, deadline=None)
def test_neutralise_round_trips_and_is_inert(text: str) -> None:
    shown = dp.neutralise(text)
    assert unescape(shown) == text
    assert_inert(shown)


@given(any_text, st.integers(1, 1100))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fit_is_a_prefix_within_budget(text: str, budget: int) -> None:
    shown = dp.fit(text, budget)
    assert dp.discord_len(shown) <= budget
    assert_inert(shown)
    if unescape(shown) != text:
        assert shown.endswith(messages.ELLIPSIS) or shown == messages.ELLIPSIS.strip()
        if shown.endswith(messages.ELLIPSIS):
            assert text.startswith(unescape(shown[: -len(messages.ELLIPSIS)]))


def test_long_quote_is_cut_at_a_word_boundary() -> None:
    article = load_seed(SEEDS / "000_389047a5565d4974.txt")
    text = article.text * 4  # ~12,000 characters of real prose
    quote = Quote(text, article.source, article.title, 0, len(text), 1, 0.9)
    body = dp.message_body(Answer("q", True, (quote,)))
    value = body["embeds"][0]["fields"][0]["value"]
    assert dp.discord_len(value) <= dp.FIELD_VALUE_LIMIT
    shown = value[: len(value) - len(citation_tail(quote, value))]
    assert shown.endswith(messages.ELLIPSIS)
    prefix = unescape(shown[: -len(messages.ELLIPSIS)])
    assert text.startswith(prefix)
    assert text[len(prefix)].isspace()  # the cut fell on whitespace
    assert len(prefix) > 700  # and the quote still uses most of the room


# --- hostile answers ---------------------------------------------------------------------------------
@given(answers)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_hostile_answers_ping_nobody_and_fit(answer: Answer) -> None:
    body = dp.message_body(answer)
    assert body["allowed_mentions"] == NONE
    assert limit_violations(body) == [], limit_violations(body)
    json.dumps(body)
    [embed] = body["embeds"]
    shown_quotes = answer.quotes[: dp.MAX_QUOTES]
    assert len(embed["fields"]) == len(shown_quotes)
    for number, (quote, item) in enumerate(zip(shown_quotes, embed["fields"]), start=1):
        assert item["name"].startswith(f"{number}. ")
        assert_inert(item["name"][len(f"{number}. ") :])
        check_quote_value(quote, item["value"])
    for text in strings_of(body):
        assert not re.search(r"(?<!\\)@(everyone|here)", text)
        assert not re.search(r"(?<!\\)<[@#/:at]", text)


def test_ten_long_quotes_with_many_also_in_fit_one_message() -> None:
    long = "word " * 2000
    also = tuple(Citation(f"file_{i}.txt", "Headline " * 40, 0, 1, i + 1) for i in range(30))
    quote = Quote(long, "x" * 300 + ".txt", "T" * 400, 0, len(long), 3, 0.5, also)
    body = dp.message_body(Answer("q", True, (quote,) * 12))
    assert limit_violations(body) == []
    assert len(body["embeds"][0]["fields"]) == dp.MAX_QUOTES
    for item in body["embeds"][0]["fields"]:
        check_quote_value(quote, item["value"])


# --- /sources and /reindex bodies -----------------------------------------------------------------------
def _report(n: int, *, stale: bool = False, title: str = "Headline") -> SourcesReport:
    articles = tuple(IndexedArticle(f"dir/{i:04d}_@everyone.txt", f"{title} {i}", i, "0" * 64, "2025-01-01T00:00:00Z") for i in range(n))
    return SourcesReport("bundled:all-MiniLM-L6-v2", 384, "2025-01-01T00:00:00Z", 1, 3 * n, articles, stale)


@pytest.mark.parametrize("count", [0, 1, 10, 11, 57])
def test_sources_pages_fit_and_cover_every_article(count: int) -> None:
    pages = dp.sources_pages(_report(count, stale=True))
    assert len(pages) == max(1, -(-count // dp.ARTICLES_PER_PAGE))
    listed = []
    for number, page in enumerate(pages, start=1):
        body = page.to_dict()
        assert limit_violations(body) == []
        [embed] = body["embeds"]
        assert messages.SOURCES_STALE in embed["description"]
        listed += [unescape(item["name"]) for item in embed.get("fields", [])]
        if len(pages) > 1:
            assert embed["footer"]["text"] == messages.SOURCES_PAGE.format(page=number, pages=len(pages))
        for text in strings_of(body):
            assert "\\@everyone" in text or "@everyone" not in text
    assert listed == [f"Headline {i}" for i in range(count)]


def test_sources_pages_name_the_index_for_other_languages_and_whether_it_is_stale() -> None:
    from dataclasses import replace

    other = replace(_report(3, stale=True), model="bundled:multilingual-e5-small+onnx-int8", passages=29)
    [page] = dp.sources_pages(replace(_report(3), other_languages=other))
    description = page.to_dict()["embeds"][0]["description"]
    assert "Questions in other languages: 3 articles, 29 passages. Model bundled:multilingual-e5-small" in description
    assert messages.SOURCES_STALE in description  # only the second index is behind the seeds
    assert "other languages" not in dp.sources_pages(_report(3))[0].to_dict()["embeds"][0]["description"]


def test_sources_pages_respect_total_size_with_huge_titles() -> None:
    pages = dp.sources_pages(_report(40, title="H" * 3000))
    for page in pages:
        assert limit_violations(page.to_dict()) == []


def test_reindex_report_fits_and_lists_changes() -> None:
    names = tuple(f"seeds/{i:05d}_<@&1>_article.txt" for i in range(500))
    report = ReindexReport(
        added=names, removed=("gone.txt",), changed=(), unchanged=3, passages_before=10, passages_after=2010,
        embedded=2000, seconds=12.34, skipped=(Skipped("big.txt", "larger than MAX_FILE_BYTES"),),
    )
    body = dp.reindex_reply(report).to_dict()
    assert limit_violations(body) == []
    [embed] = body["embeds"]
    fields = {item["name"]: item["value"] for item in embed["fields"]}
    assert fields[messages.REINDEX_REMOVED] == "gone.txt"
    assert fields[messages.REINDEX_CHANGED] == messages.REINDEX_NONE
    assert fields[messages.REINDEX_ADDED].endswith("more")
    assert "10 → 2010" in fields[messages.REINDEX_PASSAGES]
    assert embed["description"] == "Took 12.3 s"
    assert "big.txt" in fields[messages.REINDEX_SKIPPED]
    assert dp.reindex_progress("embedding", 5, 10).to_dict()["content"] == "Reindexing… embedding: 5/10"
