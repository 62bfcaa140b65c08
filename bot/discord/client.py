"""The Discord client: bot class, command tree with one error handler, sync and run helpers.

Why the engine is passed in: the command line opens (and if needed builds) the index before the
bot connects, so the first question after login is answered at once. The bot only holds the
engine, the settings and the shared per-user cooldown table; the cogs read them from it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import signal
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages, policy
from ..config_store import ConfigStore, JsonConfigStore
from ..storage.config_store import DatabaseConfigStore
from .answer_state import AnswerState
from .checks import UserCooldowns
from .endpoint import use_gateway_of, use_rest_base
from .interactions import asked_language, describe, new_error_id, respond_ephemeral
from .views import PERSISTENT_ITEMS

if TYPE_CHECKING:
    from ..config import Settings
    from ..engine.engine import Engine
    from ..storage.database import Database

log = logging.getLogger(__name__)

COGS = (
    "bot.discord.cogs.ask", "bot.discord.cogs.sources", "bot.discord.cogs.admin", "bot.discord.cogs.config",
    # records, feedback, reports, articles, privacy (each needs `bot.database`)
    "bot.discord.cogs.feedback", "bot.discord.cogs.gaps", "bot.discord.cogs.stats",
    "bot.discord.cogs.articles", "bot.discord.cogs.privacy",
)
LOGIN_FAILED = "Discord refused the token (DISCORD_TOKEN): check it in the developer portal."
INTENTS_MISSING = (
    "Discord refused the Message Content intent: enable it for the bot in the developer portal "
    "(Bot → Privileged Gateway Intents)."
)


class QuoteTree(app_commands.CommandTree):
    """Command tree whose `on_error` covers every cog: short private notices, logged tracebacks."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        language = asked_language(interaction)
        if isinstance(error, app_commands.CommandOnCooldown):
            text = messages.localise(messages.COOLDOWN, language).format(seconds=max(1, math.ceil(error.retry_after)))
        elif isinstance(error, app_commands.NoPrivateMessage):
            text = messages.GUILD_ONLY
        elif isinstance(error, app_commands.CheckFailure):
            text = messages.NO_PERMISSION
        else:
            error_id = new_error_id()
            original = getattr(error, "original", error)
            log.error(
                "error %s in %s",
                error_id,
                describe(interaction),
                exc_info=(type(original), original, original.__traceback__),
            )
            text = messages.localise(messages.ERROR, language).format(error_id=error_id)
        await respond_ephemeral(interaction, text)


class QuoteBot(commands.Bot):
    """The bot. Slash commands live in three cogs; @mentions are handled by the ask cog."""

    def __init__(
        self, settings: "Settings", engine: "Engine | None", *, sync_on_start: bool = True,
        config_store: ConfigStore | None = None, answer_state: AnswerState | None = None,
        database: "Database | None" = None, **shard_options: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # to read the question in an @mention
        super().__init__(
            command_prefix=(),  # no prefix commands: slash commands, and mentions read by the ask cog
            help_command=None,
            intents=intents,
            tree_cls=QuoteTree,
            allowed_mentions=discord.AllowedMentions.none(),
            **shard_options,
        )
        self.settings = settings
        self.engine = engine
        self.ask_cooldowns = UserCooldowns(settings.ask_cooldown_seconds)
        self.sync_on_start = sync_on_start and settings.sync_commands
        state = settings.state_folder
        self.database = database  # None: nothing is recorded, and the commands that need records say so
        # /config lives in the database, with who changed what; with no database, in a JSON file.
        self.config_store: ConfigStore = config_store or (
            DatabaseConfigStore(database) if database is not None else JsonConfigStore(state / "server-config.json"))
        self.answer_state = answer_state or AnswerState(state / "answers.json")

    def default_policy(self) -> policy.Policy:
        """The behaviour where /config has set nothing (from the settings)."""
        s = self.settings
        return policy.defaults(answer=s.answer_by_default, replies=s.reply_mode, private=s.private_by_default,
                               cooldown=s.ask_cooldown_seconds)

    async def config_entries(self, guild_id: int | None) -> list[tuple[int | None, str, str]]:
        """A server's /config entries, read off the event loop (the store may be a database)."""
        if guild_id is None:
            return []
        return await asyncio.to_thread(self.config_store.entries, guild_id)

    async def policy_for(self, guild_id: int | None, channel_id: int | None) -> policy.Policy:
        """How to behave in a channel (pass a thread's parent): settings, then server-wide, then channel."""
        return policy.resolve(self.default_policy(), await self.config_entries(guild_id), channel_id)

    def __repr__(self) -> str:  # never show settings (and so never the token)
        return f"<{type(self).__name__} user={self.user!s}>"

    async def load_cogs(self) -> None:
        """Load the ask, sources and admin cogs (idempotent)."""
        for name in COGS:
            if name not in self.extensions:
                await self.load_extension(name)

    async def setup_hook(self) -> None:
        """Load cogs and, when GUILD_IDS is set, sync commands to those servers (never in on_ready)."""
        await self.load_cogs()
        self.add_dynamic_items(*PERSISTENT_ITEMS)  # buttons of messages sent before this start answer too
        await use_gateway_of(self, self.settings.discord_api_base_url)
        if self.sync_on_start and self.settings.guild_ids:
            for guild_id in self.settings.guild_ids:
                names = await sync_tree(self, guild_id)
                log.info("synced %d commands to guild %s: %s", len(names), guild_id, ", ".join(names))
        self.freeze_heap()

    def freeze_heap(self) -> None:
        """Take what lives until the next rebuild out of the cyclic collector's way.

        The model, the index and the libraries live as long as the process (an index until a
        rebuild replaces it). A full collection walks every tracked object holding the GIL, on the
        loop thread: ~500k objects with the model loaded, 250-460 ms of blocked event loop. So they
        are frozen at start-up and a rebuilt index again after /reindex. A replaced index is freed
        by reference counting (it holds no reference cycle, see `engine.lru`), frozen or not.
        """
        gc.collect()
        gc.freeze()

    async def close(self) -> None:
        """Stop the cogs' background loops (the retention purge), then disconnect."""
        for cog in list(self.cogs.values()):
            stop = getattr(cog, "stop_background", None)
            if stop is not None:
                stop()
        await super().close()

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s); %d guilds", self.user, getattr(self.user, "id", "?"), len(self.guilds))


class ShardedQuoteBot(QuoteBot, commands.AutoShardedBot):
    """Same bot on discord.py's AutoShardedBot: several shards in one process."""


def shard_options(settings: "Settings") -> tuple[bool, dict[str, Any]]:
    """(sharded, keyword arguments for discord.py) from SHARDED, SHARD_COUNT and SHARD_IDS.

    SHARD_IDS (with SHARD_COUNT) runs a slice of the shards in this process, so it needs
    AutoShardedBot; SHARD_COUNT alone runs them all here; neither lets Discord choose the count.
    """
    sharded = settings.sharded or bool(settings.shard_ids) or settings.shard_count is not None
    options: dict[str, Any] = {}
    if sharded and settings.shard_count is not None:
        options["shard_count"] = settings.shard_count
    if sharded and settings.shard_ids:
        options["shard_ids"] = list(settings.shard_ids)
    return sharded, options


def create_bot(
    settings: "Settings", engine: "Engine | None", *, sync_on_start: bool = True,
    config_store: ConfigStore | None = None, answer_state: AnswerState | None = None,
    database: "Database | None" = None,
) -> QuoteBot:
    """`ShardedQuoteBot` when SHARDED or a shard setting asks for it, else the plain `QuoteBot`."""
    # The bot never joins voice: skip discord.py's "PyNaCl/davey is not installed" warnings.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    use_rest_base(settings.discord_api_base_url)
    sharded, options = shard_options(settings)
    cls = ShardedQuoteBot if sharded else QuoteBot
    return cls(settings, engine, sync_on_start=sync_on_start, config_store=config_store,
               answer_state=answer_state, database=database, **options)


async def sync_tree(bot: commands.Bot, guild_id: int | None) -> list[str]:
    """Sync to one guild (global commands copied there) or globally; returns the command names."""
    if guild_id is None:
        synced = await bot.tree.sync()
    else:
        guild = discord.Object(id=guild_id)
        bot.tree.copy_global_to(guild=guild)
        synced = await bot.tree.sync(guild=guild)
    return [command.name for command in synced]


async def build_command_payloads(settings: "Settings | None" = None) -> list[dict[str, Any]]:
    """Async core of `command_payloads` (usable from a running event loop)."""
    if settings is None:
        from ..config import Settings

        settings = Settings()
    bot = create_bot(settings, None, sync_on_start=False)
    await bot.load_cogs()
    return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]


def command_payloads(settings: "Settings | None" = None) -> list[dict[str, Any]]:
    """The application-command payloads `sync` would register; needs no token or connection."""
    return asyncio.run(build_command_payloads(settings))


async def sync_commands(settings: "Settings", guild_id: int | None) -> list[str]:
    """Log in (no gateway connection), sync to `guild_id` or globally, return the names.

    Raises `discord.LoginFailure` for a bad token; its message does not contain the token.
    """
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    bot = create_bot(settings, None, sync_on_start=False)
    async with bot:
        await bot.login(settings.discord_token.get_secret_value())
        return await sync_tree(bot, guild_id)


def setup_logging(level: str) -> None:
    """LOG_LEVEL on the root logger, with exactly one handler.

    The command line installs its handler before any command runs; adding discord.py's beside it
    printed every line twice. So discord.py's (coloured, timestamped) handler is added only when
    the root logger has none yet, e.g. when `run_bot` is called from other code.
    """
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(getattr(logging, level))
    else:
        discord.utils.setup_logging(level=getattr(logging, level))


DRAIN_SECONDS = 5.0  # on SIGTERM/SIGINT, how long questions already taken may take to get their reply
EXIT_SIGNALLED = {signal.SIGTERM: 0, signal.SIGINT: 130}  # a stop asked for is a clean exit; Ctrl-C is "interrupted"


async def close_after_drain(bot: commands.Bot, timeout: float = DRAIN_SECONDS) -> None:
    """Let the questions already taken get their replies (up to `timeout`), then close.

    Closing at once would close the HTTP session under a question being answered: its follow-up
    would fail, the member would see "thinking…" forever and the log would get a traceback.
    """
    cog = bot.get_cog("Ask")
    deadline = asyncio.get_running_loop().time() + timeout
    while getattr(cog, "in_flight", 0) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await bot.close()


async def serve(bot: commands.Bot, token: str) -> int | None:
    """Log in, connect and serve until the bot closes; returns the exit code a signal asked for.

    Why our own signal handlers: discord.py's `Client.run` leaves SIGTERM to the default action
    (the process dies mid-reply, the gateway never closed) and turns SIGINT into a plain return.
    Here either signal lets the questions in flight finish (`close_after_drain`), then closes the
    bot (gateway close, HTTP session closed) and `start` returns.
    """
    loop = asyncio.get_running_loop()
    asked: list[int] = []

    def stop(signum: int) -> None:
        if not asked:
            log.info("received %s: closing the gateway connection", signal.Signals(signum).name)
            asked.append(EXIT_SIGNALLED[signum])
            loop.create_task(close_after_drain(bot), name="close-on-signal")

    for signum in EXIT_SIGNALLED:
        loop.add_signal_handler(signum, stop, signum)
    try:
        async with bot:
            await bot.start(token)
    finally:
        for signum in EXIT_SIGNALLED:
            loop.remove_signal_handler(signum)
    return asked[0] if asked else None


def run_bot(settings: "Settings", engine: "Engine", database: "Database | None" = None) -> int:
    """Connect and serve until stopped; returns a process exit code.

    The command line checks DISCORD_TOKEN first. Failures are one log line that names the
    setting, never the token. SIGTERM closes the connection and exits 0, SIGINT exits 130.
    """
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    setup_logging(settings.log_level)
    bot = create_bot(settings, engine, database=database)
    engine.follow_published()  # another process may publish a build in INDEX_DIR while we serve
    try:
        signalled = asyncio.run(serve(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        log.error(LOGIN_FAILED)
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error(INTENTS_MISSING)
        return 1
    finally:
        engine.stop_following()
    return 0 if signalled is None else signalled
