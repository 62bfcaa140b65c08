"""Issue 14 through the real command tree and views (the in-process harness; see discord_harness):
threads and follow-ups, "More quotes", "Full paragraph", buttons after a restart, private answers
and "Share to channel", "Find sources", article autocomplete, citations with links, /config, shards.

Every recorded body is checked by the `fake` fixture: nothing pings anybody and every body fits
Discord's limits, components included (payload_checks.limit_violations).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from discord.ext import commands

from bot import messages
from bot.discord.client import create_bot
from bot.engine.models import Answer
from discord_harness import (
    ADMIN_ROLE_ID,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_USER_ID,
    USER_ID,
    FakeDiscord,
    FakeEngine,
    autocomplete_payload,
    button_payload,
    dispatch_message,
    make_settings,
    member_message_json,
    mention_message,
    message_command_payload,
    run_interaction,
    running_bot,
    slash_payload,
    subcommand_payload,
)
from payload_checks import limit_violations, unescape

A000, A001, A003 = "000_389047a5565d4974.txt", "001_d007a2e75fab5d5c.txt", "003_42fc9fe0a8eacdba.txt"


def assert_pings_nobody_and_fits(fake: FakeDiscord) -> None:
    for request in fake.requests:
        body = request.body
        if not isinstance(body, dict) or not ({"content", "embeds"} & body.keys()):
            continue
        mentions = body.get("allowed_mentions")
        assert mentions is not None and mentions.get("parse") == [], request
        assert not mentions.get("users") and not mentions.get("roles") and not mentions.get("replied_user")
        assert limit_violations(body) == [], (request.kind, limit_violations(body))


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    recorder = FakeDiscord()
    yield recorder
    assert_pings_nobody_and_fits(recorder)


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in body.get("components") or [] for button in row["components"]]


def button_id(body: dict[str, Any], prefix: str) -> str:
    [found] = [b["custom_id"] for b in buttons(body) if (b.get("custom_id") or "").startswith(prefix)]
    return found


def quote_texts(body: dict[str, Any]) -> list[str]:
    """Each quote's shown text (the citation after it cut off)."""
    return [unescape(field["value"].rsplit("\n— ", 1)[0]) for embed in body["embeds"] for field in embed["fields"]]


def answers(fake: FakeDiscord, *kinds: str) -> list[Any]:
    return [r for r in fake.of_kind(*kinds) if r.body.get("embeds")]


ADMIN = dict(roles=[ADMIN_ROLE_ID])


# --- threads and follow-ups ------------------------------------------------------------------------
async def test_thread_mode_opens_a_thread_on_the_question_and_answers_in_it(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(reply_mode="thread"), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
    assert [r.kind for r in fake.requests] == ["callback", "followup", "thread_create", "channel_message"]
    starter, opened, answer = fake.requests[1:]
    assert starter.body["content"] == messages.THREAD_STARTER and not starter.ephemeral
    assert opened.url.endswith(f"/channels/{CHANNEL_ID}/messages/{starter.response['id']}/threads")
    assert opened.json["name"] == "What did Maliki say?"
    [thread_id] = fake.threads
    assert f"/channels/{thread_id}/messages" in answer.url  # the answer lands in the thread
    assert answer.body["embeds"][0]["fields"] and any(b["custom_id"].startswith("qb:para:") for b in buttons(answer.body))


async def test_inline_by_default_no_thread(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
    assert [r.kind for r in fake.requests] == ["callback", "followup"]


async def test_a_mention_in_thread_mode_opens_a_thread_on_that_message(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(reply_mode="thread"), fake, monkeypatch) as bot:
        message = mention_message(bot, "What did Maliki say?")
        await dispatch_message(bot, message)
    assert [r.kind for r in fake.requests] == ["thread_create", "channel_message"]
    assert fake.requests[0].url.endswith(f"/messages/{message.id}/threads")
    [thread_id] = fake.threads
    assert f"/channels/{thread_id}/messages" in fake.requests[1].url


async def test_follow_ups_in_a_thread_carry_its_earlier_questions_as_context(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(reply_mode="thread"), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Trump threaten?"}))
        [thread_id] = fake.threads
        await run_interaction(bot, slash_payload("ask", {"question": "And Maliki?"}, thread_id=thread_id))
        await dispatch_message(bot, mention_message(bot, "And Iran?", thread_id=thread_id))
        await run_interaction(bot, slash_payload("ask", {"question": "Trump elsewhere?"}))  # another thread
    asked = [(question, context) for question, context, _, _ in engine.asked_with]
    assert asked == [
        ("What did Trump threaten?", ()),
        ("And Maliki?", ("What did Trump threaten?",)),
        ("And Iran?", ("What did Trump threaten?", "And Maliki?")),
        ("Trump elsewhere?", ()),
    ]
    follow_up = fake.of_kind("followup")[1]
    assert len(fake.of_kind("thread_create")) == 2  # the follow-ups stayed in the first thread
    assert "Trump threaten" not in str(follow_up.body)  # context steers retrieval, never appears


async def test_a_follow_up_in_a_thread_is_answered_from_the_context_article(engine, fake, monkeypatch):
    """Real engine: "What about Iran?" alone is declined; after Harris's question it quotes article 003."""
    settings = make_settings(reply_mode="thread")
    async with running_bot(engine, settings, fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did the US charge d'affaires Harris say?"}))
        [thread_id] = fake.threads
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What about Iran?"}, thread_id=thread_id))
        [in_thread] = answers(fake, "followup")
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What about Iran?"}))  # in the channel
        [outside] = fake.of_kind("followup")
    title_003 = engine.index.articles[A003].title
    assert in_thread.body["embeds"][0]["fields"][0]["name"].endswith(title_003)
    assert outside.body["content"] == messages.DECLINE


# --- More quotes, Full paragraph, restarts -----------------------------------------------------------
async def test_more_quotes_gives_the_next_quotes_without_repeats(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(top_k=1), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        first = fake.of_kind("followup")[0]
        fake.clear()
        await run_interaction(bot, button_payload(button_id(first.body, "qb:more:"), first.response, user_id=OTHER_USER_ID))
        [more] = fake.of_kind("followup")
        fake.clear()
        await run_interaction(bot, button_payload(button_id(more.body, "qb:more:"), more.response))
        [last] = fake.of_kind("followup")
    assert more.ephemeral and fake.requests[0].ephemeral
    assert more.body["embeds"][0]["fields"][0]["name"].startswith("2. ")  # numbering goes on
    shown = quote_texts(first.body) + quote_texts(more.body)
    assert shown == [q.text for q in engine.quotes["old"]]  # the ranking, in order, no repeat
    assert last.body["content"] == messages.NO_MORE_QUOTES
    assert [offset for *_, offset in engine.asked_with] == [0, 1, 2]


async def test_more_quotes_on_the_real_engine_pages_one_ranking(engine, fake, monkeypatch):
    question = "What did Maliki say?"
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": question}))
        first = fake.of_kind("followup")[0]
        fake.clear()
        await run_interaction(bot, button_payload(button_id(first.body, "qb:more:"), first.response))
        [more] = fake.of_kind("followup")
    whole = engine.ask(question, k=6).quotes
    spans = [(q.source, q.start) for q in whole]
    first_names = [f["name"] for f in first.body["embeds"][0]["fields"]]
    more_names = [f["name"] for f in more.body["embeds"][0]["fields"]]
    assert [name.split(". ", 1)[0] for name in first_names + more_names] == ["1", "2", "3", "4", "5", "6"]
    for text, quote in zip(quote_texts(first.body) + quote_texts(more.body), whole):
        assert quote.text.startswith(text.removesuffix(messages.ELLIPSIS))
    assert len(set(spans)) == len(spans)


async def test_full_paragraph_is_the_exact_paragraph_privately(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        answer = fake.of_kind("followup")[0]
        para_ids = [b["custom_id"] for b in buttons(answer.body) if b["custom_id"].startswith("qb:para:")]
        fake.clear()
        await run_interaction(bot, button_payload(para_ids[0], answer.response, user_id=OTHER_USER_ID))
    reply = fake.requests[0]
    assert reply.kind == "callback" and reply.ephemeral
    quote = engine.quotes["old"][0]
    article = engine.articles[quote.source]
    description = reply.body["embeds"][0]["description"]
    shown = unescape(description.rsplit("\n— ", 1)[0])
    lines = article.text[article.body_start:].splitlines()
    paragraph = [line for line in lines if line.strip()][quote.paragraph - 1].strip()
    assert shown == paragraph
    assert shown in article.text and quote.text in shown  # exact slice, holding the quote
    assert len(para_ids) == 2  # one per quote (the second quote's paragraph)


async def test_buttons_sent_before_a_restart_work_after_it(fake, monkeypatch):
    settings = make_settings(top_k=1)  # the same STATE_DIR for both processes
    async with running_bot(FakeEngine(), settings, fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
    old = fake.of_kind("followup")[0]
    fake.clear()
    engine = FakeEngine()
    async with running_bot(engine, settings, fake, monkeypatch) as restarted:  # a new bot object
        assert restarted._connection._view_store._views == {}  # nothing held over: the dynamic items answer
        await run_interaction(restarted, button_payload(button_id(old.body, "qb:more:"), old.response))
        [more] = fake.of_kind("followup")
        fake.clear()
        await run_interaction(restarted, button_payload(button_id(old.body, "qb:para:"), old.response))
        [paragraph] = fake.requests
    assert quote_texts(more.body) == [engine.quotes["old"][1].text]
    assert engine.asked_with == [("What did Maliki say?", (), None, 1)]
    assert paragraph.body["embeds"][0]["description"]


async def test_a_button_whose_answer_was_forgotten_says_so(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        button = {"type": 2, "style": 1, "label": messages.BUTTON_MORE, "custom_id": "qb:more:0123456789ab:1"}
        message = fake.message_json({"content": None, "components": [{"type": 1, "components": [button]}]})
        await run_interaction(bot, button_payload("qb:more:0123456789ab:1", message))
    reply = fake.requests[0]
    assert reply.ephemeral and reply.body["content"] == messages.ANSWER_GONE


async def test_a_failing_button_says_so_privately_with_an_error_id(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(top_k=1), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        first = fake.of_kind("followup")[0]
        fake.clear()
        engine.fail = RuntimeError("index gone")
        await run_interaction(bot, button_payload(button_id(first.body, "qb:more:"), first.response))
    notice = fake.requests[-1]
    assert notice.ephemeral and notice.body["content"].startswith("Something went wrong on my side. Error id:")


# --- private answers and Share ----------------------------------------------------------------------
async def test_a_private_answer_is_ephemeral_and_share_posts_it_pinging_nobody(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?", "private": True}))
        defer, private = fake.requests
        fake.clear()
        await run_interaction(bot, button_payload(button_id(private.body, "qb:share:"), private.response))
        shared_defer, shared = fake.requests
    assert defer.ephemeral and private.ephemeral
    assert not shared_defer.ephemeral and not shared.ephemeral
    assert shared.body["content"] == messages.SHARED_BY.format(user=f"<@{USER_ID}>")
    assert shared.body["allowed_mentions"] == {"parse": []}
    assert shared.body["embeds"] == private.body["embeds"]  # the same quotes
    assert not [b for b in buttons(shared.body) if b.get("custom_id", "").startswith("qb:share:")]
    assert [b["label"] for b in buttons(shared.body)] == ["Full paragraph 1", "Full paragraph 2"]


async def test_private_by_default_from_the_settings_and_overridable(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(private_by_default=True), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        assert all(r.ephemeral for r in fake.requests)
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?", "private": False}))
        assert not any(r.ephemeral for r in fake.requests)


# --- Find sources --------------------------------------------------------------------------------------
async def test_find_sources_answers_from_the_message_privately(fake, monkeypatch):
    engine = FakeEngine()
    claim = "Maliki said he rejects the American interference"
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, message_command_payload("Find sources", member_message_json(claim)))
        defer, reply = fake.requests
        fake.clear()
        await run_interaction(bot, message_command_payload("Find sources", member_message_json("   ")))
        [empty] = fake.requests
    assert engine.asked == [claim]
    assert defer.ephemeral and reply.ephemeral and reply.body["embeds"]
    assert button_id(reply.body, "qb:share:")
    assert empty.ephemeral and empty.body["content"] == messages.EMPTY_MESSAGE


async def test_find_sources_needs_no_message_content_intent(fake, monkeypatch):
    """The target's text comes in the interaction's resolved data, so it works with the intent off."""
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        bot._connection._intents.message_content = False
        await run_interaction(bot, message_command_payload("Find sources", member_message_json("What did Trump say?")))
    assert engine.asked == ["What did Trump say?"]


# --- articles: autocomplete and restriction ------------------------------------------------------------
async def test_article_autocomplete_returns_matching_headlines_within_limits(fake, monkeypatch):
    engine = FakeEngine(extra_articles=5000)
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        started = time.perf_counter()
        await run_interaction(bot, autocomplete_payload("ask", "article", "extra", {"question": "x"}))
        elapsed = time.perf_counter() - started
        [many] = fake.requests
        fake.clear()
        await run_interaction(bot, autocomplete_payload("ask", "article", "counter iran", {"question": "x"}))
        [one] = fake.requests
        fake.clear()
        await run_interaction(bot, autocomplete_payload("sources", "headline", "maliki", permissions=0, roles=[ADMIN_ROLE_ID]))
        [sources] = fake.requests
    assert many.json["type"] == 8 and len(many.json["data"]["choices"]) == 25
    assert elapsed < 3.0
    [choice] = one.json["data"]["choices"]
    assert choice["name"] == engine.articles[A003].title and choice["value"] == engine.articles[A003].sha256[:16]
    assert {c["name"] for c in sources.json["data"]["choices"]} == {engine.articles[A000].title, engine.articles[A001].title}
    for request in (many, one, sources):
        for c in request.json["data"]["choices"]:
            assert 1 <= len(c["name"]) <= 100 and len(c["value"]) <= 100


async def test_ask_with_an_article_searches_that_article_only(fake, monkeypatch):
    engine = FakeEngine()
    key = engine.articles[A003].sha256[:16]
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?", "article": key}))
        [_, reply] = fake.requests
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?", "article": "no such"}))
        [refused] = fake.requests
    assert engine.asked_with[0][2] == A003
    assert quote_texts(reply.body) == [engine.quotes["old"][1].text]
    assert refused.ephemeral and refused.body["content"] == messages.NO_SUCH_ARTICLE


async def test_sources_filters_by_headline(fake, monkeypatch):
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("sources", {"headline": "counter Iran"}, roles=[ADMIN_ROLE_ID]))
    [_, page] = fake.requests
    assert [f["name"] for f in page.body["embeds"][0]["fields"]] == [engine.articles[A003].title]


# --- citations -------------------------------------------------------------------------------------------
async def test_citations_show_outlet_date_and_link_and_the_footer_the_newest_date(fake, monkeypatch):
    engine = FakeEngine()
    engine.newest = "2026-02-27"
    first, second = engine.quotes["old"]
    engine.quotes["old"] = (
        replace(first, outlet="Reuters", published="2026-01-28", url="https://www.reuters.com/world/iraq-maliki"),
        replace(second, url="javascript:alert(1)"),  # never linked
    )
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
    body = fake.of_kind("followup")[0].body
    embed = body["embeds"][0]
    assert embed["footer"]["text"] == messages.ANSWER_FOOTER_NEWEST.format(newest="2026-02-27")
    linked, plain = (field["value"] for field in embed["fields"])
    assert "\n— [Reuters, 2026-01-28](https://www.reuters.com/world/iraq-maliki) · 000" in linked
    assert "javascript" not in plain and "](" not in plain
    links = [b for b in buttons(body) if "url" in b]
    assert [(b["label"], b["url"]) for b in links] == [("Article 1", "https://www.reuters.com/world/iraq-maliki")]


# --- /config -----------------------------------------------------------------------------------------------
async def test_config_takes_effect_at_once_and_survives_a_restart(fake, monkeypatch):
    settings = make_settings()
    async with running_bot(FakeEngine(), settings, fake, monkeypatch) as bot:
        await run_interaction(bot, subcommand_payload("config", "set", {"key": "replies", "value": "thread"}, **ADMIN))
        [done] = fake.requests
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        assert "thread_create" in [r.kind for r in fake.requests]
    assert done.ephemeral and done.body["content"] == messages.CONFIG_SET.format(
        key="replies", value="thread", where=messages.CONFIG_WHERE_SERVER)
    fake.clear()
    async with running_bot(FakeEngine(), settings, fake, monkeypatch) as restarted:
        await run_interaction(restarted, slash_payload("ask", {"question": "What did Maliki say?"}))
        assert "thread_create" in [r.kind for r in fake.requests]
        fake.clear()
        await run_interaction(restarted, subcommand_payload("config", "clear", {"key": "replies"}, **ADMIN))
        fake.clear()
        await run_interaction(restarted, slash_payload("ask", {"question": "What did Maliki say?"}))
        assert [r.kind for r in fake.requests] == ["callback", "followup"]


async def test_config_is_for_admins_and_checks_values(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, subcommand_payload("config", "set", {"key": "private", "value": "on"}))
        [refused] = fake.requests
        fake.clear()
        await run_interaction(bot, subcommand_payload("config", "set", {"key": "cooldown", "value": "soon"}, **ADMIN))
        [bad] = fake.requests
        fake.clear()
        await run_interaction(bot, subcommand_payload("config", "show", {}, **ADMIN))
        [shown] = fake.requests
    assert refused.body["content"] == messages.NO_PERMISSION
    assert bad.body["content"].startswith("cooldown takes a number of seconds")
    assert bot.config_store.entries(GUILD_ID) == []
    assert shown.ephemeral and shown.body["embeds"][0]["title"] == messages.CONFIG_TITLE


async def test_an_allowlist_points_members_to_where_the_bot_answers(fake, monkeypatch):
    other = CHANNEL_ID + 7
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        bot.config_store.put(GUILD_ID, None, "answer", "off", actor_id=1)
        bot.config_store.put(GUILD_ID, other, "answer", "on", actor_id=1)
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        [pointer] = fake.requests
        fake.clear()
        await dispatch_message(bot, mention_message(bot, "What did Maliki say?"))
        dm_kinds = [r.kind for r in fake.requests]
        dm = fake.requests[-1]
        fake.clear()
        await run_interaction(bot, subcommand_payload("config", "set", {"key": "answer", "value": "on", "where": "channel"}, **ADMIN))
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))  # at once
    expected = messages.ASK_IN_CHANNELS.format(channels=f"<#{other}>")
    assert pointer.ephemeral and pointer.body["content"] == expected
    assert dm_kinds == ["dm_open", "channel_message"] and dm.body["content"] == expected  # privately, by DM
    assert [r.kind for r in fake.requests] == ["callback", "followup"]


async def test_a_channel_cooldown_from_config_applies(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(ask_cooldown_seconds=0), fake, monkeypatch) as bot:
        bot.config_store.put(GUILD_ID, CHANNEL_ID, "cooldown", "60", actor_id=1)
        await run_interaction(bot, slash_payload("ask", {"question": "What did Maliki say?"}))
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": "What did Trump say?"}))
    [refused] = fake.requests
    assert refused.ephemeral and refused.body["content"].startswith("Please wait")


# --- shards --------------------------------------------------------------------------------------------
def test_shard_settings_reach_discord_py():
    bot = create_bot(make_settings(shard_count=4, shard_ids=[1, 3]), None)
    assert isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count == 4 and bot.shard_ids == [1, 3]
    plain = create_bot(make_settings(), None)
    assert not isinstance(plain, commands.AutoShardedBot) and plain.shard_count is None
    everything_here = create_bot(make_settings(sharded=True), None)
    assert isinstance(everything_here, commands.AutoShardedBot) and everything_here.shard_ids is None


async def test_sync_commands_false_skips_the_start_up_sync(fake, monkeypatch):
    async with running_bot(FakeEngine(), make_settings(guild_ids=[111], sync_commands=False), fake, monkeypatch):
        pass
    assert fake.of_kind("sync") == []


def test_the_answer_view_fits_discord_with_ten_quotes():
    from bot.discord.views import answer_body

    engine = FakeEngine()
    base = engine.quotes["old"][0]
    quotes = tuple(replace(base, paragraph=n, url=f"https://example.org/{n}") for n in range(1, 11))
    body = answer_body(Answer("q", True, quotes), "0123456789ab", newest=None,
                       article_keys={base.source: "a" * 16}, per_page=10, private=True)
    assert limit_violations(body) == []
    assert len(buttons(body)) == 22  # More, Share, ten paragraphs, ten links


def test_real_citations_link_the_front_matter_url_and_the_footer_dates_the_index(tmp_path):
    """The real engine and command line over seeds with front matter: `ask --discord` as sent."""
    import json
    import shutil

    from test_cli import run
    from test_seed_metadata import DATA, FRONT_MATTER, WRAPPED

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "trump-warning.txt").write_text(FRONT_MATTER, encoding="utf-8")
    shutil.copy(DATA / WRAPPED, seeds / WRAPPED)
    result = run("ask", "--seeds", str(seeds), "--index", str(tmp_path / "index"), "--discord",
                 "What did Trump say he would stop doing for Iraq?")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    embed = body["embeds"][0]
    assert embed["footer"]["text"] == messages.ANSWER_FOOTER_NEWEST.format(newest="2026-01-27")
    url = "https://example.org/tigris-wire/2026/01/27/trump-warns-iraq-over-maliki"
    assert f"\n— [Tigris Wire, 2026-01-27]({url}) · trump-warning.txt, paragraph " in embed["fields"][0]["value"]
    assert {"label": "Article 1", "url": url} in [{k: b.get(k) for k in ("label", "url")} for b in buttons(body)]
    assert limit_violations(body) == []
