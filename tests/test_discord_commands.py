"""The bot end to end without Discord: real Interactions and Messages in, recorded HTTP out.

Interactions enter through discord.py's own INTERACTION_CREATE handler and messages through
`bot.dispatch`; only the HTTP layer is fake (see tests/discord_harness.py). Every test's recorded
traffic is checked by the `fake` fixture: nothing pings anybody and every body fits Discord.

The engine: tests written against the `bot_engine` fixture (ask, mention, dev questions,
questions during a reindex, event-loop heartbeat) run on the real engine over seeds/ and only
compare the bot's output with `message_body(engine.ask(q))`; DISCORD_TESTS_FAKE_ENGINE=1 runs them
on the canned `FakeEngine` instead. Tests that must control what the engine answers, raises or
takes use `FakeEngine` (or wrap an engine in `GatedEngine`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from discord.ext import commands

from bot import messages
from bot.discord import payload as dp
from bot.discord.client import LOGIN_FAILED, ShardedQuoteBot, command_payloads, create_bot, run_bot
from bot.discord.cogs import admin as admin_cog
from bot.discord.payload import message_body
from bot.engine.engine import ReindexInProgress
from bot.engine.models import Answer, Quote, ReindexReport
from conftest import DEV_QA
from discord_harness import (
    ADMIN_ROLE_ID,
    BOT_ID,
    EPHEMERAL,
    EVERYONE_PERMS,
    MOD_ROLE_ID,
    NONE_MENTIONS,
    OTHER_ROLE_ID,
    CHANNEL_ID,
    OTHER_USER_ID,
    USER_ID,
    Request,
    FakeDiscord,
    FakeEngine,
    GatedEngine,
    Heartbeat,
    button_payload,
    dispatch_message,
    make_settings,
    mention_message,
    perms,
    run_interaction,
    running_bot,
    slash_payload,
    start_interaction,
    wait_for_thread_event,
)
from payload_checks import limit_violations, unescape

# The real engine (real model, FAISS, BM25 over seeds/) by default; DISCORD_TESTS_FAKE_ENGINE=1
# swaps in the canned FakeEngine for quick iteration on the Discord layer alone.
USE_REAL_ENGINE = os.environ.get("DISCORD_TESTS_FAKE_ENGINE", "0") != "1"

DEV_QUESTIONS = [json.loads(line)["question"] for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
OFF_TOPIC = "What is the best recipe for banana bread?"

HOSTILE_QUESTIONS = [
    "@everyone @here what did Maliki say?",
    "<@123> <@!123456789012345678> <@&123> <#123> Maliki?",
    "[click me](http://evil.example) Maliki",
    "```py\nimport os\n``` Maliki ||spoiler|| **bold**",
    "\u202eMaliki\u202c \u200b\u200d\ufeff Trump",
    "# heading\n-# small\n> quote\n1. list Maliki",
    "Maliki " * 1430,  # ~10,000 characters
    "x" * 10_000,
]


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def bot_engine(request: pytest.FixtureRequest) -> Any:
    """The engine behind the answer-content tests: FakeEngine, or conftest's real `engine`."""
    if USE_REAL_ENGINE:
        return request.getfixturevalue("engine")  # real model, FAISS and BM25 over seeds/
    return FakeEngine()


def assert_pings_nobody_and_fits(fake: FakeDiscord) -> None:
    """Every message body sent: AllowedMentions.none() and within Discord's limits."""
    for request in fake.requests:
        body = request.body
        if not isinstance(body, dict) or not ({"content", "embeds"} & body.keys()):
            continue
        mentions = body.get("allowed_mentions")
        assert mentions is not None, request
        assert mentions.get("parse") == [], request
        assert not mentions.get("users") and not mentions.get("roles") and not mentions.get("replied_user")
        assert limit_violations(body) == [], (request.kind, limit_violations(body))


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    recorder = FakeDiscord()
    yield recorder
    assert_pings_nobody_and_fits(recorder)


def kinds(fake: FakeDiscord) -> list[str]:
    return [request.kind for request in fake.requests]


def only_callback(fake: FakeDiscord) -> Any:
    [request] = fake.requests
    assert request.kind == "callback"
    return request


def public_body(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body.get(key) for key in ("content", "embeds", "allowed_mentions")}


# --- 1. /ask -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sharded", [False, True])
async def test_ask_defers_then_sends_quotes_via_followup(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, sharded: bool) -> None:
    question = DEV_QUESTIONS[0]
    expected = message_body(bot_engine.ask(question), newest=bot_engine.newest_published())
    assert expected["embeds"], "the dev question should be answered with quotes"
    async with running_bot(bot_engine, make_settings(sharded=sharded), fake, monkeypatch) as bot:
        assert isinstance(bot, commands.AutoShardedBot) is sharded
        assert isinstance(bot, ShardedQuoteBot) is sharded
        await run_interaction(bot, slash_payload("ask", {"question": question}))
    assert kinds(fake) == ["callback", "followup"]
    defer, followup = fake.requests
    assert defer.json == {"type": 5}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, public
    assert not followup.ephemeral
    assert public_body(followup.json) == expected
    assert followup.json["allowed_mentions"] == NONE_MENTIONS


@pytest.mark.parametrize("question", DEV_QUESTIONS + [OFF_TOPIC])
async def test_dev_questions_send_exactly_message_body(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    expected = message_body(bot_engine.ask(question), newest=bot_engine.newest_published())
    async with running_bot(bot_engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": question}))
    followup = fake.of_kind("followup")[0]
    assert public_body(followup.json) == expected
    if question == OFF_TOPIC:
        assert expected == {"content": messages.DECLINE, "embeds": [], "allowed_mentions": NONE_MENTIONS}


async def test_faiss_searches_on_one_thread_inside_the_ask_workers(engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """Questions run in `asyncio.to_thread` workers; OpenMP's thread count is per OS thread, so the
    one-thread setting must reach them there, or concurrent questions oversubscribe the cores."""
    import faiss

    from bot.engine.ann import VectorIndex

    seen: list[tuple[int, int]] = []  # (thread id, FAISS threads) at each search
    real_search = VectorIndex.search

    def observed(self: VectorIndex, queries: Any, k: int) -> Any:
        seen.append((threading.get_ident(), faiss.omp_get_max_threads()))
        return real_search(self, queries, k)

    monkeypatch.setattr(VectorIndex, "search", observed)
    async with running_bot(engine, make_settings(max_concurrent_asks=4), fake, monkeypatch) as bot:
        await asyncio.gather(*(
            run_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + i))
            for i, question in enumerate(DEV_QUESTIONS[:4])
        ))
    workers = {ident for ident, _ in seen}
    assert seen and threading.get_ident() not in workers  # searched in worker threads, not here
    assert {threads for _, threads in seen} == {1}, seen
    assert len(fake.of_kind("followup")) == 4


async def test_busy_when_every_slot_is_taken(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    engine.ask_gate = threading.Event()
    async with running_bot(engine, make_settings(max_concurrent_asks=1), fake, monkeypatch) as bot:
        first = start_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
        await wait_for_thread_event(engine.ask_started)
        await run_interaction(bot, slash_payload("ask", {"question": "Trump?"}, user_id=OTHER_USER_ID))
        busy = fake.requests[-1]
        assert busy.kind == "callback" and busy.json["type"] == 4 and busy.ephemeral
        assert busy.body["content"] == messages.BUSY
        engine.ask_gate.set()
        await first
    assert engine.asked == ["Maliki?"]
    assert kinds(fake) == ["callback", "callback", "followup"]


async def test_a_busy_reply_does_not_start_the_cooldown(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """Told "busy, ask again in a moment", a member who asks again is answered, not refused for 10 s."""
    engine = FakeEngine()
    engine.ask_gate = threading.Event()
    settings = make_settings(max_concurrent_asks=1, ask_cooldown_seconds=30)
    async with running_bot(engine, settings, fake, monkeypatch) as bot:
        first = start_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
        await wait_for_thread_event(engine.ask_started)
        await run_interaction(bot, slash_payload("ask", {"question": "Trump?"}, user_id=OTHER_USER_ID))
        assert fake.requests[-1].body["content"] == messages.BUSY
        await dispatch_message(bot, mention_message(bot, "Iran?", author_id=OTHER_USER_ID + 1))
        assert fake.of_kind("channel_message")[-1].json["content"] == messages.BUSY
        engine.ask_gate.set()
        await first
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "Trump?"}, user_id=OTHER_USER_ID))
        await dispatch_message(bot, mention_message(bot, "Iran?", author_id=OTHER_USER_ID + 1))
        assert kinds(fake) == ["callback", "followup", "channel_message"]
        assert fake.requests[0].json["type"] == 5  # deferred: answered, not a cooldown notice
        assert fake.requests[2].json.get("embeds"), fake.requests[2].json  # quotes, not "Please wait"
        # and an answered question does start it
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "Trump again?"}, user_id=OTHER_USER_ID))
        assert fake.requests[-1].body["content"].startswith("Please wait")
    assert engine.asked == ["Maliki?", "Trump?", "Iran?"]


# --- 2. permissions ------------------------------------------------------------------------------
ALL = discord.Permissions.all().value

# (command, member permission bits, member role ids, allowed?)
PERMISSION_CASES = [
    # the server widened the commands to everyone in Integrations: Discord delivers them, we refuse
    ("sources", EVERYONE_PERMS, [], False),
    ("sources", EVERYONE_PERMS, [OTHER_ROLE_ID], False),
    ("reindex", EVERYONE_PERMS, [], False),
    ("reindex", perms(manage_messages=True), [MOD_ROLE_ID], False),  # moderators cannot rebuild
    # allowed by permission
    ("sources", perms(manage_messages=True), [], True),
    ("sources", perms(administrator=True), [], True),
    ("reindex", perms(administrator=True), [], True),
    ("reindex", perms(manage_guild=True), [], True),
    # allowed by configured role, without any permission
    ("sources", EVERYONE_PERMS, [MOD_ROLE_ID], True),
    ("sources", EVERYONE_PERMS, [ADMIN_ROLE_ID], True),  # admins count as moderators
    ("reindex", EVERYONE_PERMS, [ADMIN_ROLE_ID], True),
]


@pytest.mark.parametrize(("command", "bits", "roles", "allowed"), PERMISSION_CASES)
async def test_restricted_commands_check_permission_or_role_at_runtime(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, command: str, bits: int, roles: list[int], allowed: bool
) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        # app_permissions: the bot itself may do everything; that must not matter
        await run_interaction(bot, slash_payload(command, permissions=bits, roles=roles, app_permissions=ALL))
    first = fake.requests[0]
    assert first.kind == "callback"
    if allowed:
        assert first.json["type"] == 5 and first.ephemeral
        assert fake.requests[-1].kind in ("followup", "edit_original")
    else:
        assert only_callback(fake).json["type"] == 4 and first.ephemeral
        assert first.body["content"] == messages.NO_PERMISSION
        assert engine.generation == "old"  # nothing was rebuilt


@pytest.mark.parametrize("command", ["sources", "reindex"])
async def test_restricted_commands_refused_in_dms(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload(command, guild=False, app_permissions=ALL))
    request = only_callback(fake)
    assert request.json["type"] == 4 and request.ephemeral
    assert request.body["content"] == messages.GUILD_ONLY
    assert engine.generation == "old"


async def test_ask_works_in_dms(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(bot_engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": DEV_QUESTIONS[1]}, guild=False))
    assert kinds(fake) == ["callback", "followup"]
    assert public_body(fake.requests[1].json) == message_body(bot_engine.ask(DEV_QUESTIONS[1]), newest=bot_engine.newest_published())


def test_registered_commands_carry_default_permissions() -> None:
    payloads = {item["name"]: item for item in command_payloads(make_settings())}
    assert set(payloads) == {"ask", "sources", "reindex", "config", "Find sources", "gaps", "stats", "articles", "forget-me"}  # the new ones: test_discord_members.py, test_discord_records.py
    assert payloads["ask"]["default_member_permissions"] is None
    assert payloads["Find sources"]["type"] == 3  # a message context-menu command
    assert payloads["Find sources"]["default_member_permissions"] is None
    assert int(payloads["config"]["default_member_permissions"]) == perms(manage_guild=True)
    assert payloads["config"]["contexts"] == [0]
    assert int(payloads["sources"]["default_member_permissions"]) == perms(manage_messages=True)
    assert int(payloads["reindex"]["default_member_permissions"]) == perms(administrator=True)
    assert payloads["reindex"]["contexts"] == [0]  # guild only
    assert payloads["reindex"]["dm_permission"] is False
    assert [option["name"] for option in payloads["ask"]["options"]] == ["question", "private", "article"]
    article = payloads["ask"]["options"][2]
    assert article["autocomplete"] is True and article["required"] is False


# --- 3. cooldown ---------------------------------------------------------------------------------
async def test_cooldown_on_ask_is_per_user_and_shared_with_mentions(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(ask_cooldown_seconds=30), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "Maliki again?"}))
        refused = only_callback(fake)
        assert refused.json["type"] == 4
        assert refused.flags == EPHEMERAL
        assert re.fullmatch(messages.COOLDOWN.replace("{seconds}", r"(\d+)"), refused.body["content"])
        assert int(re.search(r"\d+", refused.body["content"]).group(0)) in (29, 30)
        fake.clear()
        await dispatch_message(bot, mention_message(bot, "Maliki via mention?"))
        [reply] = fake.of_kind("channel_message")
        assert reply.json["content"].startswith("Please wait")
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "Trump?"}, user_id=OTHER_USER_ID))
        assert kinds(fake) == ["callback", "followup"]  # another user is not slowed down
    assert engine.asked == ["Maliki?", "Trump?"]


# --- 4. @mention ---------------------------------------------------------------------------------
async def test_mention_replies_with_the_same_body_as_ask(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    question = DEV_QUESTIONS[2]
    async with running_bot(bot_engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": question}))
        slash_body = public_body(fake.of_kind("followup")[0].json)
        fake.clear()
        message = mention_message(bot, question)
        await dispatch_message(bot, message)
    [reply] = fake.of_kind("channel_message")
    assert reply.url.endswith(f"/channels/{message.channel.id}/messages")
    assert reply.json["message_reference"]["message_id"] == message.id
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert {key: reply.json[key] for key in ("content", "embeds")} == {key: slash_body[key] for key in ("content", "embeds")}
    assert public_body(reply.json)["embeds"] == message_body(bot_engine.ask(question), newest=bot_engine.newest_published())["embeds"]


async def test_mention_strips_the_bot_mention_in_both_forms(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await dispatch_message(bot, mention_message(bot, "What did Maliki say?"))
        await dispatch_message(bot, mention_message(bot, f"hey <@!{BOT_ID}> what did Trump say?"))
        await dispatch_message(bot, mention_message(bot, "", mention_bot=True))
    assert engine.asked == ["What did Maliki say?", "hey   what did Trump say?", ""]
    assert fake.of_kind("channel_message")[-1].json["content"] == messages.EMPTY_QUESTION


@pytest.mark.parametrize(
    "kwargs",
    [
        {"author_bot": True},  # other bots
        {"mention_bot": False},  # not addressed to us
        {"mention_bot": False, "mention_everyone": True},  # @everyone only
    ],
)
async def test_messages_not_for_the_bot_are_ignored(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any]) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        text = "@everyone what did Maliki say?" if kwargs.get("mention_everyone") else "what did Maliki say?"
        await dispatch_message(bot, mention_message(bot, text, **kwargs))
    assert fake.requests == [] and engine.asked == []


async def test_mention_in_a_dm(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(bot_engine, make_settings(), fake, monkeypatch) as bot:
        await dispatch_message(bot, mention_message(bot, DEV_QUESTIONS[3], guild=False))
    [reply] = fake.of_kind("channel_message")
    assert reply.json["embeds"] == message_body(bot_engine.ask(DEV_QUESTIONS[3]), newest=bot_engine.newest_published())["embeds"]


# --- 5. questions during /reindex ------------------------------------------------------------------
async def test_questions_during_reindex_are_answered_from_the_old_index(fresh_settings: Any, embedder: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real engine, and a rebuild whose index differs (the article quoted first is removed). The
    rebuild is paused at its last step: the new build is already live on disk and the old build's
    folder deleted; questions asked then are still answered from the old index, and after the swap
    from the new one."""
    from bot.engine.engine import Engine
    from bot.engine.store import loading

    engine = Engine.open(fresh_settings, embedder=embedder)
    question = DEV_QUESTIONS[0]
    old_answer = engine.ask(question)
    before = message_body(old_answer, newest=engine.newest_published())
    (fresh_settings.seeds_dir / old_answer.quotes[0].source).unlink()
    gated = GatedEngine(engine, pause_when=lambda stage, done, total: stage == "writing" and done == total)
    async with running_bot(gated, make_settings(), fake, monkeypatch) as bot:
        rebuild = start_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        await wait_for_thread_event(gated.entered, timeout=120)
        assert gated.reindexing
        live_on_disk, _ = loading.current_build(fresh_settings.index_dir)
        assert live_on_disk != engine.index.path and not engine.index.path.exists()
        mark = len(fake.requests)
        await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=OTHER_USER_ID))
        await dispatch_message(bot, mention_message(bot, question, author_id=OTHER_USER_ID + 1))
        during = fake.requests[mark:]
        assert gated.reindexing, "the rebuild was still running while these were answered"
        gated.gate.set()
        await rebuild
        mark = len(fake.requests)
        await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=OTHER_USER_ID + 2))
        after = fake.requests[mark:]
    [followup] = [r for r in during if r.kind == "followup"]
    [reply] = [r for r in during if r.kind == "channel_message"]
    assert public_body(followup.json) == before
    assert reply.json["embeds"] == before["embeds"]
    final = fake.of_kind("edit_original")[-1]
    assert final.json["embeds"][0]["title"] == messages.REINDEX_TITLE
    [answered_after] = [r for r in after if r.kind == "followup"]
    assert public_body(answered_after.json) == message_body(engine.ask(question), newest=engine.newest_published()) != before


async def test_questions_during_a_fake_reindex_are_answered_from_the_old_quotes(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    gated = GatedEngine(engine)
    question = DEV_QUESTIONS[0]
    before = message_body(engine.ask(question), newest=engine.newest_published())
    async with running_bot(gated, make_settings(), fake, monkeypatch) as bot:
        rebuild = start_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        await wait_for_thread_event(gated.entered)
        mark = len(fake.requests)
        await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=OTHER_USER_ID))
        [followup] = [r for r in fake.requests[mark:] if r.kind == "followup"]
        gated.gate.set()
        await rebuild
    assert public_body(followup.json) == before != message_body(engine.ask(question), newest=engine.newest_published())


async def test_reindex_reports_progress_throttled_then_changes(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    class SlowProgress(FakeEngine):
        def reindex(self, progress: Any = None) -> ReindexReport:
            def slow(stage: str, done: int, total: int) -> None:
                progress(stage, done, total)
                time.sleep(0.02)

            return super().reindex(slow)

    engine = SlowProgress()
    engine.articles = {f"a{i}.txt": next(iter(engine.articles.values())) for i in range(10)}  # 30 progress calls
    monkeypatch.setattr(admin_cog, "PROGRESS_INTERVAL_SECONDS", 0.2)
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        started = time.monotonic()
        await run_interaction(bot, slash_payload("reindex", permissions=perms(administrator=True)))
        elapsed = time.monotonic() - started
    edits = fake.of_kind("edit_original")
    progress = [e.json["content"] for e in edits if (e.json.get("content") or "").startswith("Reindexing… ")]
    assert edits[0].json["content"] == messages.REINDEX_STARTING
    assert 1 <= len(progress) <= elapsed / 0.2 + 2  # throttled: not one edit per callback
    assert all(re.fullmatch(r"Reindexing… (reading|embedding|writing): \d+/10", text) for text in progress)
    report = edits[-1].json
    assert report["content"] is None and report["embeds"][0]["title"] == messages.REINDEX_TITLE
    fields = {item["name"]: item["value"] for item in report["embeds"][0]["fields"]}
    assert fields[messages.REINDEX_CHANGED] == "001\\_d007a2e75fab5d5c.txt"
    assert fields[messages.REINDEX_PASSAGES].startswith("2 → 1")


# --- 6. one rebuild at a time --------------------------------------------------------------------
async def test_second_reindex_while_one_runs_is_refused(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    gated = GatedEngine(FakeEngine())
    async with running_bot(gated, make_settings(), fake, monkeypatch) as bot:
        first = start_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        await wait_for_thread_event(gated.entered)
        mark = len(fake.requests)
        await run_interaction(bot, slash_payload("reindex", permissions=perms(administrator=True), user_id=OTHER_USER_ID))
        [refusal] = fake.requests[mark:]
        assert refusal.kind == "callback" and refusal.json["type"] == 4 and refusal.ephemeral
        assert refusal.body["content"] == messages.REINDEX_RUNNING
        gated.gate.set()
        await first
        # and afterwards a new rebuild is accepted again
        fake.clear()
        await run_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        assert fake.of_kind("edit_original")[-1].json["embeds"][0]["title"] == messages.REINDEX_TITLE


async def test_reindex_refused_while_the_engine_rebuilds_for_someone_else(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    gated = GatedEngine(FakeEngine())
    worker = threading.Thread(target=gated.reindex)  # e.g. started outside the bot
    worker.start()
    try:
        await wait_for_thread_event(gated.entered)
        async with running_bot(gated, make_settings(), fake, monkeypatch) as bot:
            await run_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
        assert only_callback(fake).body["content"] == messages.REINDEX_RUNNING
    finally:
        gated.gate.set()
        worker.join(10)


async def test_reindex_in_progress_raised_by_the_engine_is_reported(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    class Racing(FakeEngine):
        def reindex(self, progress: Any = None) -> ReindexReport:
            raise ReindexInProgress("started a moment ago")

    async with running_bot(Racing(), make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
    assert fake.of_kind("edit_original")[-1].json["content"] == messages.REINDEX_RUNNING


class ExpiringDiscord(FakeDiscord):
    """Like Discord once an interaction's 15 minutes are over: its webhook (edits, follow-ups) is refused
    with 401 / 50027; with `dms_closed`, a DM to the member is refused with 403 / 50007."""

    def __init__(self, dms_closed: bool = False) -> None:
        super().__init__()
        self.token_expired = False
        self.dms_closed = dms_closed

    async def _record(self, route: discord.http.Route, json: Any, params: dict[str, Any] | None) -> Any:
        refusal = None
        if self.token_expired and "/webhooks/" in route.path:
            refusal = (401, 50027, "Invalid Webhook Token")
        elif self.dms_closed and route.url.endswith(f"/channels/{self.dm_channel_id}/messages"):
            refusal = (403, 50007, "Cannot send messages to this user")
        if refusal is None:
            return await super()._record(route, json, params)
        self.requests.append(Request(route.method, route.path, route.url, json, params, response="refused"))
        status, code, text = refusal
        raise discord.HTTPException(type("Response", (), {"status": status, "reason": text})(), {"code": code, "message": text})


@pytest.mark.parametrize(("clock_moves", "dms_closed"), [(True, False), (False, False), (True, True)],
                         ids=["past-15-minutes", "token-refused-early", "dms-closed"])
async def test_a_reindex_outlasting_the_interaction_token_still_reports_to_the_admin(
    monkeypatch: pytest.MonkeyPatch, clock_moves: bool, dms_closed: bool
) -> None:
    """Discord's interaction tokens last 15 minutes; a longer rebuild's report goes to the admin by DM
    (or, their DMs closed, to the channel). The 16 minutes are simulated on the cog's clock."""
    now = [1_000.0]
    fake = ExpiringDiscord(dms_closed=dms_closed)

    class LongRebuild(FakeEngine):
        def reindex(self, progress: Any = None) -> ReindexReport:
            report = super().reindex(progress)
            if clock_moves:
                now[0] += 16 * 60
            fake.token_expired = True
            return report

    async with running_bot(LongRebuild(), make_settings(), fake, monkeypatch) as bot:
        bot.get_cog("Admin").clock = lambda: now[0]
        await run_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
    delivered = [r for r in fake.of_kind("channel_message") if r.response != "refused"]
    assert len(delivered) == 1, kinds(fake)
    [report] = delivered
    where = CHANNEL_ID if dms_closed else fake.dm_channel_id
    assert report.url.endswith(f"/channels/{where}/messages")
    assert report.json["content"] == messages.REINDEX_LATE_REPORT
    assert report.json["embeds"][0]["title"] == messages.REINDEX_TITLE
    assert [int(r.json["recipient_id"]) for r in fake.of_kind("dm_open")] == [USER_ID]
    if clock_moves:  # past the deadline by its own clock, the cog does not try the dead token
        assert [r for r in fake.requests if r.response == "refused" and "/webhooks/" in r.path] == []
    assert_pings_nobody_and_fits(fake)


# --- /sources ----------------------------------------------------------------------------------------
async def test_sources_lists_articles_privately(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("sources", roles=[MOD_ROLE_ID]))
    defer, followup = fake.requests
    assert defer.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert followup.ephemeral and not followup.json.get("components")
    expected = dp.sources_pages(engine.sources())[0].to_dict()
    assert public_body(followup.json) == expected
    names = [unescape(item["name"]) for item in followup.json["embeds"][0]["fields"]]
    assert names == [article.title for article in engine.articles.values()]


async def test_sources_pages_turn_only_for_the_invoking_moderator(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine(extra_articles=25)  # 28 articles: 3 pages
    pages = [page.to_dict() for page in dp.sources_pages(engine.sources())]
    assert len(pages) == 3
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("sources", roles=[MOD_ROLE_ID]))
        followup = fake.of_kind("followup")[0]
        assert followup.ephemeral and public_body(followup.json) == pages[0]
        [row] = followup.json["components"]
        previous, following = row["components"]
        assert (previous["label"], previous["disabled"]) == (messages.PAGE_PREVIOUS, True)
        assert (following["label"], following["disabled"]) == (messages.PAGE_NEXT, False)
        message = followup.response

        fake.clear()
        await run_interaction(bot, button_payload(following["custom_id"], message, user_id=OTHER_USER_ID, roles=[MOD_ROLE_ID]))
        stranger = only_callback(fake)
        assert stranger.json["type"] == 4 and stranger.ephemeral
        assert stranger.body["content"] == messages.NOT_YOUR_BUTTONS

        for expected_page in (1, 2, 2):  # the last press stays on the last page
            fake.clear()
            await run_interaction(bot, button_payload(following["custom_id"], message, roles=[MOD_ROLE_ID]))
            update = only_callback(fake)
            assert update.json["type"] == 7  # UPDATE_MESSAGE
            assert update.body["embeds"] == pages[expected_page]["embeds"]
        assert update.body["components"][0]["components"][1]["disabled"] is True

        fake.clear()
        await run_interaction(bot, button_payload(previous["custom_id"], message, roles=[MOD_ROLE_ID]))
        assert only_callback(fake).body["embeds"] == pages[1]["embeds"]


# --- 7. hostile and long questions ----------------------------------------------------------------------
class EchoEngine(FakeEngine):
    """Pretends an article contains the question verbatim: hostile text reaches the quotes."""

    def ask(self, question: str, *, k: int | None = None, abstain: bool = True) -> Answer:
        self.asked.append(question)
        base = self.quotes["old"][0]
        echo = Quote(question, question[:300] or "file.txt", question[:500], 0, len(question), 7, 0.9, base.also_in * 20)
        return Answer(question, True, (echo,) * 10 + self.quotes["old"])


@pytest.mark.parametrize("engine_kind", ["engine", "echo"])
async def test_every_payload_pings_nobody_and_fits(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, engine_kind: str) -> None:
    answering = bot_engine if engine_kind == "engine" else EchoEngine()
    async with running_bot(answering, make_settings(), fake, monkeypatch) as bot:
        for index, question in enumerate(HOSTILE_QUESTIONS + DEV_QUESTIONS):
            await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + index))
            await dispatch_message(bot, mention_message(bot, question[:4000], author_id=USER_ID + index))
    assert len(fake.of_kind("followup")) == len(fake.of_kind("channel_message")) == len(HOSTILE_QUESTIONS + DEV_QUESTIONS)
    for request in fake.of_kind("followup", "channel_message"):
        for embed in request.body.get("embeds", []):
            for item in embed["fields"]:
                assert not re.search(r"(?<!\\)@(everyone|here)|(?<!\\)<[@#]", item["name"] + item["value"])
    # the `fake` fixture then checks allowed_mentions and limits on every request


# --- 8. the event loop stays responsive -----------------------------------------------------------------
async def test_event_loop_never_blocked_while_ask_and_reindex_run(bot_engine: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from bot.storage.database import open_database

    if isinstance(bot_engine, FakeEngine):
        bot_engine.ask_delay = 0.2  # a slow, blocking ask: must run in a worker thread
    gated = GatedEngine(bot_engine)
    settings = make_settings(max_concurrent_asks=len(DEV_QUESTIONS) + 1)  # every question gets a slot
    database = open_database(f"sqlite:///{tmp_path / 'bot.db'}")  # every question is recorded, too
    async with running_bot(gated, settings, fake, monkeypatch, database=database) as bot:
        async with Heartbeat() as heartbeat:
            rebuild = start_interaction(bot, slash_payload("reindex", roles=[ADMIN_ROLE_ID]))
            await wait_for_thread_event(gated.entered)
            asks = [
                start_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + index))
                for index, question in enumerate(DEV_QUESTIONS + [OFF_TOPIC])
            ]
            await asyncio.sleep(0.05)
            gated.gate.set()
            await asyncio.gather(rebuild, *asks)
            assert len(fake.of_kind("followup")) == len(DEV_QUESTIONS) + 1
            # The issue-15 commands on those records: votes, /gaps (embeds the questions), /stats
            # (draws a chart), /sources with its changes, /forget-me and its confirmation.
            answers = [request for request in fake.of_kind("followup") if request.json.get("components")]
            busy = [start_interaction(bot, button_payload(answer.json["components"][0]["components"][1]["custom_id"],
                                                          answer.response, user_id=OTHER_USER_ID)) for answer in answers]
            busy += [start_interaction(bot, slash_payload(name, roles=[MOD_ROLE_ID])) for name in ("gaps", "stats", "sources")]
            before = len(fake.requests)
            forget = start_interaction(bot, slash_payload("forget-me", user_id=USER_ID))
            await asyncio.gather(*busy)
            while not any(r.body.get("content") == messages.FORGET_CONFIRM for r in fake.requests[before:]):
                await asyncio.sleep(0.01)
            [asking] = [r for r in fake.requests[before:] if r.body.get("content") == messages.FORGET_CONFIRM]
            erase = asking.body["components"][0]["components"][0]["custom_id"]
            await run_interaction(bot, button_payload(erase, asking.response["resource"]["message"], user_id=USER_ID))
            await forget
    database.dispose()
    assert answers  # some were answered and voted on
    assert fake.of_kind("edit_original")[-1].body["content"].startswith("Done: ")
    assert heartbeat.max_gap < 0.1, f"event loop blocked for {heartbeat.max_gap * 1000:.0f} ms"


# --- 9. internal errors ----------------------------------------------------------------------------
ERROR_RE = re.compile(messages.ERROR.replace(".", r"\.").replace("{error_id}", r"([0-9a-f]{8})"))


def logged_error(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    return record


async def test_internal_error_gives_an_error_id_and_logs_the_traceback(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FakeEngine()
    engine.fail = RuntimeError("index file is corrupt at /secret/path")
    with caplog.at_level(logging.ERROR):
        async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
            await run_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
            await dispatch_message(bot, mention_message(bot, "Maliki?", author_id=OTHER_USER_ID))
    # the public "thinking…" placeholder is removed so the notice can really be private
    assert kinds(fake) == ["callback", "delete_original", "followup", "channel_message"]
    notice = fake.requests[2]
    assert notice.ephemeral
    slash_id = ERROR_RE.fullmatch(notice.json["content"]).group(1)
    mention_id = ERROR_RE.fullmatch(fake.requests[3].json["content"]).group(1)
    assert slash_id != mention_id
    for error_id in (slash_id, mention_id):
        record = logged_error(caplog, error_id)
        assert isinstance(record.exc_info[1], RuntimeError)
        assert "corrupt" in caplog.text  # the traceback is in the log...
    assert "corrupt" not in notice.json["content"]  # ...but not shown to the user


async def test_error_in_sources_is_private_with_an_id(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FakeEngine()

    def broken() -> Any:
        raise OSError("cannot read manifest")

    engine.sources = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
            await run_interaction(bot, slash_payload("sources", roles=[MOD_ROLE_ID]))
    assert kinds(fake) == ["callback", "followup"]
    error_id = ERROR_RE.fullmatch(fake.requests[1].json["content"]).group(1)
    assert fake.requests[1].ephemeral
    logged_error(caplog, error_id)


# --- client plumbing ----------------------------------------------------------------------------------
async def test_setup_hook_syncs_commands_to_configured_guilds(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(FakeEngine(), make_settings(guild_ids=[111, 222]), fake, monkeypatch):
        pass
    syncs = fake.of_kind("sync")
    assert [request.url.rsplit("/guilds/", 1)[1] for request in syncs] == ["111/commands", "222/commands"]
    for request in syncs:
        assert {command["name"] for command in request.json} == {"ask", "sources", "reindex", "config", "Find sources", "gaps", "stats", "articles", "forget-me"}


async def test_no_sync_without_guild_ids(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == NONE_MENTIONS
        assert bot.intents.message_content
    assert fake.of_kind("sync") == []


class RefusingDiscord:
    """A Discord REST stand-in on 127.0.0.1, in its own thread: every request gets 401, as Discord
    answers a bad token; each request's path, headers and body are kept."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        from aiohttp import web

        async def refuse(request: web.Request) -> web.Response:
            self.requests.append((request.path_qs, dict(request.headers), await request.read()))
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

        async def start() -> web.AppRunner:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", refuse)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return runner

        self._loop = asyncio.new_event_loop()
        runner = self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> "RefusingDiscord":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_failed_login_returns_nonzero_without_leaking_the_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real login (discord.py's HTTP client, a real socket) against a server that refuses the token,
    with the bot's own logging set up at DEBUG: the token is in the Authorization header and nowhere else."""
    token = "MTIzNDU2Nzg5.secret-token-value.xyz"
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # put back after the test
    with RefusingDiscord() as server:
        settings = make_settings(discord_token=token, log_level="DEBUG",
                                 discord_api_base_url=f"http://127.0.0.1:{server.port}/api")
        with caplog.at_level(logging.DEBUG):
            code = run_bot(settings, FakeEngine())
    assert code == 1
    assert LOGIN_FAILED in caplog.text
    assert [path for path, _, _ in server.requests] == ["/api/v10/users/@me"]  # the login really went out
    [(_, headers, body)] = server.requests
    assert headers["Authorization"] == f"Bot {token}"
    assert token not in json.dumps({k: v for k, v in headers.items() if k != "Authorization"}) + body.decode()
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err, repr(settings), str(settings), repr(create_bot(settings, None))):
        assert token not in text
