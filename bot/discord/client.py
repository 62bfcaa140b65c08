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
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from .. import messages
from .checks import UserCooldowns
from .interactions import describe, new_error_id, respond_ephemeral

if TYPE_CHECKING:
    from ..config import Settings
    from ..engine.engine import Engine
    from ..storage.database import Database

log = logging.getLogger(__name__)

COGS = (
    "bot.discord.cogs.ask", "bot.discord.cogs.sources", "bot.discord.cogs.admin",
    # issue 15: records, feedback, reports, articles, privacy (each needs `bot.database`)
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
        if isinstance(error, app_commands.CommandOnCooldown):
            text = messages.COOLDOWN.format(seconds=max(1, math.ceil(error.retry_after)))
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
            text = messages.ERROR.format(error_id=error_id)
        await respond_ephemeral(interaction, text)


class QuoteBot(commands.Bot):
    """The bot. Slash commands live in three cogs; @mentions are handled by the ask cog."""

    def __init__(self, settings: "Settings", engine: "Engine | None", *, sync_on_start: bool = True,
                 database: "Database | None" = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # to read the question in an @mention
        super().__init__(
            command_prefix=(),  # no prefix commands: slash commands, and mentions read by the ask cog
            help_command=None,
            intents=intents,
            tree_cls=QuoteTree,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.engine = engine
        self.ask_cooldowns = UserCooldowns(settings.ask_cooldown_seconds)
        self.sync_on_start = sync_on_start
        self.database = database  # None: nothing is recorded, and the commands that need records say so

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
        if self.sync_on_start and self.settings.guild_ids:
            for guild_id in self.settings.guild_ids:
                names = await sync_tree(self, guild_id)
                log.info("synced %d commands to guild %s: %s", len(names), guild_id, ", ".join(names))
        # The model, the index and the libraries live as long as the process: take them out of the
        # cyclic collector's way. A full collection walks every tracked object holding the GIL, on
        # the loop thread: ~500k objects with the model loaded, 250-460 ms of blocked event loop.
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
    """Same bot on discord.py's AutoShardedBot (Discord picks the shard count)."""


def create_bot(settings: "Settings", engine: "Engine | None", *, sync_on_start: bool = True,
               database: "Database | None" = None) -> QuoteBot:
    """`ShardedQuoteBot` when SHARDED is true, else `QuoteBot`."""
    # The bot never joins voice: skip discord.py's "PyNaCl/davey is not installed" warnings.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    cls = ShardedQuoteBot if settings.sharded else QuoteBot
    return cls(settings, engine, sync_on_start=sync_on_start, database=database)


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


def run_bot(settings: "Settings", engine: "Engine", database: "Database | None" = None) -> int:
    """Connect and serve until stopped; returns a process exit code.

    The command line checks DISCORD_TOKEN first. Failures are one log line that names the
    setting, never the token.
    """
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    discord.utils.setup_logging(level=getattr(logging, settings.log_level))
    bot = create_bot(settings, engine, database=database)
    try:
        bot.run(settings.discord_token.get_secret_value(), log_handler=None)
    except discord.LoginFailure:
        log.error(LOGIN_FAILED)
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error(INTENTS_MISSING)
        return 1
    return 0
