"""The Discord layer under load and under hostile text, with the real engine.

* Load: 200 concurrent /ask interactions through the real command tree (tests/discord_harness.py)
  measured by `loadtest.run_load`: one reply each (quotes or a private "busy"), no errors, and
  the event loop is never blocked for 100 ms.
  A separate test shows the long-lived heap (model, index) is frozen out of the garbage
  collector's way: a full collection over it stalled the loop for ~300 ms before (see `frozen_heap`).
* Hostile articles: a real index over articles full of mentions, masked links, code fences,
  spoilers, headings, bidi and zero-width characters and a 3,000+ character sentence. The quotes
  the bot shows must ping nobody, render inert, fit Discord, and unescape to a prefix of the exact
  slice of the file on disk.
* Hostile questions (Hypothesis): random unicode, controls, mentions, links, up to 100,000
  characters. Every reply fits, pings nobody and renders nothing live.

Every recorded request is checked by the `fake` fixture (see `assert_safe`).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from bot import messages
from bot.config import Settings, load_settings
from bot.discord import payload as dp
from bot.discord.payload import message_body
from bot.engine.engine import Engine
from bot.engine.models import Answer, Quote
from conftest import DEV_QA
from discord_harness import (
    BOT_ID,
    EPHEMERAL,
    NONE_MENTIONS,
    USER_ID,
    AskLoad,
    Request,
    TimedFakeDiscord,
    dispatch_message,
    make_settings,
    mention_message,
    run_interaction,
    running_bot,
    slash_payload,
)
from loadtest import LoadReport, classify, run_load
from payload_checks import citation_tail, limit_violations, unescape

REPLY_MENTIONS = {"parse": [], "replied_user": False}  # a reply to a message: and don't ping its author
LOAD = 200
LOOP_BUDGET_MS = 100.0
ACK_DEADLINE_S = 3.0  # Discord drops an interaction that is not acknowledged within 3 s
DEFAULT_SLOTS = Settings.model_fields["max_concurrent_asks"].default
DEFAULT_COOLDOWN = Settings.model_fields["ask_cooldown_seconds"].default
SLASH_OPTION_LIMIT = 6000  # what Discord lets into a string option
MENTION_LIMIT = 4000  # the longest message a (Nitro) user can send

DEV_QUESTIONS = [json.loads(line)["question"] for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- checking what people would see -----------------------------------------------------------------
_NEVER_RAW = frozenset("\\@<>[]`|*_~")  # neutralise escapes these everywhere


def live_markup(text: str) -> list[str]:
    """Places where `text` would render something live: an unescaped mention/link/format character,
    a heading/list/quote marker at a line start, or a `scheme://` that Discord would make a link. Empty when everything shows as written."""
    found: list[str] = []
    line_start = True
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 2  # an escaped character is shown as itself
            line_start = False
            continue
        if char in _NEVER_RAW or (line_start and char in "#->") or text.startswith("://", index):
            found.append(repr(text[max(0, index - 20) : index + 20]))
        if char == "\n":
            line_start = True
        elif char not in " \t":
            line_start = False
        index += 1
    return found


def rendered_texts(body: dict[str, Any]) -> list[str]:
    """Every string of a message body that Discord renders as markdown."""
    texts = [body.get("content") or ""]
    for embed in body.get("embeds") or []:
        texts += [embed.get("title") or "", embed.get("description") or ""]
        texts += [(embed.get("footer") or {}).get("text") or "", (embed.get("author") or {}).get("name") or ""]
        for item in embed.get("fields") or []:
            texts += [item.get("name") or "", item.get("value") or ""]
    return texts


def assert_body_safe(body: dict[str, Any], mentions: dict[str, Any] = NONE_MENTIONS) -> None:
    """Pings nobody, fits Discord, renders no live mention, link or formatting."""
    assert body.get("allowed_mentions") == mentions, body.get("allowed_mentions")
    assert limit_violations(body) == []
    for text in rendered_texts(body):
        assert live_markup(text) == [], text[:300]


def message_requests(fake: TimedFakeDiscord) -> list[Request]:
    return [r for r in fake.requests if isinstance(r.body, dict) and {"content", "embeds"} & r.body.keys()]


def assert_safe(fake: TimedFakeDiscord) -> None:
    for request in message_requests(fake):
        assert_body_safe(request.body, REPLY_MENTIONS if request.kind == "channel_message" else NONE_MENTIONS)


@pytest.fixture
def fake() -> Iterator[TimedFakeDiscord]:
    recorder = TimedFakeDiscord()
    yield recorder
    assert_safe(recorder)


def bot_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR anywhere, or a WARNING from the bot (a reply it could not send)."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or (r.levelno >= logging.WARNING and r.name.startswith("bot"))
    ]


class CountingEngine:
    """Passes questions to the real engine and counts them: "busy" must not cost an engine call."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.calls = 0
        self._lock = threading.Lock()  # called from worker threads

    def ask(self, question: str, **kwargs: Any) -> Answer:
        with self._lock:
            self.calls += 1
        return self.inner.ask(question, **kwargs)

    def __getattr__(self, name: str) -> Any:  # the rest of the engine (newest_published, article_keys...)
        return getattr(self.inner, name)


def report_properties(report: LoadReport, record_property: Any, prefix: str) -> None:
    print(f"\n[{prefix}] {report.summary()}")
    for name in ("count", "answered", "declined", "busy", "cooldown", "error", "p50_ms", "p99_ms", "max_ms", "max_gap_ms", "max_gc_ms"):
        record_property(f"{prefix}_{name}", round(getattr(report, name), 1))


# --- 1. load ----------------------------------------------------------------------------------------
@contextmanager
def frozen_heap() -> Iterator[None]:
    """Unless the bot already did, take everything loaded so far out of the cyclic collector's way.

    A full collection over the loaded model (~500k objects) holds the GIL for ~300 ms here and, if
    it falls inside a load run, shows up as one long event-loop gap that says nothing about the bot's
    own code. That pause is the subject of `test_loaded_model_and_index_are_frozen_out_of_the_collector`
    (a bot bug until QuoteBot.setup_hook freezes the heap); once the bot freezes it, this does
    nothing and the load tests measure the collector too.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture(scope="module")
def answered_questions(engine: Engine) -> dict[str, dict[str, Any]]:
    """Dev questions the real engine answers with quotes, and the exact body each one gets."""
    bodies = {question: message_body(engine.ask(question), newest=engine.newest_published()) for question in DEV_QUESTIONS}
    answered = {question: body for question, body in bodies.items() if body["embeds"]}
    assert len(answered) >= 5
    return answered


async def _load(engine: Engine, slots: int, answered_questions: dict[str, dict[str, Any]], fake: TimedFakeDiscord,
                monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> LoadReport:
    """200 /asks from 200 users, each checked: exactly one final reply, the right one, acknowledged in time."""
    questions = list(answered_questions)
    counting = CountingEngine(engine)
    # the production cooldown: 200 different users must not slow each other down
    settings = make_settings(max_concurrent_asks=slots, ask_cooldown_seconds=DEFAULT_COOLDOWN)
    with caplog.at_level(logging.WARNING):
        async with running_bot(counting, settings, fake, monkeypatch) as bot:
            load = AskLoad(bot, fake, lambda index: questions[index % len(questions)])
            with frozen_heap():
                report = await run_load(load, LOAD)

    assert report.count == len(load.payloads) == LOAD
    for index, payload in load.payloads.items():
        question = questions[index % len(questions)]
        timed = fake.for_token(payload["token"])
        requests = [request for _, request in timed]
        kinds = [request.kind for request in requests]
        assert timed[0][0] - load.started[index] < ACK_DEADLINE_S  # acknowledged in time, even when queued
        if kinds == ["callback"]:  # no slot: a private, polite "busy" and nothing else
            [busy] = requests
            assert busy.json["type"] == 4 and busy.flags == EPHEMERAL
            assert busy.body["content"] == messages.BUSY
        else:  # public "thinking…", then exactly this question's quotes (not another user's)
            assert kinds == ["callback", "followup"], kinds
            defer, followup = requests
            assert defer.json == {"type": 5}
            assert not followup.ephemeral
            body = {key: followup.json.get(key) for key in ("content", "embeds", "allowed_mentions")}
            assert body == answered_questions[question]
    assert bot_errors(caplog) == []
    assert (report.error, report.cooldown, report.other, report.missing, report.declined) == (0, 0, 0, 0, 0)
    assert report.answered + report.busy == LOAD
    assert counting.calls == report.answered  # a "busy" question never reached the engine
    return report


async def test_200_concurrent_asks_with_default_slots(
    engine: Engine, answered_questions: dict[str, dict[str, Any]], fake: TimedFakeDiscord,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, record_property: Any,
) -> None:
    report = await _load(engine, DEFAULT_SLOTS, answered_questions, fake, monkeypatch, caplog)
    report_properties(report, record_property, f"slots{DEFAULT_SLOTS}")
    assert report.answered >= DEFAULT_SLOTS
    assert report.max_gap_ms < LOOP_BUDGET_MS, report.summary()


async def test_200_concurrent_asks_all_answered_with_200_slots(
    engine: Engine, answered_questions: dict[str, dict[str, Any]], fake: TimedFakeDiscord,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, record_property: Any,
) -> None:
    report = await _load(engine, LOAD, answered_questions, fake, monkeypatch, caplog)
    report_properties(report, record_property, f"slots{LOAD}")
    assert report.answered == LOAD and report.busy == 0
    assert report.max_gap_ms < LOOP_BUDGET_MS, report.summary()


TRACKED_OBJECTS_BUDGET = 100_000  # a full collection over ~500k objects took ~300 ms on this machine


async def test_loaded_model_and_index_are_frozen_out_of_the_collector(
    engine: Engine, fake: TimedFakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's full (generation 2) collection walks every tracked object while holding the GIL, and
    usually runs on the event-loop thread, the one allocating most. With the model and index loaded
    that is ~500k objects: one collection blocked the loop for 250-370 ms in load runs here, more
    than the 100 ms budget. Once set up, the bot has frozen its long-lived heap."""
    async with running_bot(engine, make_settings(), fake, monkeypatch):
        tracked = len(gc.get_objects())  # what a full collection has to traverse (frozen objects excluded)
        started = time.perf_counter()
        gc.collect()
        took_ms = (time.perf_counter() - started) * 1000
    print(f"\nafter setup: {tracked} tracked objects, a full collection took {took_ms:.0f} ms")
    assert tracked < TRACKED_OBJECTS_BUDGET


async def test_a_rebuilt_index_is_frozen_out_of_the_collector_too(
    fresh_settings: Settings, embedder: Any, fake: TimedFakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After /reindex the new index lives until the next one, like the first: it is frozen as well,
    so a full collection does not walk it on the loop thread (the replaced one is simply freed)."""
    from discord_harness import ADMIN_ROLE_ID

    engine = Engine.open(fresh_settings, embedder=embedder)
    (fresh_settings.seeds_dir / "later.txt").write_text("Later story\n\nTalks resumed in Muscat on Monday.\n")
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        first = engine.index
        await run_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        assert engine.index is not first and len(engine.index.articles) == len(first.articles) + 1
        tracked = {id(obj) for obj in gc.get_objects()}  # what a full collection walks
        assert id(engine.index.articles) not in tracked and id(engine.index.articles.metas) not in tracked


# --- 2. hostile articles ---------------------------------------------------------------------------
LONG_SENTENCE = (
    "The Zorbin canal dredging report, which the council commissioned after the spring floods and which "
    "@everyone in ZORBINTON was asked to read, found that "
    + ", ".join(
        f"section {n} of the Zorbin canal beside the {name} lock needed {n * 3} tonnes of silt removed"
        for n, name in zip(range(1, 61), ["north", "mill", "harbour", "<@&777>", "old", "[x](https://evil.example/s)"] * 10)
    )
    + "."
)
assert len(LONG_SENTENCE) > 3000  # the engine cuts a run-on sentence this long into exact pieces

# ~1,500 characters but few tokens: stays one sentence, longer than a field, so it is shown cut
_WORDS = (
    "international administration infrastructure responsibilities environmental considerations comprehensive "
    "investigation representatives construction professional development organisations independently established"
).split()
RESOLUTION = (
    "The Zorbin council resolution on canal maintenance, shared with @everyone and __underlined__ for <@&555>, "
    "declared that " + " ".join(_WORDS[i % len(_WORDS)] for i in range(95)) + " would guide the ~~struck~~ dredging plan."
)
assert len(RESOLUTION) > dp.FIELD_VALUE_LIMIT

HOSTILE_ARTICLES = {
    "zorbin_festival.txt": (
        "Zorbin lake festival draws @everyone and <@&123> to the shore\n"
        "ZORBINTON - The Zorbin lake festival opened on Saturday with a record crowd of 40,000 visitors, organisers said.\n"
        "Festival director Anja Pellworth said @everyone is welcome at the Zorbin lake festival and @here we mean everybody in town.\n"
        "The organisers pinged <@123456789012345678> and the role <@&123> in the channel <#123> to announce the Zorbin fireworks schedule.\n"
        "Tickets for the Zorbin lake festival can be bought online at [click](https://evil.example) or https://evil.example/tickets_2026 before the gates open.\n"
        "# Zorbin lake festival fireworks begin at nine o'clock on the north shore\n"
        "The winner of the Zorbin boat race was ||Team Heron|| and the race log read ```rm -rf /``` in the programme.\n"
        "The Zorbin mayor's welcome was printed with a right-to-left override \u202eevad lanif\u202c and the word "
        "fes\u200btival\u200d had zero\ufeffwidth characters in it.\n"
    ),
    "zorbin_canal.md": (
        "# Zorbin canal report <#123> [map](https://evil.example/map) **bold**\n"
        "ZORBINTON - " + LONG_SENTENCE + "\n"
        "> The council said the Zorbin canal dredging would cost 2 million crowns.\n"
        "- Residents near the Zorbin canal complained about the dredging noise at night.\n"
        + RESOLUTION + "\n"
    ),
}

HOSTILE_QUESTIONS = [
    "Who did the Zorbin lake festival director say is welcome?",
    "Who did the Zorbin festival organisers ping about the fireworks schedule?",
    "Where can tickets for the Zorbin lake festival be bought?",
    "When do the Zorbin lake festival fireworks begin?",
    "Who won the Zorbin boat race?",
    "How was the Zorbin mayor's welcome printed?",
    "How much silt did the Zorbin canal dredging report say must be removed?",
    "What did residents and the council say about the Zorbin canal dredging?",
    "What did the Zorbin council resolution on canal maintenance declare?",
]

# hostile text that must reach the reader (unescaped, it is really in the quotes or headlines shown)
HOSTILE_MARKS = [
    "@everyone", "@here", "<@123456789012345678>", "<@&123>", "<#123>", "[click](https://evil.example)",
    "```", "||", "# Zorbin", "\u202e", "\u200b", "[map](https://evil.example/map)", "**bold**",
    "https://evil.example/tickets_2026",  # a bare URL: shown as written, never a link
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> tuple[Engine, Path]:
    seeds = tmp_path_factory.mktemp("hostile_seeds")
    for name, text in HOSTILE_ARTICLES.items():
        (seeds / name).write_bytes(text.encode("utf-8"))
    settings = load_settings(seeds_dir=seeds, index_dir=tmp_path_factory.mktemp("hostile_index"))
    return Engine.open(settings, embedder=embedder), seeds


def shown_quote(value: str, quote: Quote) -> tuple[str, bool]:
    """(the quote as a reader sees it, unescaped; whether it was shortened) from a field value."""
    shown = value[: len(value) - len(citation_tail(quote, value))]
    shortened = shown.endswith(messages.ELLIPSIS)
    if shortened:
        shown = shown[: -len(messages.ELLIPSIS)]
    return unescape(shown), shortened


async def test_hostile_articles_are_quoted_exactly_and_render_inert(
    hostile: tuple[Engine, Path], fake: TimedFakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, seeds = hostile
    files = {name: (seeds / name).read_bytes().decode("utf-8") for name in HOSTILE_ARTICLES}
    seen: list[str] = []  # everything a reader saw, unescaped
    shortened_any = False
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        for index, question in enumerate(HOSTILE_QUESTIONS):
            answer = engine.ask(question)
            assert answer.answered and answer.quotes, question
            mark = len(fake.requests)
            await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + index))
            await dispatch_message(bot, mention_message(bot, question, author_id=USER_ID + index))
            [followup] = [r for r in fake.requests[mark:] if r.kind == "followup"]
            [reply] = [r for r in fake.requests[mark:] if r.kind == "channel_message"]
            assert reply.json["embeds"] == followup.json["embeds"]
            [embed] = followup.json["embeds"]
            assert len(embed["fields"]) == len(answer.quotes)
            for number, (item, quote) in enumerate(zip(embed["fields"], answer.quotes), start=1):
                exact = files[quote.source][quote.start : quote.end]
                assert quote.text == exact
                text, shortened = shown_quote(item["value"], quote)
                assert text and exact.startswith(text), (text[:80], exact[:80])
                assert shortened or text == exact
                shortened_any |= shortened
                heading = f"{number}. "
                assert item["name"].startswith(heading)
                title = unescape(item["name"][len(heading) :].removesuffix(messages.ELLIPSIS))
                headline = files[quote.source].splitlines()[0]
                assert quote.title in headline and quote.title.startswith(title)
                seen += [text, title]
    everything = "\n".join(seen)
    assert [mark for mark in HOSTILE_MARKS if mark not in everything] == []
    assert LONG_SENTENCE[:200] in everything  # the run-on sentence was quoted (as exact pieces)
    assert RESOLUTION[:200] in everything and shortened_any  # the long sentence was shown, cut to fit
    # the `fake` fixture checks every body: pings nobody, fits, nothing renders live


# --- 3. hostile questions ------------------------------------------------------------------------
FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            "@everyone", "@here", "<@123>", "<@!123456789012345678>", f"<@{BOT_ID}>", "<@&123>", "<#123>",
            "[click](https://evil.example)", "https://evil.example/@everyone", "```py\nprint(1)\n```", "||x||",
            "# heading\n", "\n> quote", "-# small", "**", "\\", "\u202e", "\u202c", "\u200b", "\u200d", "\ufeff",
            "\x00", "\x1b[31m", "\r\n", "Maliki", "Trump", "Iraq prime minister", "What did Maliki say about Trump?",
        ]
    ),
    st.text(
        alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Lu", "Ll", "Lo", "Mn", "Nd", "Po", "Ps", "Pe", "Sm", "So"]),
        max_size=40,
    ),
)
LENGTHS = st.sampled_from([(0, 100), (0, 300), (301, SLASH_OPTION_LIMIT), (SLASH_OPTION_LIMIT + 1, 100_000)]).flatmap(
    lambda bounds: st.integers(*bounds)
)


LEADS = st.sampled_from(["", "What did Maliki say about Trump's threats? ", "Who is the US chargé d'affaires in Iraq? "])


def stretched(lead: str, parts: list[str], length: int) -> str:
    """`lead` (an on-topic question, or nothing) then `parts` repeated to `length` characters in all."""
    base = "".join(parts)
    if not base:
        return lead[:length]
    return (lead + base * math.ceil(length / len(base)))[:length]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(question=st.builds(stretched, LEADS, st.lists(FRAGMENTS, max_size=12), LENGTHS))
@example(question="What did Maliki say about Trump's threats? @everyone <@&123> [x](https://evil.example) ```\u202e\u200b")
@example(question=stretched("What did Maliki say about Trump's threats? ", ["@here <#123> ||x|| \u202e\x00 "], 100_000))
async def test_hostile_questions_get_safe_replies(engine: Engine, question: str) -> None:
    fake = TimedFakeDiscord()
    with pytest.MonkeyPatch.context() as monkeypatch:
        async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
            # what Discord would deliver: a string option is capped, and so is a message
            await run_interaction(bot, slash_payload("ask", {"question": question[:SLASH_OPTION_LIMIT]}))
            prefix = f"<@{BOT_ID}> "
            await dispatch_message(bot, mention_message(bot, question[: MENTION_LIMIT - len(prefix)]))
            # and the whole question (up to 100,000 characters) through the cog's own engine call
            whole = dp.answer_reply(await bot.get_cog("Ask").answer(question)).to_dict()
    assert [r.kind for r in fake.requests] == ["callback", "followup", "channel_message"]
    assert_safe(fake)
    assert_body_safe(whole)
    for body in [r.body for r in message_requests(fake)] + [whole]:
        assert classify([body]) in ("answered", "declined"), body.get("content")
    event(f"slash question {classify([fake.of_kind('followup')[0].body])}")  # --hypothesis-show-statistics
    event("over the slash limit" if len(question) > SLASH_OPTION_LIMIT else "within the slash limit")
