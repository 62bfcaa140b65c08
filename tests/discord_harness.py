"""Drive the real bot without Discord, the way discord.py's own tests do.

Why this shape: discord.py's `tests/test_app_commands_invoke.py` builds real `discord.Interaction`
objects from raw payloads on a real `ConnectionState` and calls the command tree. We do the same,
and go one step further down: interactions enter through `ConnectionState.parse_interaction_create`
(what the gateway's INTERACTION_CREATE handler calls) and messages through `bot.dispatch`, and
the only thing replaced is the HTTP layer:

* `AsyncWebhookAdapter.request` (interaction callbacks, follow-ups, edits of the original
  response) and
* the bot's `HTTPClient.request` (channel messages, command sync)

both record every request with its JSON body and answer with plausible Discord JSON, so the
library code between the cogs and the wire runs unmodified.

`FakeEngine` has the interface of `bot.engine.engine.Engine` and canned answers whose quotes are
exact slices of the seed files: for tests that need to control what the engine says, fails or
takes, and for quick runs of the Discord layer alone. `GatedEngine` wraps *any* engine (fake or
real) so a rebuild pauses inside its progress callback until a test opens the gate.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.discord.client import QuoteBot, create_bot
from bot.config import Settings
from bot.engine.engine import ReindexInProgress
from bot.engine.reading import paragraph_of
from bot.engine.models import (
    Answer,
    Article,
    Citation,
    IndexedArticle,
    Quote,
    ReindexReport,
    SourcesReport,
)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"

BOT_ID = 900_000_000_000_000_001
GUILD_ID = 800_000_000_000_000_001
CHANNEL_ID = 700_000_000_000_000_001
USER_ID = 600_000_000_000_000_001
OTHER_USER_ID = 600_000_000_000_000_002
MOD_ROLE_ID = 500_000_000_000_000_001
ADMIN_ROLE_ID = 500_000_000_000_000_002
OTHER_ROLE_ID = 500_000_000_000_000_003

NONE_MENTIONS = {"parse": []}
EPHEMERAL = 64
_NOW = "2025-01-01T00:00:00.000000+00:00"


# --- settings ------------------------------------------------------------------------------------
def make_settings(**overrides: Any) -> Settings:
    """Settings that ignore the developer's .env and environment knobs that matter here."""
    values: dict[str, Any] = dict(
        discord_token=None,
        guild_ids=[],
        moderator_role_ids=[MOD_ROLE_ID],
        admin_role_ids=[ADMIN_ROLE_ID],
        ask_cooldown_seconds=0.0,
        max_concurrent_asks=4,
        sharded=False,
        log_level="INFO",
        # /config and button state: a fresh folder per settings object (a "restart" reuses the object)
        state_dir=Path(tempfile.mkdtemp(prefix="quotebot-state-")),
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


# --- fake HTTP -----------------------------------------------------------------------------------
@dataclass
class Request:
    """One recorded HTTP request."""

    method: str
    path: str  # route template, e.g. /webhooks/{webhook_id}/{webhook_token}
    url: str
    json: Any
    params: dict[str, Any] | None = None
    response: Any = None  # what the fake answered (e.g. the message JSON, with its id)

    @property
    def kind(self) -> str:
        """callback | followup | edit_original | delete_original | edit_message | get_original | channel_message |
        edit_channel_message | thread_create | dm_open | typing | sync | other"""
        if self.path.endswith("/callback"):
            return "callback"
        if self.path == "/webhooks/{webhook_id}/{webhook_token}" and self.method == "POST":
            return "followup"
        if self.path.endswith("/messages/@original"):
            return {"PATCH": "edit_original", "GET": "get_original", "DELETE": "delete_original"}.get(self.method, "other")
        if "/webhooks/" in self.path and "/messages/" in self.path and self.method == "PATCH":
            return "edit_message"
        if self.path == "/channels/{channel_id}/messages" and self.method == "POST":
            return "channel_message"
        if self.path == "/channels/{channel_id}/messages/{message_id}" and self.method == "PATCH":
            return "edit_channel_message"
        if self.path.endswith("/threads") and self.method == "POST":
            return "thread_create"
        if self.path == "/users/@me/channels" and self.method == "POST":
            return "dm_open"
        if self.path.endswith("/typing"):
            return "typing"
        if "/commands" in self.path and self.method == "PUT":
            return "sync"
        return "other"

    @property
    def flags(self) -> int:
        body = self.json or {}
        data = body.get("data", body) if self.kind == "callback" else body
        return int((data or {}).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def body(self) -> dict[str, Any]:
        """The message part: callback `data`, or the request body itself."""
        if self.kind == "callback":
            return (self.json or {}).get("data") or {}
        return self.json or {}


def user_payload(user_id: int, *, name: str = "someone", bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
    }


def thread_json(thread_id: int, parent_id: int, name: str) -> dict[str, Any]:
    """A public thread as Discord describes it (what thread creation returns, and an interaction's channel)."""
    return {
        "id": str(thread_id), "type": 11, "guild_id": str(GUILD_ID), "parent_id": str(parent_id), "name": name,
        "owner_id": str(BOT_ID), "last_message_id": None, "message_count": 0, "member_count": 1, "rate_limit_per_user": 0,
        "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": _NOW, "locked": False},
    }


class FakeDiscord:
    """Records every request the bot makes and answers like Discord would (enough for the library)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._ids = itertools.count(100_000_000_000_000_001)
        self.channel_id = CHANNEL_ID
        self.dm_channel_id = CHANNEL_ID + 1
        self.threads: dict[int, int] = {}  # thread id -> parent channel id, for threads the bot opened

    # ids and canned JSON -------------------------------------------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    def message_json(self, body: dict[str, Any] | None, *, channel_id: int | None = None) -> dict[str, Any]:
        body = body or {}
        return {
            "id": str(self.new_id()),
            "channel_id": str(channel_id or self.channel_id),
            "author": user_payload(BOT_ID, name="quotebot", bot=True),
            "content": body.get("content") or "",
            "timestamp": _NOW,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
        }

    def _respond(self, request: Request) -> Any:
        kind = request.kind
        if kind == "callback":
            body = request.json or {}
            response_type = body.get("type")
            data = body.get("data") or {}
            message = self.message_json(data)
            return {
                "interaction": {
                    "id": request.url.split("/interactions/")[1].split("/")[0],
                    "type": 2,
                    "response_message_id": message["id"],
                    "response_message_loading": response_type == 5,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
                },
                "resource": {"type": response_type, "message": message},
            }
        if kind in ("followup", "edit_original", "edit_message", "get_original"):
            return self.message_json(request.json)
        if kind in ("channel_message", "edit_channel_message"):
            return self.message_json(request.json, channel_id=int(request.url.split("/channels/")[1].split("/")[0]))
        if kind == "thread_create":
            parent = int(request.url.split("/channels/")[1].split("/")[0])
            thread_id = self.new_id()
            self.threads[thread_id] = parent
            return thread_json(thread_id, parent, (request.json or {}).get("name") or "thread")
        if kind == "dm_open":  # a DM channel with the user, before a message to them
            recipient = int((request.json or {}).get("recipient_id"))
            return {"id": str(self.dm_channel_id), "type": 1, "recipients": [user_payload(recipient)], "last_message_id": None}
        if kind == "sync":
            return [
                {"description": "", **command, "id": str(self.new_id()), "application_id": str(BOT_ID), "version": "1"}
                for command in (request.json or [])
            ]
        return None

    # the two patched entry points -------------------------------------------------------------
    async def _record(self, route: discord.http.Route, json: Any, params: dict[str, Any] | None) -> Any:
        request = Request(route.method, route.path, route.url, json, params)
        self.requests.append(request)
        await asyncio.sleep(0)  # a real request yields to the loop
        request.response = self._respond(request)
        return request.response

    def install(self, monkeypatch: pytest.MonkeyPatch, bot: discord.Client) -> None:
        """Replace the webhook adapter's and the bot's HTTP request functions with recorders."""
        fake = self

        async def webhook_request(adapter: AsyncWebhookAdapter, route: Any, session: Any, **kwargs: Any) -> Any:
            body = kwargs.get("payload")
            if body is None and kwargs.get("multipart"):  # a message with files: its JSON is one part
                body = next((json.loads(part["value"]) for part in kwargs["multipart"] if part["name"] == "payload_json"), None)
            return await fake._record(route, body, kwargs.get("params"))

        async def http_request(route: Any, **kwargs: Any) -> Any:
            return await fake._record(route, kwargs.get("json"), kwargs.get("params"))

        monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)
        monkeypatch.setattr(bot.http, "request", http_request)

    # queries ------------------------------------------------------------------------------------
    def of_kind(self, *kinds: str) -> list[Request]:
        return [request for request in self.requests if request.kind in kinds]

    def sent_bodies(self) -> list[dict[str, Any]]:
        """Every message body the bot sent or edited (the things people read)."""
        return [
            request.body
            for request in self.requests
            if request.kind in ("callback", "followup", "edit_original", "edit_message", "channel_message",
                                "edit_channel_message")
            and request.body
        ]

    def clear(self) -> None:
        self.requests.clear()


# --- building the bot ----------------------------------------------------------------------------
@asynccontextmanager
async def running_bot(
    engine: Any, settings: Settings, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, database: Any = None
) -> AsyncIterator[QuoteBot]:
    """A bot with its cogs loaded and its user set, as after login, but never connected
    (recording into `database` when one is given)."""
    bot = create_bot(settings, engine, database=database)
    fake.install(monkeypatch, bot)
    await bot._async_setup_hook()  # what login() does first: bind the running loop
    state = bot._connection
    state.user = discord.ClientUser(state=state, data=user_payload(BOT_ID, name="quotebot", bot=True))
    state.application_id = BOT_ID
    await bot.setup_hook()
    try:
        yield bot
    finally:
        store = bot._connection._view_store
        for items in list(store._views.values()):
            for item in list(items.values()):
                if item.view is not None:
                    item.view.stop()  # ends the view's timeout task
        await bot.close()


# --- interaction payloads ------------------------------------------------------------------------
_interaction_ids = itertools.count(300_000_000_000_000_001)


def member_payload(user_id: int, *, permissions: int = 0, roles: Iterable[int] = ()) -> dict[str, Any]:
    return {
        "user": user_payload(user_id),
        "roles": [str(role) for role in roles],
        "permissions": str(permissions),
        "joined_at": _NOW,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
    }


def perms(**flags: bool) -> int:
    """Permission bits, e.g. perms(manage_messages=True)."""
    return discord.Permissions(**flags).value


EVERYONE_PERMS = perms(send_messages=True, read_messages=True, use_application_commands=True)


def interaction_payload(
    data: dict[str, Any],
    *,
    interaction_type: int = 2,
    user_id: int = USER_ID,
    guild: bool = True,
    permissions: int = EVERYONE_PERMS,
    roles: Iterable[int] = (),
    app_permissions: int | None = None,
    message: dict[str, Any] | None = None,
    thread_id: int | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload from a guild member (with given permission bits and roles) or a DM user."""
    payload: dict[str, Any] = {
        "id": str(next(_interaction_ids)),
        "application_id": str(BOT_ID),
        "type": interaction_type,
        "token": "interaction-token-" + str(next(_interaction_ids)),
        "version": 1,
        "data": data,
        "locale": "en-US",
        "attachment_size_limit": 8 * 1024 * 1024,
        "entitlements": [],
        "authorizing_integration_owners": {},
    }
    if guild:
        payload["guild_id"] = str(GUILD_ID)
        payload["guild"] = {"id": str(GUILD_ID), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["channel"] = {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "news", "position": 0}
        payload["channel_id"] = str(CHANNEL_ID)
        payload["member"] = member_payload(user_id, permissions=permissions, roles=roles)
        payload["app_permissions"] = str(app_permissions if app_permissions is not None else discord.Permissions.all().value)
        payload["context"] = 0
        if thread_id is not None:  # asked inside a thread of the channel
            payload["channel"] = thread_json(thread_id, CHANNEL_ID, "thread")
            payload["channel_id"] = str(thread_id)
    else:
        payload["channel"] = {"id": str(CHANNEL_ID + 1), "type": 1, "recipients": [user_payload(user_id)]}
        payload["channel_id"] = str(CHANNEL_ID + 1)
        payload["user"] = user_payload(user_id)
        payload["app_permissions"] = str(app_permissions if app_permissions is not None else perms(send_messages=True))
        payload["context"] = 1
    if message is not None:
        payload["message"] = message
    return payload


def _option(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": 5, "name": key, "value": value}
    return {"type": 3, "name": key, "value": value}


def slash_payload(name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A chat-input command invocation, e.g. slash_payload('ask', {'question': '...', 'private': True})."""
    data = {
        "id": str(abs(hash(name)) % 10**18),
        "name": name,
        "type": 1,
        "options": [_option(key, value) for key, value in (options or {}).items()],
    }
    return interaction_payload(data, **kwargs)


def subcommand_payload(group: str, name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A subcommand invocation, e.g. subcommand_payload('config', 'set', {'key': 'replies', 'value': 'thread'})."""
    data = {
        "id": str(abs(hash(group)) % 10**18),
        "name": group,
        "type": 1,
        "options": [{"type": 1, "name": name, "options": [_option(k, v) for k, v in (options or {}).items()]}],
    }
    return interaction_payload(data, **kwargs)


def autocomplete_payload(name: str, focused: str, typed: str, options: dict[str, Any] | None = None,
                         **kwargs: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE interaction: `typed` so far in option `focused`."""
    data = {
        "id": str(abs(hash(name)) % 10**18),
        "name": name,
        "type": 1,
        "options": [_option(k, v) for k, v in (options or {}).items()]
        + [{"type": 3, "name": focused, "value": typed, "focused": True}],
    }
    return interaction_payload(data, interaction_type=4, **kwargs)


def message_command_payload(name: str, target: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A message context-menu invocation on `target` (message JSON, as Discord resolves it)."""
    data = {
        "id": str(abs(hash(name)) % 10**18),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }
    return interaction_payload(data, **kwargs)


def member_message_json(text: str, *, author_id: int = OTHER_USER_ID) -> dict[str, Any]:
    """Someone's message in the channel, as Discord resolves it for a context menu."""
    return {
        "id": str(next(_interaction_ids)), "channel_id": str(CHANNEL_ID), "guild_id": str(GUILD_ID),
        "author": user_payload(author_id), "content": text, "timestamp": _NOW, "edited_timestamp": None,
        "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": [], "pinned": False, "type": 0, "flags": 0,
    }


def button_payload(custom_id: str, message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A button press on `message` (the JSON the fake returned when the message was sent)."""
    data = {"custom_id": custom_id, "component_type": 2}
    return interaction_payload(data, interaction_type=3, message=message, **kwargs)


# --- dispatching ----------------------------------------------------------------------------------
def _spawned(action: Callable[[], None]) -> asyncio.Future[Any]:
    """Run `action` and return a future for every task it scheduled."""
    before = asyncio.all_tasks()
    action()
    new = [task for task in asyncio.all_tasks() - before]
    return asyncio.gather(*new)


def start_interaction(bot: discord.Client, payload: dict[str, Any]) -> asyncio.Future[Any]:
    """Feed an INTERACTION_CREATE payload in through the library's own gateway handler."""
    return _spawned(lambda: bot._connection.parse_interaction_create(payload))


async def run_interaction(bot: discord.Client, payload: dict[str, Any]) -> None:
    """`start_interaction` and wait until the command (and its error handler) finished."""
    await start_interaction(bot, payload)


def mention_message(
    bot: discord.Client,
    text: str,
    *,
    author_id: int = USER_ID,
    author_bot: bool = False,
    mention_bot: bool = True,
    mention_everyone: bool = False,
    guild: bool = True,
    thread_id: int | None = None,
) -> discord.Message:
    """A real `discord.Message` as the gateway would deliver it, mentioning the bot (in a thread: `thread_id`)."""
    state = bot._connection
    content = (f"<@{BOT_ID}> " if mention_bot else "") + text
    data: dict[str, Any] = {
        "id": str(next(_interaction_ids)),
        "channel_id": str(thread_id or CHANNEL_ID),
        "author": user_payload(author_id, bot=author_bot),
        "content": content,
        "timestamp": _NOW,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": mention_everyone,
        "mentions": [user_payload(BOT_ID, name="quotebot", bot=True)] if mention_bot else [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild:
        guild_obj = state._get_or_create_unavailable_guild(GUILD_ID)
        channel: Any = discord.TextChannel(
            state=state,
            guild=guild_obj,
            data={"id": str(CHANNEL_ID), "type": 0, "name": "news", "position": 0, "guild_id": str(GUILD_ID)},
        )
        if thread_id is not None:
            channel = discord.Thread(guild=guild_obj, state=state, data=thread_json(thread_id, CHANNEL_ID, "thread"))
        data["guild_id"] = str(GUILD_ID)
        data["member"] = {k: v for k, v in member_payload(author_id).items() if k != "user"}
    else:
        channel = discord.DMChannel(
            me=bot.user, state=state, data={"id": str(CHANNEL_ID), "type": 1, "recipients": [user_payload(author_id)]}
        )
    return discord.Message(state=state, channel=channel, data=data)


async def dispatch_message(bot: discord.Client, message: discord.Message) -> None:
    """Deliver MESSAGE_CREATE to every listener (as the gateway does) and wait for them."""
    await _spawned(lambda: bot.dispatch("message", message))


# --- measuring -------------------------------------------------------------------------------------
class Heartbeat:
    """Records the longest gap between 10 ms sleeps: how long the loop was blocked."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.max_gap = max(self.max_gap, now - last)
            last = now

    async def __aenter__(self) -> "Heartbeat":
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def wait_for_thread_event(event: threading.Event, timeout: float = 10.0) -> None:
    """Wait for a worker-thread event without blocking the loop."""
    ok = await asyncio.to_thread(event.wait, timeout)
    assert ok, "timed out waiting for the worker thread"


# --- engines -------------------------------------------------------------------------------------
def load_seed(path: Path) -> Article:
    """A seeds file as an Article (headline = first line), enough for realistic citations."""
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    first = text.splitlines(keepends=True)[0]

    return Article(
        source=path.name,
        title=first.strip(),
        dateline=None,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        body_start=len(first),
    )


def citation_of(article: Article, snippet: str) -> Citation:
    start = article.text.index(snippet)
    return Citation(article.source, article.title, start, start + len(snippet), article.paragraph_at(start))


def quote_of(article: Article, snippet: str, score: float, also_in: tuple[Citation, ...] = ()) -> Quote:
    """A Quote whose text is an exact slice of the article."""
    start = article.text.index(snippet)
    end = start + len(snippet)
    assert article.text[start:end] == snippet
    return Quote(snippet, article.source, article.title, start, end, article.paragraph_at(start), score, also_in)


TOPIC_WORDS = frozenset(
    "maliki trump iraq iraqi prime minister premiership sudani iran washington coordination framework "
    "sovereignty interference harris embassy bloc election".split()
)


class FakeEngine:
    """Stand-in for `bot.engine.engine.Engine`: same interface, canned answers from the real seed text.

    Questions mentioning a topic word get quotes; others are declined. A rebuild swaps the
    'old' quote set for the 'new' one, so tests can tell which index answered.
    """

    def __init__(self, seeds_dir: Path = SEEDS, *, ask_delay: float = 0.0, extra_articles: int = 0) -> None:
        self.articles = {path.name: load_seed(path) for path in sorted(seeds_dir.glob("*.txt"))}
        self.ask_delay = ask_delay
        self.extra_articles = extra_articles
        self.fail: BaseException | None = None
        self.ask_gate: threading.Event | None = None  # when set up, ask() waits for it (a slow question)
        self.ask_started = threading.Event()
        self.asked: list[str] = []
        self.asked_with: list[tuple[str, tuple[str, ...], str | None, int]] = []  # (question, context, article, offset)
        self.newest: str | None = None
        self.generation = "old"
        self._lock = threading.Lock()
        self._reindexing = False
        a000 = self.articles["000_389047a5565d4974.txt"]
        a001 = self.articles["001_d007a2e75fab5d5c.txt"]
        a003 = self.articles["003_42fc9fe0a8eacdba.txt"]
        reject_001 = "We reject the blatant American interference in Iraq’s internal affairs and consider it a violation of its sovereignty."
        self.quotes: dict[str, tuple[Quote, ...]] = {
            "old": (
                quote_of(
                    a000,
                    "“We categorically reject the blatant American interference in Iraq’s internal affairs,” Maliki said",
                    0.81,
                    (citation_of(a001, reject_001),),
                ),
                quote_of(
                    a003,
                    "Harris affirmed that the US is \"prepared to use the full range of tools to counter Iran’s destabilizing activities in Iraq.”",
                    0.66,
                ),
            ),
            "new": (
                quote_of(
                    a001,
                    "Trump in a social media post on Jan. 27 wrote, “Last time Maliki was in power, the Country descended into poverty and total chaos,”",
                    0.77,
                ),
            ),
        }

    # Engine interface -----------------------------------------------------------------------------
    def ask(self, question: str, *, k: int | None = None, abstain: bool = True, context: tuple[str, ...] = (),
            article: str | None = None, offset: int = 0) -> Answer:
        self.asked.append(question)
        self.asked_with.append((question, tuple(context), article, offset))
        self.ask_started.set()
        if self.fail is not None:
            raise self.fail
        if self.ask_gate is not None:
            self.ask_gate.wait(30)
        if self.ask_delay:
            time.sleep(self.ask_delay)  # stands for embedding + search: blocks its thread
        if not question.strip():
            return Answer(question, False, reason="empty")
        words = set(re.findall(r"[a-z]+", question.lower()))
        if abstain and not words & TOPIC_WORDS:
            return Answer(question, False, reason="declined")
        quotes = [q for q in self.quotes[self.generation] if article is None or q.source == article]
        quotes = quotes[offset : offset + (k or 3)]
        return Answer(question, bool(quotes), tuple(quotes), reason=None if quotes else "declined")

    def paragraph(self, key: str, number: int) -> Any:
        for article in self.articles.values():
            if article.sha256.startswith(key):
                return paragraph_of(article, number)
        return None

    def article_choices(self, typed: str, limit: int = 25) -> list[tuple[str, str]]:
        wanted = typed.strip().casefold()
        rows = [(a.title, a.sha256[:16]) for a in self.articles.values()]
        rows += [(f"Extra article {i}", f"{i:016x}") for i in range(self.extra_articles)]
        return [row for row in rows if wanted in row[0].casefold()][:limit]

    def resolve_article(self, given: str) -> str | None:
        for article in self.articles.values():
            if article.sha256.startswith(given.strip()) or article.source == given.strip():
                return article.source
        return None

    def article_keys(self, sources: tuple[str, ...]) -> dict[str, str | None]:
        return {s: self.articles[s].sha256[:16] if s in self.articles else None for s in sources}

    def newest_published(self) -> str | None:
        return self.newest

    def sources(self) -> SourcesReport:
        indexed = [
            IndexedArticle(a.source, a.title, sum(1 for line in a.text.splitlines() if line.strip()) - 1, a.sha256, _NOW)
            for a in self.articles.values()
        ]
        indexed += [
            IndexedArticle(f"extra/{i:03d}.txt", f"Extra article {i}", 3, "0" * 64, _NOW)
            for i in range(self.extra_articles)
        ]
        return SourcesReport(
            model="fake-model",
            dimension=384,
            built_at=_NOW,
            format_version=1,
            passages=sum(item.passages for item in indexed),
            articles=tuple(indexed),
            seeds_changed=False,
        )

    @property
    def reindexing(self) -> bool:
        return self._reindexing

    def follow_published(self) -> None:
        """A fake has no index folder whose CURRENT another process could move."""

    def stop_following(self) -> None:
        pass

    def reindex(self, progress: Callable[[str, int, int], None] | None = None) -> ReindexReport:
        with self._lock:
            if self._reindexing:
                raise ReindexInProgress("a reindex is already running")
            self._reindexing = True
        started = time.monotonic()
        try:
            total = len(self.articles)
            for stage in ("reading", "embedding", "writing"):
                for done in range(1, total + 1):
                    if progress is not None:
                        progress(stage, done, total)
            before = len(self.quotes[self.generation])
            self.generation = "new"  # the swap: one assignment
            return ReindexReport(
                added=(),
                removed=(),
                changed=("001_d007a2e75fab5d5c.txt",),
                unchanged=total - 1,
                passages_before=before,
                passages_after=len(self.quotes["new"]),
                embedded=1,
                seconds=time.monotonic() - started,
            )
        finally:
            self._reindexing = False


class GatedEngine:
    """Wraps any engine; its first rebuild pauses inside the progress callback until `gate` is set.

    By default it pauses at the first progress call (before any work); `pause_when(stage, done,
    total)` picks another moment, e.g. the last "writing" step, when the new build is already live
    on disk and only the in-memory swap is left. `entered` is set when the rebuild is paused, so a
    test knows the rebuild is really running.
    """

    def __init__(self, inner: Any, pause_when: Callable[[str, int, int], bool] = lambda *_: True) -> None:
        self.inner = inner
        self.pause_when = pause_when
        self.entered = threading.Event()
        self.gate = threading.Event()

    def ask(self, question: str, **kwargs: Any) -> Answer:
        return self.inner.ask(question, **kwargs)

    def sources(self) -> SourcesReport:
        return self.inner.sources()

    def __getattr__(self, name: str) -> Any:  # embedder, add_article, paragraph, article_choices, ...
        return getattr(self.inner, name)

    @property
    def reindexing(self) -> bool:
        return bool(self.inner.reindexing)

    def reindex(self, progress: Callable[[str, int, int], None] | None = None) -> ReindexReport:
        def gated(stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress(stage, done, total)
            if not self.entered.is_set() and self.pause_when(stage, done, total):
                self.entered.set()
                self.gate.wait(60)

        return self.inner.reindex(gated)


# --- load runs (tests/loadtest.py) -------------------------------------------------------------------
from loadtest import Sent  # noqa: E402


class TimedFakeDiscord(FakeDiscord):
    """`FakeDiscord` that also notes the event-loop time of every request: `times[i]` is `requests[i]`'s."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def _record(self, route: discord.http.Route, json: Any, params: dict[str, Any] | None) -> Any:
        self.times.append(asyncio.get_running_loop().time())  # FakeDiscord appends the request before it awaits
        return await super()._record(route, json, params)

    def clear(self) -> None:
        super().clear()
        self.times.clear()

    def for_token(self, token: str) -> list[tuple[float, Request]]:
        """(time, request) for the interaction with this token: its callback, follow-ups and edits."""
        return [(at, request) for at, request in zip(self.times, self.requests) if token in request.url.split("/")]


class AskLoad:
    """`dispatch_one` for `loadtest.run_load`: /ask number i from user USER_ID + i, via the gateway handler.

    `payloads[i]` keeps each interaction's payload so a test can look up exactly what it got, and
    `started[i]` the loop time it was dispatched.
    """

    def __init__(self, bot: discord.Client, fake: TimedFakeDiscord, question_for: Callable[[int], str]) -> None:
        self.bot = bot
        self.fake = fake
        self.question_for = question_for
        self.payloads: dict[int, dict[str, Any]] = {}
        self.started: dict[int, float] = {}

    async def __call__(self, index: int) -> list[Sent]:
        payload = slash_payload("ask", {"question": self.question_for(index)}, user_id=USER_ID + index)
        self.payloads[index] = payload
        self.started[index] = asyncio.get_running_loop().time()
        await start_interaction(self.bot, payload)
        return [
            Sent(at, request.body)
            for at, request in self.fake.for_token(payload["token"])
            if {"content", "embeds"} & request.body.keys()
        ]
