"""Issues 14 and 15 over real sockets: the real `python -m bot run` against the loopback Discord.

tests/test_discord_members.py and tests/test_discord_records.py show threads, persistent buttons,
votes and /config through the real command tree in one process; here the same features go through
the real process, its gateway connection and REST calls, and a real restart: the process is stopped
with SIGTERM and a new one started on the same STATE_DIR and database file.

One bot process answers until the restart, then its successor (module fixtures, in file order):
REPLY_MODE=thread for the first question; an admin's /config then makes replies inline, an answer
is sent and voted on, the process restarts, and the old answer's buttons and the /config value are
checked on the new process.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import messages
from bot.storage import records
from bot.storage.database import open_database
from bot.storage.schema import feedback
from loopback.process import TOKEN, BotProcess
from loopback.server import (
    ADMINISTRATOR, CHANNEL_ID, EPHEMERAL, LoopbackDiscord, Recorded, component_json, interaction_json, subcommand_json,
)
from payload_checks import unescape

pytestmark = pytest.mark.slow

MALIKI = "Why does Washington see Maliki as a problem?"
TALKS = "Where did US and Iranian officials hold talks?"
VOTER, OTHER_VOTER = 640_000_000_000_000_001, 640_000_000_000_000_002


@dataclass
class Live:
    """The running bot process (replaced on restart) and what the tests before the restart left."""

    server: LoopbackDiscord
    process: BotProcess
    database_url: str
    answer: dict[str, Any] | None = None  # the inline answer message sent before the restart
    restarted: bool = False


@pytest.fixture(scope="module")
def live(engine, settings, tmp_path_factory):
    """The loopback Discord and one real bot process with REPLY_MODE=thread, its own state and database."""
    root = tmp_path_factory.mktemp("loopback-members")
    seeds = root / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    index = root / "index"
    shutil.copytree(settings.index_dir, index, ignore=shutil.ignore_patterns("leases", ".lock", "models", "bot.db*"))
    database_url = f"sqlite:///{root / 'records.db'}"
    server = LoopbackDiscord(TOKEN).start()
    process = BotProcess(server, root / "work", seeds=seeds, index=index, REPLY_MODE="thread",
                         STATE_DIR=str(root / "state"), DATABASE_URL=database_url, SHARDED="false")
    state = Live(server, process, database_url)
    try:
        process.start()
        yield state
    finally:
        state.process.stop()
        server.stop()


def send(server: LoopbackDiscord, interaction: dict[str, Any]) -> dict[str, Any]:
    server.dispatch("INTERACTION_CREATE", interaction)
    return interaction


def settled(server: LoopbackDiscord, interaction: dict[str, Any], timeout: float = 30.0) -> list[Recorded]:
    """The interaction's requests once it is answered: a reply callback, or a deferral and its follow-up."""
    def done() -> list[Recorded] | None:
        seen = server.for_token(interaction["token"])
        callback = next((r for r in seen if r.kind == "callback" and r.status in (200, 204)), None)
        if callback is None:
            return None
        if callback.json["type"] == 5 and not any(r.kind == "followup" and r.status == 200 for r in seen):
            return None
        return seen

    return server.wait_for(done, timeout, f"the answer to interaction {interaction['id']}")


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [button.get("custom_id", "") for row in message.get("components") or [] for button in row["components"]]


def button(message: dict[str, Any], prefix: str) -> str:
    found = [custom_id for custom_id in custom_ids(message) if custom_id.startswith(prefix)]
    assert found, (prefix, custom_ids(message))
    return found[0]


def thumbs_up(message: dict[str, Any]) -> str:
    [found] = [custom_id for custom_id in custom_ids(message) if custom_id.startswith("qb:vote:") and custom_id.endswith(":up")]
    return found


def field_names(message: dict[str, Any]) -> list[str]:
    return [field["name"] for embed in message.get("embeds") or [] for field in embed.get("fields") or []]


def ask_and_wait(live: Live, question: str, timeout: float = 30.0) -> tuple[dict[str, Any], list[Recorded]]:
    """An /ask; returns it with its requests once the answer went out, inline or into a thread."""
    interaction = send(live.server, interaction_json("ask", {"question": question}))

    def answered() -> list[Recorded] | None:
        seen = live.server.for_token(interaction["token"])
        followups = [r for r in seen if r.kind == "followup" and r.status == 200]
        if any(r.json.get("embeds") for r in followups):
            return seen
        if any(r.json.get("content") == messages.THREAD_STARTER for r in followups):
            thread_posts = [r for r in thread_answers(live.server) if r.at >= followups[0].at]
            return seen if thread_posts else None
        return None

    return interaction, live.server.wait_for(answered, timeout, f"the answer to {question!r}")


def thread_answers(server: LoopbackDiscord) -> list[Recorded]:
    """Messages the bot posted into threads it started."""
    return [r for r in server.snapshot() if r.kind == "channel_message" and r.status == 200
            and int(r.path.split("/")[2]) in server.threads]


def config_set(live: Live, key: str, value: str) -> Recorded:
    interaction = send(live.server, subcommand_json("config", "set", {"key": key, "value": value},
                                                    permissions=ADMINISTRATOR))
    [reply] = settled(live.server, interaction)
    return reply


def restart(live: Live) -> None:
    """Stop the process as an operator would (SIGTERM) and start a new one on the same folders and database."""
    if live.restarted:
        return
    old_session = live.server.current_session()
    live.process.send(signal.SIGTERM)
    assert live.process.wait(15) == 0
    # A fresh working folder, so its bot.log holds only the new process's lines (start() waits for
    # "logged in as" there); the state it keeps is in STATE_DIR and the database, as in production.
    live.process = BotProcess(live.server, live.process.workdir.with_name("work-restarted"),
                              seeds=Path(live.process.env["SEEDS_DIR"]),
                              index=Path(live.process.env["INDEX_DIR"]),
                              **{k: live.process.env[k] for k in ("REPLY_MODE", "STATE_DIR", "DATABASE_URL", "SHARDED")})
    live.process.start()
    assert live.server.current_session() not in (None, old_session)  # identified afresh, not resumed
    live.restarted = True


# --- threads ------------------------------------------------------------------------------------
def test_with_replies_in_threads_an_ask_opens_a_thread_on_its_message_and_the_answer_lands_in_it(live):
    _, seen = ask_and_wait(live, MALIKI)
    callback = next(r for r in seen if r.kind == "callback")
    assert callback.json == {"type": 5}  # a public "thinking…"
    [starter] = [r for r in seen if r.kind == "followup"]
    assert starter.json.get("content") == messages.THREAD_STARTER and starter.query.get("wait") in ("true", "1")
    opened = [r for r in live.server.snapshot() if r.kind == "thread_create"]
    assert len(opened) == 1 and opened[0].status == 201
    [started] = opened
    assert started.path == f"/channels/{CHANNEL_ID}/messages/{starter.response['id']}/threads"  # on the starter
    assert started.json["name"] == MALIKI
    thread_id = int(started.response["id"])
    [answer] = thread_answers(live.server)
    assert answer.path == f"/channels/{thread_id}/messages"  # the quotes are in the thread, not the channel
    assert answer.json["embeds"][0]["title"] == messages.ANSWER_TITLE and field_names(answer.json)
    assert button(answer.json, "qb:more:") and button(answer.json, "qb:vote:")
    assert answer.json["allowed_mentions"] == {"parse": []}
    assert not any(r.kind == "followup" and r.json.get("embeds") for r in seen)  # nothing quoted inline


# --- /config, at once ---------------------------------------------------------------------------
def test_config_set_by_an_admin_changes_replies_at_once(live):
    refused = send(live.server, subcommand_json("config", "set", {"key": "replies", "value": "inline"}))
    [no] = settled(live.server, refused)
    assert no.flags & EPHEMERAL and no.message["content"] == messages.NO_PERMISSION  # members may not
    done = config_set(live, "replies", "inline")
    assert done.flags & EPHEMERAL and done.message["content"] == messages.CONFIG_SET.format(
        key="replies", value="inline", where=messages.CONFIG_WHERE_SERVER)
    threads_before = len(live.server.threads)
    _, seen = ask_and_wait(live, TALKS)
    [answer] = [r for r in seen if r.kind == "followup"]
    assert answer.json.get("embeds"), f"not answered inline: {answer.json.get('content')!r}"
    assert answer.json["embeds"][0]["title"] == messages.ANSWER_TITLE and "Oman" in str(answer.json["embeds"])
    assert not answer.flags & EPHEMERAL
    assert len(live.server.threads) == threads_before  # inline, though REPLY_MODE says thread
    live.answer = answer.response  # the message Discord now holds, buttons and all


@pytest.fixture(scope="module")
def old_answer(live) -> dict[str, Any]:
    """The inline answer sent before the restart, with one 👍 from VOTER recorded on the old process."""
    if live.answer is None:  # run on its own (-k): send it here
        config_set(live, "replies", "inline")
        _, seen = ask_and_wait(live, TALKS)
        live.answer = next(r for r in seen if r.kind == "followup").response
    assert not live.restarted
    first = send(live.server, component_json(thumbs_up(live.answer), live.answer, user_id=VOTER))
    [callback] = settled(live.server, first)
    assert callback.message["content"] == messages.VOTE_RECORDED.format(vote=messages.VOTE_UP)
    restart(live)
    return live.answer


# --- buttons after a real restart --------------------------------------------------------------
def test_more_quotes_and_full_paragraph_on_an_answer_sent_before_a_real_restart_are_answered(live, old_answer):
    more = send(live.server, component_json(button(old_answer, "qb:more:"), old_answer))
    seen = settled(live.server, more)
    callback = next(r for r in seen if r.kind == "callback")
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    [page] = [r for r in seen if r.kind == "followup"]
    assert page.flags & EPHEMERAL and page.json["embeds"], page.json.get("content")
    first_page, next_page = field_names(old_answer), field_names(page.json)
    count = len(first_page)
    assert [name.split(". ", 1)[0] for name in next_page] == [str(count + n) for n in range(1, len(next_page) + 1)]
    assert page.json["embeds"][0]["fields"] != old_answer["embeds"][0]["fields"]  # the next quotes, not the same

    paragraph = send(live.server, component_json(button(old_answer, "qb:para:"), old_answer))
    [reply] = settled(live.server, paragraph)
    assert reply.json["type"] == 4 and reply.flags & EPHEMERAL
    shown = unescape(reply.message["embeds"][0]["description"].rsplit("\n— ", 1)[0])
    quote = unescape(old_answer["embeds"][0]["fields"][0]["value"].rsplit("\n— ", 1)[0])
    assert quote.removesuffix(messages.ELLIPSIS) in shown  # the paragraph of the answer's first quote
    seeds = Path(live.process.env["SEEDS_DIR"])
    assert any(shown in path.read_text(encoding="utf-8") for path in seeds.glob("*.txt"))  # verbatim from a file
    assert "Traceback" not in live.process.log()


def test_a_vote_pressed_after_a_real_restart_is_answered_and_stored_once(live, old_answer):
    up = thumbs_up(old_answer)
    record_id = int(up.split(":")[2])
    again = send(live.server, component_json(up, old_answer, user_id=VOTER))
    [same] = settled(live.server, again)
    assert same.json["type"] == 4 and same.flags & EPHEMERAL
    assert same.message["content"] == messages.VOTE_SAME.format(vote=messages.VOTE_UP)  # it knew the old vote
    other = send(live.server, component_json(up, old_answer, user_id=OTHER_VOTER))
    [recorded] = settled(live.server, other)
    assert recorded.message["content"] == messages.VOTE_RECORDED.format(vote=messages.VOTE_UP)
    database = open_database(live.database_url)
    try:
        assert records.votes_of(database, record_id) == {VOTER: records.UP, OTHER_VOTER: records.UP}
        with database.begin() as connection:
            rows = connection.execute(select(func.count()).select_from(feedback)
                                      .where(feedback.c.question_id == record_id)).scalar_one()
        assert rows == 2  # one row per member, the repeated press stored nothing more
    finally:
        database.engine.dispose()


# --- /config after a real restart ----------------------------------------------------------------
def test_config_still_holds_after_a_real_restart(live, old_answer):
    assert live.restarted
    threads_before = len(live.server.threads)
    _, seen = ask_and_wait(live, MALIKI)
    [answer] = [r for r in seen if r.kind == "followup"]
    assert answer.json.get("embeds"), f"not answered inline: {answer.json.get('content')!r}"
    assert answer.json["embeds"][0]["title"] == messages.ANSWER_TITLE  # inline, as /config said before the restart
    assert len(live.server.threads) == threads_before
    cleared = send(live.server, subcommand_json("config", "clear", {"key": "replies"}, permissions=ADMINISTRATOR))
    [done] = settled(live.server, cleared)
    assert done.message["content"] == messages.CONFIG_CLEARED.format(key="replies", where=messages.CONFIG_WHERE_SERVER)
    _, seen = ask_and_wait(live, MALIKI)
    assert len(live.server.threads) == threads_before + 1  # back to REPLY_MODE=thread: it was the stored value
    assert "Traceback" not in live.process.log()
