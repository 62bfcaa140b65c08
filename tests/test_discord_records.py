"""Issue 15 through the real command tree and views, on SQLite and on PostgreSQL: votes, /gaps,
/stats, /articles, /forget-me, and the latest article changes in /sources.

Interactions enter through discord.py's gateway handler and only HTTP is fake (discord_harness).
Tests whose outcome depends on the model (grouping paraphrases, answering from an added article)
use the real engine; the rest use FakeEngine.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import Any

import discord
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter
from PIL import Image

from bot import messages
from bot.discord.client import command_payloads
from bot.engine.engine import Engine
from bot.storage import records
from bot.storage.gaps import gap_questions
from bot.storage.stats import collect_stats
from discord_harness import (
    ADMIN_ROLE_ID, CHANNEL_ID, EVERYONE_PERMS, GUILD_ID, MOD_ROLE_ID, OTHER_USER_ID, USER_ID, FakeDiscord,
    FakeEngine, button_payload, interaction_payload, make_settings, perms, run_interaction, running_bot, slash_payload, start_interaction,
)
from payload_checks import limit_violations, unescape
from test_storage import _cells_holding

TOPIC = "What did Maliki say about American interference?"
OFF_TOPIC = "What is the best recipe for banana bread?"


@pytest.fixture
def fake() -> FakeDiscord:
    recorder = FakeDiscord()
    yield recorder
    for request in recorder.requests:  # nothing pings anybody, everything fits
        body = request.body
        if isinstance(body, dict) and {"content", "embeds"} & body.keys():
            assert body.get("allowed_mentions", {}).get("parse") == [], request
            assert limit_violations(body) == [], limit_violations(body)


def vote_ids(request: Any) -> dict[str, str]:
    """{'up': custom_id, 'down': custom_id} of an answer's vote buttons."""
    ids = [button.get("custom_id", "") for row in request.json["components"] for button in row["components"]]
    votes = {custom_id.rsplit(":", 1)[1]: custom_id for custom_id in ids if custom_id.startswith("qb:vote:")}
    assert set(votes) == {"up", "down"}, ids  # beside the answer's other buttons
    return votes


def buttons(request: Any) -> list[dict[str, Any]]:
    return [button for row in request.body.get("components") or [] for button in row["components"]]


def has_votes(request: Any) -> bool:
    """Whether a message carries the 👍/👎 pair (beside the answer's other buttons, if any)."""
    return any(button.get("custom_id", "").startswith("qb:vote:") for button in buttons(request))


def message_of(request: Any) -> dict[str, Any]:
    """The message JSON the fake answered for a callback or follow-up (what a press refers to)."""
    if request.kind == "callback":
        return request.response["resource"]["message"]
    return request.response


def private_notices(fake: FakeDiscord) -> list[str]:
    found = []
    for request in fake.of_kind("callback", "followup"):
        assert request.ephemeral, request
        found.append(request.body.get("content"))
    return found


# --- feedback -------------------------------------------------------------------------------------
async def test_votes_are_stored_once_per_member_and_survive_a_restart(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
        [answer] = fake.of_kind("followup")
        ids = vote_ids(answer)
        message = answer.response
        record_id = int(ids["up"].split(":")[2])
        for user, vote in ((USER_ID, "up"), (USER_ID, "up"), (OTHER_USER_ID, "down")):
            fake.clear()
            await run_interaction(bot, button_payload(ids[vote], message, user_id=user))
            [callback] = fake.requests
            assert callback.json["type"] == 4 and callback.ephemeral  # a private reply, never an edit of the answer
        assert records.votes_of(database, record_id) == {USER_ID: records.UP, OTHER_USER_ID: records.DOWN}
    fake.clear()
    # A new process on the same database: the buttons of the old message still work.
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, button_payload(ids["down"], message, user_id=USER_ID))
    assert private_notices(fake) == [messages.VOTE_CHANGED.format(vote=messages.VOTE_DOWN)]
    assert records.votes_of(database, record_id) == {USER_ID: records.DOWN, OTHER_USER_ID: records.DOWN}


async def test_each_vote_is_confirmed_privately_with_what_happened(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
        [answer] = fake.of_kind("followup")
        assert [button["emoji"]["name"] for button in buttons(answer) if button.get("custom_id", "").startswith("qb:vote:")] == [messages.VOTE_UP, messages.VOTE_DOWN]
        ids = vote_ids(answer)
        fake.clear()
        for vote in ("up", "up", "down"):
            await run_interaction(bot, button_payload(ids[vote], answer.response))
    assert private_notices(fake) == [
        messages.VOTE_RECORDED.format(vote=messages.VOTE_UP),
        messages.VOTE_SAME.format(vote=messages.VOTE_UP),
        messages.VOTE_CHANGED.format(vote=messages.VOTE_DOWN),
    ]
    assert not fake.of_kind("edit_message", "edit_original")


async def test_questions_are_recorded_with_outcome_language_and_quotes(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": OFF_TOPIC}))
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
    declined, answered = fake.of_kind("followup")
    assert not has_votes(declined)  # a decline takes no votes; it is a gap by itself
    assert has_votes(answered)
    from sqlalchemy import select

    from bot.storage.schema import questions, quotes
    with database.begin() as connection:
        rows = connection.execute(select(questions.c.guild_id, questions.c.member_id, questions.c.text,
                                         questions.c.language, questions.c.answered, questions.c.reason)
                                  .order_by(questions.c.id)).all()
        cited = connection.execute(select(quotes.c.source, quotes.c.start, quotes.c.end).order_by(quotes.c.id)).all()
    assert rows == [(GUILD_ID, USER_ID, OFF_TOPIC, "en", False, "declined"), (GUILD_ID, USER_ID, TOPIC, "en", True, None)]
    assert cited == [(q.source, q.start, q.end) for q in engine.quotes["old"]]


# --- /gaps ------------------------------------------------------------------------------------------
PARAPHRASES = [
    "What will the weather be like in London tomorrow?",
    "What is tomorrow's weather forecast for London?",
    "How will the weather be in London tomorrow?",
    "Tell me the weather forecast for London tomorrow.",
    "What's the forecast for London's weather tomorrow?",
]
UNRELATED = [
    "What is the best recipe for banana bread?",
    "How do I fix a flat bicycle tyre?",
    "Who won the 2018 football World Cup?",
]


async def test_gaps_groups_paraphrases_of_one_declined_question_into_one_row(database: Any, engine: Engine, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        for number, question in enumerate(PARAPHRASES[:3] + UNRELATED + PARAPHRASES[3:]):
            await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + number))
        assert [r.body.get("content") for r in fake.of_kind("followup")] == [messages.DECLINE] * 8
        fake.clear()
        await run_interaction(bot, slash_payload("gaps", {"days": 7}, roles=[MOD_ROLE_ID]))
    followup = fake.of_kind("followup")[0]
    assert followup.ephemeral
    fields = followup.json["embeds"][0]["fields"]
    assert [field["name"] for field in fields] == [messages.GAPS_ROW_NAME.format(rank=1, count=5)] + [
        messages.GAPS_ROW_NAME.format(rank=rank, count=1) for rank in (2, 3, 4)]
    assert unescape(fields[0]["value"]).split("\n")[0] in PARAPHRASES
    assert sorted(unescape(field["value"]).split("\n")[0] for field in fields[1:]) == sorted(UNRELATED)
    assert "5 declined" in fields[0]["value"]


async def test_gaps_counts_answers_that_got_a_thumbs_down(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    class Embedder:  # FakeEngine has no model: every question is its own row
        def encode_queries(self, texts: list[str]) -> Any:
            import numpy as np
            return np.eye(len(texts), 8, dtype=np.float32)

    engine = FakeEngine()
    engine.embedder = Embedder()
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
        await run_interaction(bot, slash_payload("ask", {"question": "Who is Harris in Iraq?"}))
        first, second = fake.of_kind("followup")
        await run_interaction(bot, button_payload(vote_ids(first)["down"], first.response))
        await run_interaction(bot, button_payload(vote_ids(second)["up"], second.response))
        fake.clear()
        await run_interaction(bot, slash_payload("gaps", roles=[MOD_ROLE_ID]))
    [field] = fake.of_kind("followup")[0].json["embeds"][0]["fields"]
    assert unescape(field["value"]).startswith(TOPIC + "\n0 declined · 1 with")


# --- /stats -------------------------------------------------------------------------------------------
async def test_stats_attaches_a_png_chart_and_its_numbers_match_the_records(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    sent_files: list[Any] = []
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch, database=database) as bot:
        recorder = AsyncWebhookAdapter.request

        async def keep_files(adapter: Any, route: Any, session: Any, **kwargs: Any) -> Any:
            sent_files.extend(kwargs.get("files") or [])
            return await recorder(adapter, route, session, **kwargs)

        monkeypatch.setattr(AsyncWebhookAdapter, "request", keep_files)
        for number, question in enumerate([TOPIC, TOPIC, OFF_TOPIC, "Is Trump against Maliki?", OFF_TOPIC]):
            await run_interaction(bot, slash_payload("ask", {"question": question}, user_id=USER_ID + number))
        answers = [r for r in fake.of_kind("followup") if has_votes(r)]
        for user, vote in ((USER_ID, "up"), (OTHER_USER_ID, "down"), (USER_ID + 7, "up")):
            await run_interaction(bot, button_payload(vote_ids(answers[0])[vote], answers[0].response, user_id=user))
        fake.clear()
        sent_files.clear()
        await run_interaction(bot, slash_payload("stats", {"days": 7}, roles=[MOD_ROLE_ID]))
    followup = fake.of_kind("followup")[0]
    assert followup.ephemeral
    expected = collect_stats(database, GUILD_ID, 7)
    assert (expected.asked, expected.answered, expected.declined, expected.thumbs_up, expected.thumbs_down) == (5, 3, 2, 2, 1)
    embed = followup.json["embeds"][0]
    assert embed["description"] == messages.STATS_SUMMARY.format(
        asked=5, answered=3, declined=2, answered_share=0.6, declined_share=0.4, up=2, down=1)
    assert "5 asked, 3 answered, 2 declined" in embed["fields"][0]["value"]
    assert embed["fields"][1]["value"] == messages.STATS_CHANNEL.format(channel_id=CHANNEL_ID, count=5)
    assert embed["image"]["url"] == "attachment://stats.png"
    assert followup.json["attachments"][0]["filename"] == "stats.png"
    [chart] = sent_files
    chart.fp.seek(0)
    image = Image.open(io.BytesIO(chart.fp.read()))
    assert image.format == "PNG" and image.size[0] >= 300


# --- /articles ------------------------------------------------------------------------------------------
_attachment_ids = itertools.count(210_000_000_000_000_001)
NEW_ARTICLE = (
    "Basra date growers report record harvest\n"
    "BASRA\n"
    "Date growers in Basra said on Sunday that this year's harvest of the Barhi variety reached 41,000 tonnes, "
    "the largest since 1980, after the Shatt al-Arab's salinity fell.\n"
    "Farmers credited new freshwater releases from upstream dams for the recovery of the palm groves.\n"
)
NEW_QUESTION = "How many tonnes of Barhi dates did Basra harvest this year?"


def articles_payload(subcommand: str, options: dict[str, Any], *, attachment: tuple[str, int] | None = None,
                     **kwargs: Any) -> dict[str, Any]:
    """/articles SUBCOMMAND with string options, and an uploaded file described by (name, size)."""
    inner = [{"type": 3, "name": key, "value": value} for key, value in options.items()]
    data: dict[str, Any] = {"id": "4242", "name": "articles", "type": 1,
                            "options": [{"type": 1, "name": subcommand, "options": inner}]}
    if attachment is not None:
        name, size = attachment
        attachment_id = str(next(_attachment_ids))
        inner.insert(0, {"type": 11, "name": "file", "value": attachment_id})
        data["resolved"] = {"attachments": {attachment_id: {
            "id": attachment_id, "filename": name, "size": size, "url": f"https://cdn.example/{attachment_id}",
            "proxy_url": f"https://cdn.example/{attachment_id}"}}}
    kwargs.setdefault("roles", [ADMIN_ROLE_ID])
    return interaction_payload(data, **kwargs)


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """filename -> bytes that `Attachment.read()` returns (Discord's CDN is not reachable)."""
    files: dict[str, bytes] = {}
    downloaded: list[str] = []

    async def read(self: discord.Attachment, *, use_cached: bool = False) -> bytes:
        downloaded.append(self.filename)
        return files[self.filename]

    monkeypatch.setattr(discord.Attachment, "read", read)
    files["__downloaded__"] = downloaded  # type: ignore[assignment]
    return files


@pytest.fixture
def own_engine(fresh_settings: Any, embedder: Any) -> Engine:
    """The real engine over a private copy of the seeds (these tests change the folder)."""
    return Engine.open(fresh_settings, embedder=embedder)


async def start_and_wait_for_reply(bot: Any, fake: FakeDiscord, payload: dict[str, Any]) -> tuple[Any, Any]:
    """Start a command that waits for a button and return (its still-running future, its first reply)."""
    pending = start_interaction(bot, payload)
    for _ in range(500):
        if fake.requests:
            return pending, fake.requests[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the command never replied")


def last_body(fake: FakeDiscord) -> dict[str, Any]:
    return fake.of_kind("callback", "followup", "edit_original")[-1].body


async def test_adding_a_good_article_makes_it_answerable_and_names_it(database: Any, own_engine: Engine, fake: FakeDiscord,
                                                                      monkeypatch: pytest.MonkeyPatch, uploads: dict[str, bytes]) -> None:
    assert not own_engine.ask(NEW_QUESTION).answered
    uploads["basra-dates.txt"] = NEW_ARTICLE.encode("utf-8")
    async with running_bot(own_engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, articles_payload(
            "add", {"outlet": "Gulf Ledger", "url": "https://example.org/basra-dates", "published": "2026-11-29"},
            attachment=("basra-dates.txt", len(uploads["basra-dates.txt"]))))
        body = last_body(fake)
        assert body["content"] == messages.ARTICLE_ADDED.format(source="basra-dates.txt")
        added = body["embeds"][0]["fields"][0]
        assert added["name"] == messages.REINDEX_ADDED and unescape(added["value"]) == "basra-dates.txt"
        answer = own_engine.ask(NEW_QUESTION)
        assert answer.answered and answer.quotes[0].source == "basra-dates.txt"
        assert "41,000 tonnes" in answer.quotes[0].text
        assert (answer.quotes[0].outlet, answer.quotes[0].url, answer.quotes[0].published) == (
            "Gulf Ledger", "https://example.org/basra-dates", "2026-11-29")
        fake.clear()
        await run_interaction(bot, slash_payload("sources", roles=[MOD_ROLE_ID]))
    changes = fake.of_kind("followup")[0].json["embeds"][-1]
    assert changes["title"] == messages.SOURCES_CHANGES
    assert f"added basra-dates.txt by <@{USER_ID}>" in changes["description"]


BAD_UPLOADS = [
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("latin1.txt", "Caf\u00e9 in Baghdad\nThe caf\u00e9 opened.".encode("latin-1"), "not UTF-8"),
    ("../x.txt", b"Escaping headline\nBody text here.\n", "must not contain a folder"),
    ("empty.md", b"   \n\n", "empty file"),
    ("notes.pdf", b"Headline\nBody.\n", "only .txt and .md"),
]


async def test_bad_files_are_refused_by_name_and_change_nothing(database: Any, own_engine: Engine, fake: FakeDiscord,
                                                               monkeypatch: pytest.MonkeyPatch, uploads: dict[str, bytes]) -> None:
    seeds = own_engine.settings.seeds_dir
    before = sorted(path.relative_to(seeds.parent).as_posix() for path in seeds.parent.rglob("*") if path.is_file())
    index = own_engine.index
    async with running_bot(own_engine, make_settings(), fake, monkeypatch, database=database) as bot:
        for name, data, reason in BAD_UPLOADS:
            uploads[name] = data
            fake.clear()
            await run_interaction(bot, articles_payload("add", {}, attachment=(name, len(data))))
            text = unescape(last_body(fake)["content"])
            assert text.startswith(f"Refused {name}: ") and reason in text and text.endswith("Nothing was changed."), text
        fake.clear()  # 50 MB, refused by its declared size before anything is downloaded
        await run_interaction(bot, articles_payload("add", {}, attachment=("huge.txt", 50 * 1024 * 1024)))
        assert unescape(only_text(fake)).startswith("Refused huge.txt: the file is 52,428,800 bytes, over the limit")
    after = sorted(path.relative_to(seeds.parent).as_posix() for path in seeds.parent.rglob("*") if path.is_file())
    assert after == before and own_engine.index is index  # no file written, no re-index
    assert "huge.txt" not in uploads["__downloaded__"]
    assert records.latest_source_changes(database) == []


def quote_key(quote: Any) -> tuple[Any, ...]:
    return (quote.text, quote.source, quote.start, quote.end, quote.paragraph, quote.also_in)


def only_text(fake: FakeDiscord) -> str:
    [request] = fake.requests
    assert request.ephemeral
    return request.body["content"]


async def test_remove_then_restore_gives_back_the_same_answers(database: Any, own_engine: Engine, fake: FakeDiscord,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    question = "What did Trump write about Maliki on social media?"
    original = own_engine.ask(question)
    target = "001_d007a2e75fab5d5c.txt"
    assert target in {quote.source for quote in original.quotes}
    async with running_bot(own_engine, make_settings(), fake, monkeypatch, database=database) as bot:
        pending, asking = await start_and_wait_for_reply(bot, fake, articles_payload("remove", {"article": target}))
        assert asking.ephemeral and target in unescape(asking.body["content"])
        confirm = buttons(asking)[0]
        assert confirm["label"] == messages.CONFIRM
        fake.clear()  # nobody else may confirm
        await run_interaction(bot, button_payload(confirm["custom_id"], message_of(asking), user_id=OTHER_USER_ID, roles=[ADMIN_ROLE_ID]))
        assert only_text(fake) == messages.NOT_YOUR_CONFIRMATION
        index = own_engine.index
        await asyncio.sleep(0.3)  # time enough for a removal that did not wait for the button
        assert (own_engine.settings.seeds_dir / target).exists() and own_engine.index is index
        assert not pending.done()  # still waiting for the admin's answer
        fake.clear()
        await run_interaction(bot, button_payload(confirm["custom_id"], message_of(asking), roles=[ADMIN_ROLE_ID]))
        await pending
        assert unescape(last_body(fake)["content"]) == messages.ARTICLE_REMOVED.format(source=target)
        assert (own_engine.settings.archive / target).exists() and not (own_engine.settings.seeds_dir / target).exists()
        removed = own_engine.ask(question)
        assert target not in {quote.source for quote in removed.quotes}
        assert target not in {a.source for a in own_engine.sources().articles}
        fake.clear()
        await run_interaction(bot, articles_payload("restore", {"article": target}))
        assert unescape(last_body(fake)["content"]) == messages.ARTICLE_RESTORED.format(source=target)
    # The same quotes, citations and order; the scores may move in the third decimal, because the
    # restored article is embedded again in other batches (the int8 model pads per batch).
    restored = own_engine.ask(question)
    assert restored.answered == original.answered
    assert [quote_key(q) for q in restored.quotes] == [quote_key(q) for q in original.quotes]
    assert [q.score for q in restored.quotes] == pytest.approx([q.score for q in original.quotes], abs=0.03)
    assert [(c.action, c.source, c.actor_id) for c in records.latest_source_changes(database)] == [
        ("restore", target, USER_ID), ("remove", target, USER_ID)]


async def test_articles_autocomplete_offers_indexed_and_archived_articles(own_engine: Engine, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(own_engine, make_settings(), fake, monkeypatch) as bot:
        payload = articles_payload("remove", {"article": "001"})
        payload["type"] = 4  # APPLICATION_COMMAND_AUTOCOMPLETE
        payload["data"]["options"][0]["options"][0]["focused"] = True
        await run_interaction(bot, payload)
    [callback] = fake.requests
    assert callback.json["type"] == 8
    assert [choice["value"] for choice in callback.json["data"]["choices"]] == ["001_d007a2e75fab5d5c.txt"]


# --- /forget-me ---------------------------------------------------------------------------------------------
async def test_forget_me_leaves_no_row_with_the_member_id(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.storage.config_store import DatabaseConfigStore

    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
        await run_interaction(bot, slash_payload("ask", {"question": OFF_TOPIC}))
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}, user_id=OTHER_USER_ID))
        mine, _, theirs = fake.of_kind("followup")
        await run_interaction(bot, button_payload(vote_ids(theirs)["down"], theirs.response))
        await run_interaction(bot, button_payload(vote_ids(mine)["up"], mine.response, user_id=OTHER_USER_ID))
        records.record_source_change(database, GUILD_ID, USER_ID, "add", "x.txt")
        DatabaseConfigStore(database).put(GUILD_ID, None, "language", "en", USER_ID)
        assert _cells_holding(database, USER_ID)
        fake.clear()
        pending, asking = await start_and_wait_for_reply(bot, fake, slash_payload("forget-me", {}))
        assert asking.ephemeral and asking.body["content"] == messages.FORGET_CONFIRM
        erase = buttons(asking)[0]
        assert erase["label"] == messages.FORGET_BUTTON
        assert _cells_holding(database, USER_ID)  # nothing happens before the press
        fake.clear()
        await run_interaction(bot, button_payload(erase["custom_id"], message_of(asking)))
        await pending
    done = fake.of_kind("edit_original")[-1].body["content"]
    assert done.startswith("Done: ")
    assert _cells_holding(database, USER_ID) == []
    assert _cells_holding(database, OTHER_USER_ID)  # the other member's records stay


# --- permissions and registration ----------------------------------------------------------------------------
@pytest.mark.parametrize(("payload", "allowed"), [
    (lambda: slash_payload("gaps", permissions=EVERYONE_PERMS), False),
    (lambda: slash_payload("stats", permissions=EVERYONE_PERMS), False),
    (lambda: slash_payload("stats", roles=[MOD_ROLE_ID]), True),
    (lambda: articles_payload("restore", {"article": "x.txt"}, roles=[MOD_ROLE_ID], permissions=perms(manage_messages=True)), False),
    (lambda: articles_payload("restore", {"article": "x.txt"}, roles=[], permissions=perms(manage_guild=True)), True),
])
async def test_report_and_article_commands_check_the_member_at_runtime(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, payload: Any, allowed: bool) -> None:
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, payload())
    first = fake.requests[0]
    assert first.ephemeral
    assert (first.body.get("content") == messages.NO_PERMISSION) is not allowed


def test_new_commands_carry_their_default_permissions() -> None:
    payloads = {item["name"]: item for item in command_payloads(make_settings())}
    assert int(payloads["gaps"]["default_member_permissions"]) == perms(manage_messages=True)
    assert int(payloads["stats"]["default_member_permissions"]) == perms(manage_messages=True)
    assert int(payloads["articles"]["default_member_permissions"]) == perms(administrator=True)
    assert payloads["articles"]["contexts"] == [0]
    assert [option["name"] for option in payloads["articles"]["options"]] == ["add", "remove", "restore"]
    assert payloads["forget-me"]["default_member_permissions"] is None


async def test_without_a_database_the_record_commands_say_so(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_bot(FakeEngine(), make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("stats", roles=[MOD_ROLE_ID]))
        await run_interaction(bot, slash_payload("forget-me", {}))
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
    assert [r.body.get("content") for r in fake.of_kind("callback")][:2] == [messages.NO_DATABASE] * 2
    assert not has_votes(fake.of_kind("followup")[0])  # no vote buttons without records


# --- retention ------------------------------------------------------------------------------------------------
async def test_old_records_are_purged_when_the_bot_starts(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    for age, text in ((40, "old question"), (5, "recent question")):
        records.record_question(database, records.AskedQuestion(
            guild_id=GUILD_ID, channel_id=CHANNEL_ID, member_id=USER_ID, text=text, language=None, answered=False,
            reason="declined", best_dense=0.1, coverage=0.0, asked_at=now - timedelta(days=age)))
    async with running_bot(FakeEngine(), make_settings(log_retention_days=30), fake, monkeypatch, database=database) as bot:
        for _ in range(200):  # the purge loop's first run starts with the cog, in a worker thread
            if [row.text for row in gap_questions(database, 365)] == ["recent question"]:
                break
            await asyncio.sleep(0.02)
        assert bot.get_cog("Privacy").purge_loop.is_running()
    assert [row.text for row in gap_questions(database, 365)] == ["recent question"]


async def test_an_unreachable_database_never_stops_an_answer(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise OSError("database is gone")

    monkeypatch.setattr(records, "record_question", broken)
    engine = FakeEngine()
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": TOPIC}))
    [answer] = fake.of_kind("followup")
    assert answer.json["embeds"] and not has_votes(answer)  # the quotes went out, without vote buttons
    assert any("recording a question" in record.getMessage() for record in caplog.records)


async def test_gaps_pages_turn_for_the_moderator_who_asked(database: Any, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    class Embedder:  # every question its own row: 20 rows, 8 a page
        def encode_queries(self, texts: list[str]) -> Any:
            return np.eye(len(texts), 32, dtype=np.float32)

    engine = FakeEngine()
    engine.embedder = Embedder()
    for number in range(20):
        records.record_question(database, records.AskedQuestion(
            guild_id=GUILD_ID, channel_id=CHANNEL_ID, member_id=USER_ID, text=f"Off-topic question number {number}?",
            language=None, answered=False, reason="declined", best_dense=0.1, coverage=0.0))
    async with running_bot(engine, make_settings(), fake, monkeypatch, database=database) as bot:
        await run_interaction(bot, slash_payload("gaps", roles=[MOD_ROLE_ID]))
        [first] = fake.of_kind("followup")
        assert len(first.json["embeds"][0]["fields"]) == 8
        assert first.json["embeds"][0]["footer"]["text"] == messages.SOURCES_PAGE.format(page=1, pages=3)
        previous, following = buttons(first)
        fake.clear()
        await run_interaction(bot, button_payload(following["custom_id"], first.response, user_id=OTHER_USER_ID, roles=[MOD_ROLE_ID]))
        assert only_text(fake) == messages.NOT_YOUR_PAGES
        fake.clear()
        await run_interaction(bot, button_payload(following["custom_id"], first.response, roles=[MOD_ROLE_ID]))
        [turned] = fake.requests
        assert turned.json["type"] == 7
        assert turned.body["embeds"][0]["fields"][0]["name"] == messages.GAPS_ROW_NAME.format(rank=9, count=1)
