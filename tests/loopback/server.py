"""A Discord-compatible server on 127.0.0.1: the REST routes the bot calls and a gateway websocket.

Why it exists: the in-process harness (`tests/discord_harness.py`) replaces discord.py's HTTP
layer, so nothing there shows the real `python -m bot run` process over real sockets: the gateway
handshake, resuming, invalid sessions, rate limits, signals. This server speaks just enough of
Discord's API v10 for that, in the payload shapes of Discord's docs (HELLO op 10, IDENTIFY op 2,
READY with `session_id` and `resume_gateway_url`, GUILD_CREATE, INTERACTION_CREATE, MESSAGE_CREATE,
RESUME op 6 / RESUMED, INVALID_SESSION op 9, heartbeat ACK op 11; `compress=zlib-stream` honoured:
one zlib stream per connection, each message ending in a Z_SYNC_FLUSH). Starting a thread on a
message (POST /channels/{id}/messages/{id}/threads) answers a thread channel whose id is the
message's, as Discord does, and dispatches THREAD_CREATE; `component_json` and `subcommand_json`
shape button presses and subcommands the way Discord sends them.

It runs its own event loop in a thread, so tests stay synchronous: they call `dispatch`,
`close_gateway`, `fail_next` and read `requests` / `gateway_log`, all thread-safe. Every REST
request is recorded with its arrival time, headers and body; faults (429 with `retry_after`, 500)
are injected per route pattern.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

API = "/api/v10"
EPHEMERAL = 64
BOT_ID = 900_000_000_000_000_001
GUILD_ID = 800_000_000_000_000_001
CHANNEL_ID = 700_000_000_000_000_001
EVERYONE_ROLE = GUILD_ID
HEARTBEAT_INTERVAL_MS = 41_250
_NOW = "2026-01-01T00:00:00.000000+00:00"


def user_json(user_id: int, name: str = "someone", *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": None, "avatar": None, "bot": bot}


BOT_USER = user_json(BOT_ID, "quotebot", bot=True)


@dataclass
class Recorded:
    """One REST request as it arrived, and the status it was answered with."""

    at: float  # time.monotonic() at arrival
    method: str
    path: str  # without the /api/v10 prefix, e.g. /interactions/1/tok/callback
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: Any = None  # the JSON the server answered with (a message a later button press refers to)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def kind(self) -> str:
        """callback | followup | edit_original | delete_original | channel_message | thread_create | other"""
        if self.path.endswith("/callback"):
            return "callback"
        if re.fullmatch(r"/webhooks/\d+/[^/]+", self.path) and self.method == "POST":
            return "followup"
        if self.path.endswith("/messages/@original"):
            return {"PATCH": "edit_original", "DELETE": "delete_original"}.get(self.method, "other")
        if re.fullmatch(r"/channels/\d+/messages", self.path) and self.method == "POST":
            return "channel_message"
        if re.fullmatch(r"/channels/\d+/messages/\d+/threads", self.path) and self.method == "POST":
            return "thread_create"
        return "other"

    @property
    def interaction_token(self) -> str | None:
        match = re.match(r"/(?:interactions/\d+|webhooks/\d+)/([^/]+)", self.path)
        return match.group(1) if match else None

    @property
    def message(self) -> dict[str, Any]:
        """The message part: a callback's `data`, else the body itself."""
        body = self.json or {}
        return (body.get("data") or {}) if self.kind == "callback" else body

    @property
    def flags(self) -> int:
        return int(self.message.get("flags") or 0)


@dataclass
class Fault:
    """Answer the next `times` requests matching (method, pattern) with this status."""

    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float | None
    times: int


@dataclass
class Session:
    """A gateway session: its events by sequence number, kept for RESUME as Discord keeps them."""

    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    valid: bool = True


class Connection:
    """One gateway websocket, with its own zlib stream when the client asked for zlib-stream."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool) -> None:
        self.ws = ws
        self.zlib = zlib.compressobj() if compress else None
        self.lock = asyncio.Lock()
        self.session: Session | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            if self.zlib is None:
                await self.ws.send_str(text)
            else:
                data = self.zlib.compress(text.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)


class LoopbackDiscord:
    """The server. `start()` binds 127.0.0.1 on a free port; `base_url` is DISCORD_API_BASE_URL for the bot."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.gateway_log: list[tuple[float, str, dict[str, Any]]] = []  # (time, "recv"/"sent"/"close", payload)
        self.faults: list[Fault] = []
        self.sessions: dict[str, Session] = {}
        self.connection: Connection | None = None
        self.threads: dict[int, int] = {}  # thread id -> parent channel id, for threads the bot started
        self._lock = threading.Lock()
        self._ids = itertools.count(100_000_000_000_000_001)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def start(self) -> "LoopbackDiscord":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            self._loop.close()

        self._thread = threading.Thread(target=run, name="loopback-discord", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the loopback Discord did not start")
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the server's loop from the test thread and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # --- what tests read ---------------------------------------------------------------------
    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def gateway_ops(self, direction: str, op: int) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for _, way, payload in self.gateway_log if way == direction and payload.get("op") == op]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "the bot") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def for_token(self, interaction_token: str) -> list[Recorded]:
        return [r for r in self.snapshot() if r.interaction_token == interaction_token]

    # --- what tests do ---------------------------------------------------------------------------
    def fail_next(self, method: str, pattern: str, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        with self._lock:
            self.faults.append(Fault(method, re.compile(pattern), status, retry_after, times))

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH on the live session (buffered for RESUME when the bot is disconnected)."""
        self.call(self._dispatch(event, data))

    def dispatch_many(self, events: list[tuple[str, dict[str, Any]]]) -> list[float]:
        """Send several at once, back to back; returns each one's send time (monotonic)."""
        return self.call(self._dispatch_many(events), timeout=60)

    def close_gateway(self, code: int, *, invalidate: bool = False) -> None:
        """Close the live websocket with `code`; with invalidate, a RESUME of its session is refused."""
        self.call(self._close(code, invalidate))

    def current_session(self) -> Session | None:
        connection = self.connection
        return connection.session if connection is not None else None

    # --- gateway -----------------------------------------------------------------------------
    def _log(self, way: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.gateway_log.append((time.monotonic(), way, payload))

    async def _send(self, connection: Connection, payload: dict[str, Any]) -> None:
        self._log("sent", payload)
        await connection.send(payload)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> float:
        session = self._live_session()
        if session is None:
            raise RuntimeError("no gateway session to dispatch on")
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(payload)
        connection = self.connection
        if connection is not None and connection.session is session:
            await self._send(connection, payload)
        return time.monotonic()

    async def _dispatch_many(self, events: list[tuple[str, dict[str, Any]]]) -> list[float]:
        return [await self._dispatch(event, data) for event, data in events]

    def _live_session(self) -> Session | None:
        valid = [session for session in self.sessions.values() if session.valid]
        return valid[-1] if valid else None

    async def _close(self, code: int, invalidate: bool) -> None:
        connection = self.connection
        if connection is None:
            raise RuntimeError("the bot is not connected")
        if invalidate and connection.session is not None:
            connection.session.valid = False
        self.connection = None
        self._log("close", {"code": code})
        await connection.ws.close(code=code)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        connection = Connection(ws, request.query.get("compress") == "zlib-stream")
        self.connection = connection
        self._log("connect", dict(request.query))
        await self._send(connection, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            self._log("recv", payload)
            op = payload.get("op")
            if op == 1:
                await self._send(connection, {"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(connection, payload["d"])
            elif op == 6:
                await self._resume(connection, payload["d"])
        if self.connection is connection:
            self.connection = None
        self._log("closed", {"code": ws.close_code})
        return ws

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            self._log("close", {"code": 4004})
            await connection.ws.close(code=4004)  # Authentication failed
            return
        for old in self.sessions.values():
            old.valid = False  # a fresh IDENTIFY starts over: the earlier sessions' events are gone
        session = Session(secrets.token_hex(16))
        self.sessions[session.id] = session
        connection.session = session
        shard = data.get("shard") or [0, 1]
        await self._dispatch("READY", {
            "v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
            "session_id": session.id, "resume_gateway_url": self.gateway_url, "shard": shard,
            "application": {"id": str(BOT_ID), "flags": 0}, "private_channels": [],
        })
        await self._dispatch("GUILD_CREATE", guild_json())

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token or session is None or not session.valid:
            await self._send(connection, {"op": 9, "d": False, "s": None, "t": None})  # not resumable
            return
        connection.session = session
        for event in session.events:
            if event["s"] > int(data.get("seq") or 0):
                await self._send(connection, event)
        await self._dispatch("RESUMED", {})

    # --- REST ---------------------------------------------------------------------------------
    def new_id(self) -> int:
        return next(self._ids)

    async def _rest(self, request: web.Request) -> web.Response:
        body = await request.read()
        record = Recorded(time.monotonic(), request.method, "/" + request.match_info["tail"],
                          dict(request.query), dict(request.headers), body)
        with self._lock:
            self.requests.append(record)
            fault = next((f for f in self.faults if f.times > 0 and f.method == request.method
                          and f.pattern.fullmatch(record.path)), None)
            if fault is not None:
                fault.times -= 1
        response = self._fault_response(fault) if fault is not None else self._route(record)
        record.status = response.status
        if response.body and response.content_type == "application/json":
            record.response = json.loads(response.body)
        if record.kind == "thread_create" and response.status == 201:
            await self._dispatch_if_connected("THREAD_CREATE", {**record.response, "newly_created": True})
        response.headers["Via"] = "1.1 google"  # discord.py treats a 429 without it as a Cloudflare ban
        return response

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status == 429:
            retry_after = fault.retry_after or 1.0
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                status=429, headers={"Retry-After": str(retry_after), "X-RateLimit-Scope": "user"},
            )
        return _json({"message": f"{fault.status}: Internal Server Error", "code": 0}, status=fault.status)

    def _authorized(self, record: Recorded) -> bool:
        return record.headers.get("Authorization") == f"Bot {self.token}"

    def _route(self, record: Recorded) -> web.Response:
        method, path = record.method, record.path
        if record.kind in ("callback", "followup", "edit_original", "delete_original"):
            return self._interaction_route(record)
        if not self._authorized(record):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if method == "GET" and path == "/users/@me":
            return _json({**BOT_USER, "flags": 0, "mfa_enabled": False, "verified": True})
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json({
                "id": str(BOT_ID), "name": "quotebot", "description": "", "icon": None, "bot_public": True,
                "bot_require_code_grant": False, "owner": user_json(1, "owner"), "verify_key": "0" * 64, "flags": 0,
            })
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            return _json({
                "url": self.gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            })
        if record.kind == "channel_message":
            channel_id = int(path.split("/")[2])
            return _json(self.message_json(record.json or {}, channel_id))
        if record.kind == "thread_create":
            return self._start_thread(record)
        if method == "PUT" and path.endswith("/commands"):
            return _json([
                {**command, "id": str(self.new_id()), "application_id": str(BOT_ID), "version": "1"}
                for command in (record.json or [])
            ])
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    def _start_thread(self, record: Recorded) -> web.Response:
        """Start Thread from Message: 201 with the new public thread (its id is the message's id)."""
        _, _, channel, _, message, _ = record.path.split("/")
        body = record.json or {}
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _json({"message": "Invalid Form Body", "code": 50035,
                          "errors": {"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH"}]}}}, status=400)
        with self._lock:
            self.threads[int(message)] = int(channel)
        return _json(thread_json(int(message), int(channel), name, int(body.get("auto_archive_duration") or 4320)),
                     status=201)

    async def _dispatch_if_connected(self, event: str, data: dict[str, Any]) -> None:
        """A DISPATCH that follows a REST call (as THREAD_CREATE follows starting a thread), if a session is live."""
        if self._live_session() is not None:
            await self._dispatch(event, data)

    def _interaction_route(self, record: Recorded) -> web.Response:
        if record.kind == "delete_original":
            return web.Response(status=204)
        if record.kind == "callback":
            body = record.json or {}
            data = body.get("data") or {}
            message = self.message_json(data)
            if record.query.get("with_response") not in ("1", "true", "True"):
                return web.Response(status=204)
            return _json({
                "interaction": {
                    "id": record.path.split("/")[2], "type": 2, "response_message_id": message["id"],
                    "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
                },
                "resource": {"type": body.get("type"), "message": message},
            })
        return _json(self.message_json(record.json or {}))

    def message_json(self, body: dict[str, Any], channel_id: int = CHANNEL_ID) -> dict[str, Any]:
        return {
            "id": str(self.new_id()), "channel_id": str(channel_id), "author": BOT_USER,
            "content": body.get("content") or "", "timestamp": _NOW, "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": body.get("embeds") or [], "components": body.get("components") or [], "pinned": False,
            "type": 0, "flags": int(body.get("flags") or 0),
        }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly `Content-Type: application/json`, as Discord sends it: discord.py compares
    the header whole, and aiohttp's json_response would add a charset."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={**(headers or {}),
                        "Content-Type": "application/json"})


# --- payloads the tests send ------------------------------------------------------------------
def thread_json(thread_id: int, parent_id: int, name: str, auto_archive_duration: int = 4320) -> dict[str, Any]:
    """A public thread channel (type 11) the bot owns, as Discord returns it when a thread is started."""
    return {
        "id": str(thread_id), "type": 11, "guild_id": str(GUILD_ID), "parent_id": str(parent_id), "name": name,
        "owner_id": str(BOT_ID), "last_message_id": None, "message_count": 0, "member_count": 1,
        "total_message_sent": 0, "rate_limit_per_user": 0, "flags": 0,
        "thread_metadata": {"archived": False, "auto_archive_duration": auto_archive_duration,
                            "archive_timestamp": _NOW, "locked": False},
        "member": {"id": str(thread_id), "user_id": str(BOT_ID), "join_timestamp": _NOW, "flags": 0},
    }


def guild_json() -> dict[str, Any]:
    """GUILD_CREATE: one server with a text channel, the @everyone role and the bot as a member."""
    return {
        "id": str(GUILD_ID), "name": "loopback", "icon": None, "owner_id": "1", "unavailable": False,
        "member_count": 2, "large": False, "features": [], "emojis": [], "stickers": [], "preferred_locale": "en-US",
        "roles": [{"id": str(EVERYONE_ROLE), "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                   "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
        "channels": [{"id": str(CHANNEL_ID), "type": 0, "name": "news", "position": 0, "guild_id": str(GUILD_ID),
                      "permission_overwrites": [], "nsfw": False, "parent_id": None}],
        "members": [{"user": BOT_USER, "roles": [], "joined_at": _NOW, "deaf": False, "mute": False, "flags": 0}],
        "threads": [], "presences": [], "voice_states": [], "stage_instances": [], "guild_scheduled_events": [],
        "soundboard_sounds": [], "joined_at": _NOW,
    }


_interaction_ids = itertools.count(300_000_000_000_000_001)
EVERYONE_PERMS = (1 << 11) | (1 << 10) | (1 << 31)  # send messages, view channel, use application commands
ADMINISTRATOR = 1 << 3


def interaction_json(name: str, options: dict[str, str] | None = None, *, user_id: int = 600_000_000_000_000_001,
                     permissions: int = EVERYONE_PERMS) -> dict[str, Any]:
    """INTERACTION_CREATE for a slash command from a guild member, as Discord's docs shape it."""
    number = next(_interaction_ids)
    return {
        "id": str(number), "application_id": str(BOT_ID), "type": 2, "token": f"itoken-{number}-{secrets.token_hex(4)}",
        "version": 1, "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
        "attachment_size_limit": 8 * 1024 * 1024,
        "data": {"id": str(abs(hash(name)) % 10**18), "name": name, "type": 1,
                 "options": [{"type": 3, "name": k, "value": v} for k, v in (options or {}).items()]},
        "guild_id": str(GUILD_ID), "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": []},
        "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "news", "position": 0},
        "member": {"user": user_json(user_id), "roles": [], "permissions": str(permissions), "joined_at": _NOW,
                   "deaf": False, "mute": False, "flags": 0, "nick": None, "avatar": None},
        "app_permissions": str((1 << 41) - 1),
    }


def mention_json(text: str, *, user_id: int = 600_000_000_000_000_001) -> dict[str, Any]:
    """MESSAGE_CREATE: a member's message in the server's channel that mentions the bot."""
    return {
        "id": str(next(_interaction_ids)), "channel_id": str(CHANNEL_ID), "guild_id": str(GUILD_ID),
        "author": user_json(user_id), "content": f"<@{BOT_ID}> {text}", "timestamp": _NOW, "edited_timestamp": None,
        "tts": False, "mention_everyone": False, "mentions": [{**BOT_USER, "member": {"roles": [], "joined_at": _NOW}}],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
        "member": {"roles": [], "joined_at": _NOW, "deaf": False, "mute": False, "flags": 0},
    }


def subcommand_json(group: str, name: str, options: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """INTERACTION_CREATE for a subcommand, e.g. /config set key:replies value:inline (option type 1 holding its options)."""
    interaction = interaction_json(group, **kwargs)
    interaction["data"]["options"] = [{"type": 1, "name": name, "options": [
        {"type": 3, "name": k, "value": v} for k, v in (options or {}).items()]}]
    return interaction


def component_json(custom_id: str, message: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """INTERACTION_CREATE type 3: a press of button `custom_id` on `message` (the message JSON Discord holds)."""
    interaction = interaction_json("", **kwargs)
    interaction["type"] = 3
    interaction["data"] = {"custom_id": custom_id, "component_type": 2}
    interaction["message"] = message
    channel_id = int(message["channel_id"])
    if channel_id != CHANNEL_ID:  # a message in a thread: the press comes from the thread
        interaction["channel_id"] = str(channel_id)
        interaction["channel"] = thread_json(channel_id, CHANNEL_ID, "thread")
    return interaction
