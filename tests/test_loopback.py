"""The real `python -m bot run` process against a loopback Discord, over real sockets.

One bot process serves the whole module (starting it loads the model: about 10 s), in file order:
questions, a mention, /sources, /reindex, a gateway close and resume, an invalid session, a 429, a
500, 200 interactions at once, and at the end SIGTERM and the token audit of everything it logged
and sent. The server (`tests/loopback/server.py`) records every request with its arrival time.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from bot import messages
from loopback.process import TOKEN, BotProcess
from loopback.server import ADMINISTRATOR, EPHEMERAL, LoopbackDiscord, Recorded, interaction_json, mention_json

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "articles"
TALKS = "Where did US and Iranian officials hold talks?"
ACK_DEADLINE = 3.0  # seconds Discord gives an interaction to be acknowledged


def copy_index(source: Path, target: Path) -> Path:
    """The session's launch-seeds index, without anything a process left in it (leases, the lock)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("leases", ".lock", "models"))
    return target


@pytest.fixture(scope="module")
def discord_server():
    server = LoopbackDiscord(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot(discord_server, engine, settings, tmp_path_factory):
    """One real bot process for the module, over a copy of the session's index and seeds."""
    root = tmp_path_factory.mktemp("loopback-bot")
    seeds = root / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    process = BotProcess(discord_server, root / "work", seeds=seeds, index=copy_index(settings.index_dir, root / "index"),
                         SHARDED="true")  # AutoShardedBot here; tests/test_shared_index.py runs the plain bot
    process.start()
    yield process
    process.stop()


def ask(server: LoopbackDiscord, question: str, **kwargs) -> tuple[dict, float]:
    interaction = interaction_json("ask", {"question": question}, **kwargs)
    server.dispatch("INTERACTION_CREATE", interaction)
    return interaction, time.monotonic()


def requests_until(server: LoopbackDiscord, interaction: dict, kind: str, timeout: float = 30.0) -> list[Recorded]:
    """The interaction's requests, once one of `kind` answered 200 has arrived."""
    def done() -> list[Recorded] | None:
        seen = server.for_token(interaction["token"])
        return seen if any(r.kind == kind and r.status == 200 for r in seen) else None

    return server.wait_for(done, timeout, f"a {kind} for interaction {interaction['id']}")


def quoted_sources(message: dict) -> str:
    """Every citation line of an answer embed, unescaped (file names carry markdown-escaped underscores)."""
    fields = [field for embed in message.get("embeds") or [] for field in embed.get("fields") or []]
    return " ".join(field["value"] for field in fields).replace("\\_", "_")


def test_ask_is_deferred_within_3s_and_followed_by_quotes(bot, discord_server):
    interaction, sent = ask(discord_server, TALKS)
    seen = requests_until(discord_server, interaction, "followup")
    callback = next(r for r in seen if r.kind == "callback")
    assert callback.json == {"type": 5}  # a public "thinking…"
    assert callback.at - sent < ACK_DEADLINE
    followup = next(r for r in seen if r.kind == "followup" and r.status == 200)
    embed = followup.json["embeds"][0]
    assert embed["title"] == messages.ANSWER_TITLE and "Oman" in embed["fields"][0]["value"]
    assert not followup.flags & EPHEMERAL
    assert followup.json["allowed_mentions"] == {"parse": []}


def test_a_mention_gets_a_reply_with_quotes(bot, discord_server):
    message = mention_json("Why does Washington see Maliki as a problem?")
    discord_server.dispatch("MESSAGE_CREATE", message)
    reply = discord_server.wait_for(
        lambda: [r for r in discord_server.snapshot() if r.kind == "channel_message"
                 and str((r.json or {}).get("message_reference", {}).get("message_id")) == message["id"]],
        30, "the reply to the mention")[0]
    assert reply.status == 200 and reply.path == f"/channels/{message['channel_id']}/messages"
    assert reply.json["embeds"][0]["title"] == messages.ANSWER_TITLE
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}


def test_sources_lists_the_articles_privately(bot, discord_server):
    interaction = interaction_json("sources", permissions=ADMINISTRATOR)
    discord_server.dispatch("INTERACTION_CREATE", interaction)
    seen = requests_until(discord_server, interaction, "followup")
    assert next(r for r in seen if r.kind == "callback").json == {"type": 5, "data": {"flags": EPHEMERAL}}
    followup = next(r for r in seen if r.kind == "followup")
    assert followup.flags & EPHEMERAL
    listed = " ".join(field["name"] for field in followup.json["embeds"][0]["fields"])
    assert "Maliki defiant after US threatens to withdraw Iraq support" in listed


def test_sources_is_refused_to_a_member_without_permission(bot, discord_server):
    interaction = interaction_json("sources")
    discord_server.dispatch("INTERACTION_CREATE", interaction)
    [callback] = requests_until(discord_server, interaction, "callback")
    assert callback.json["type"] == 4 and callback.flags & EPHEMERAL
    assert callback.message["content"] == messages.NO_PERMISSION


def test_reindex_reports_the_added_article_and_answers_from_it(bot, discord_server):
    article = "2026-01-10_zagros-times-kurdistan-salaries-unpaid.txt"
    shutil.copy(CORPUS / article, Path(bot.env["SEEDS_DIR"]) / article)
    interaction = interaction_json("reindex", permissions=ADMINISTRATOR)
    discord_server.dispatch("INTERACTION_CREATE", interaction)

    def finished() -> Recorded | None:
        edits = [r for r in discord_server.for_token(interaction["token"]) if r.kind == "edit_original"]
        return next((r for r in edits if (r.json.get("embeds") or [{}])[0].get("title") == messages.REINDEX_TITLE), None)

    report = discord_server.wait_for(finished, 90, "the reindex report")
    seen = discord_server.for_token(interaction["token"])
    assert seen[0].kind == "callback" and seen[0].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert seen[1].json["content"] == messages.REINDEX_STARTING
    fields = {field["name"]: field["value"] for field in report.json["embeds"][0]["fields"]}
    assert "zagros-times-kurdistan-salaries-unpaid" in fields[messages.REINDEX_ADDED]
    asked, _ = ask(discord_server, "How many months of salaries are Kurdistan Region civil servants still owed?")
    answer = next(r for r in requests_until(discord_server, asked, "followup") if r.kind == "followup")
    assert article in quoted_sources(answer.json)


def test_gateway_closed_with_4000_resumes_and_loses_no_question(bot, discord_server):
    session = discord_server.current_session()
    identifies = len(discord_server.gateway_ops("recv", 2))
    discord_server.close_gateway(4000)
    interaction, _ = ask(discord_server, TALKS)  # sent while the bot is away: Discord replays it on RESUME
    requests_until(discord_server, interaction, "followup")
    [resume] = discord_server.gateway_ops("recv", 6)[-1:]
    assert resume["d"]["session_id"] == session.id and resume["d"]["seq"] < session.seq
    assert len(discord_server.gateway_ops("recv", 2)) == identifies  # resumed, not identified again
    assert discord_server.current_session() is session


def test_an_invalid_session_leads_to_a_fresh_identify(bot, discord_server):
    old = discord_server.current_session()
    identifies = len(discord_server.gateway_ops("recv", 2))
    discord_server.close_gateway(4000, invalidate=True)
    discord_server.wait_for(lambda: len(discord_server.gateway_ops("recv", 2)) > identifies, 30, "a fresh IDENTIFY")
    assert discord_server.gateway_ops("sent", 9)  # the RESUME was refused with INVALID_SESSION
    discord_server.wait_for(lambda: discord_server.current_session() not in (None, old), 10, "a new session")
    interaction, _ = ask(discord_server, TALKS)
    answer = next(r for r in requests_until(discord_server, interaction, "followup") if r.kind == "followup")
    assert "Oman" in answer.json["embeds"][0]["fields"][0]["value"]


def test_a_429_is_waited_out_for_its_retry_after_and_the_answer_arrives(bot, discord_server):
    retry_after = 1.5
    discord_server.fail_next("POST", r"/webhooks/\d+/itoken-[^/]+", 429, retry_after=retry_after)
    interaction, _ = ask(discord_server, TALKS)
    seen = requests_until(discord_server, interaction, "followup")
    followups = [r for r in seen if r.kind == "followup"]
    assert [r.status for r in followups] == [429, 200]
    assert followups[1].at - followups[0].at >= retry_after - 0.05  # nothing before retry_after elapsed
    assert "Oman" in followups[1].json["embeds"][0]["fields"][0]["value"]


def test_a_500_is_retried_and_the_answer_arrives(bot, discord_server):
    discord_server.fail_next("POST", r"/webhooks/\d+/itoken-[^/]+", 500)
    interaction, _ = ask(discord_server, TALKS)
    seen = requests_until(discord_server, interaction, "followup")
    followups = [r for r in seen if r.kind == "followup"]
    assert [r.status for r in followups] == [500, 200]
    assert "Oman" in followups[1].json["embeds"][0]["fields"][0]["value"]


def test_200_interactions_at_once_are_all_acknowledged_within_3s(bot, discord_server):
    interactions = [interaction_json("ask", {"question": TALKS}, user_id=610_000_000_000_000_000 + n) for n in range(200)]
    sent = discord_server.dispatch_many([("INTERACTION_CREATE", i) for i in interactions])

    def all_settled() -> bool:
        for interaction in interactions:
            seen = discord_server.for_token(interaction["token"])
            callback = next((r for r in seen if r.kind == "callback"), None)
            if callback is None or (callback.json["type"] == 5 and not any(r.kind == "followup" for r in seen)):
                return False
        return True

    discord_server.wait_for(all_settled, 120, "every interaction to be answered")
    busy = answered = 0
    for interaction, at in zip(interactions, sent):
        seen = discord_server.for_token(interaction["token"])
        callback = next(r for r in seen if r.kind == "callback")
        assert callback.status == 200 and callback.at - at < ACK_DEADLINE, f"acknowledged after {callback.at - at:.2f}s"
        if callback.json["type"] == 4:
            assert callback.flags & EPHEMERAL and callback.message["content"] == messages.BUSY
            busy += 1
        else:
            followup = next(r for r in seen if r.kind == "followup")
            assert followup.status == 200 and followup.json["embeds"][0]["title"] == messages.ANSWER_TITLE
            answered += 1
    assert busy + answered == 200 and answered >= 8 and busy > 0  # MAX_CONCURRENT_ASKS is 8: the rest are busy
    assert "error " not in bot.log() and "Traceback" not in bot.log()


def test_sigterm_answers_the_questions_in_flight_closes_the_gateway_and_exits_0_within_10s(bot, discord_server):
    interactions = [interaction_json("ask", {"question": TALKS}, user_id=630_000_000_000_000_000 + n) for n in range(8)]
    discord_server.dispatch_many([("INTERACTION_CREATE", i) for i in interactions])
    discord_server.wait_for(lambda: any(r.kind == "callback" for r in discord_server.for_token(interactions[0]["token"])),
                            10, "the first deferral")
    bot.send(signal.SIGTERM)  # questions are being answered right now
    started = time.monotonic()
    code = bot.wait(10)
    assert code == 0 and time.monotonic() - started < 10
    for interaction in interactions:  # each one taken got its answer before the connection closed
        seen = discord_server.for_token(interaction["token"])
        if any(r.kind == "callback" and r.json["type"] == 5 for r in seen):
            assert any(r.kind == "followup" and r.status == 200 for r in seen), "a deferred question lost its answer"
    closes = [payload for _, way, payload in discord_server.gateway_log if way == "closed"]
    assert closes and closes[-1]["code"] == 1000  # the bot closed the websocket itself, normally
    assert "Traceback" not in bot.log()


def test_the_token_is_in_no_log_line_and_only_in_authorization_headers(bot, discord_server):
    log = bot.log()
    assert "logged in as" in log and "INTERACTION_CREATE" in log  # DEBUG: every level was logged
    assert TOKEN not in log
    token_parts = TOKEN.split(".")
    assert not any(part in log for part in token_parts[1:])  # not even a piece of it
    authorized = 0
    for request in discord_server.snapshot():
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        assert TOKEN not in request.path + str(request.query) + str(headers) + request.body.decode(errors="replace")
        if request.headers.get("Authorization") == f"Bot {TOKEN}":
            authorized += 1
    assert authorized >= 2  # login and the gateway lookup did use it
    for _, way, payload in discord_server.gateway_log:
        if way == "recv" and payload.get("op") not in (2, 6):  # IDENTIFY and RESUME carry it by protocol
            assert TOKEN not in str(payload)
