"""/reindex (admins, servers only): rebuild the index in a worker thread and report the changes.

Why it looks like this: a rebuild embeds every changed passage and can take minutes, so it runs
in a thread while the event loop keeps answering /ask from the old index (this cog holds no lock
the ask cog uses). The worker's progress callback only hands the latest numbers to the loop
(`call_soon_threadsafe`); a small task on the loop edits the response at most once per
PROGRESS_INTERVAL_SECONDS, and stops before the final report is written, so a late progress
edit can never overwrite the result.

Why the report may arrive as a DM: Discord's interaction tokens last 15 minutes, and a rebuild of
a large corpus can take longer. Past that (by the cog's `clock`, with a margin, or
because Discord refuses the edit) progress edits stop and the report is sent to the admin
directly, or, when their DMs are closed, to the channel the command was used in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages
from .. import checks, payload
from ..interactions import respond_ephemeral
from ...engine.engine import ReindexInProgress

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 1.0
TOKEN_LIFETIME_SECONDS = 15 * 60  # how long Discord lets a bot edit its reply to an interaction
TOKEN_MARGIN_SECONDS = 60  # an edit is not attempted this close to the end: it could land too late


class ProgressRelay:
    """Carries (stage, done, total) from the worker thread to throttled response edits."""

    def __init__(self, interaction: discord.Interaction, interval: float,
                 expired: Callable[[], bool] = lambda: False) -> None:
        self.interaction = interaction
        self.interval = interval
        self.expired = expired
        self.loop = asyncio.get_running_loop()
        self.latest: tuple[str, int, int] | None = None
        self.shown: tuple[str, int, int] | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        """The engine's progress callback: runs in the worker thread, must not touch Discord."""
        self.loop.call_soon_threadsafe(self._note, (stage, int(done), int(total)))

    def _note(self, value: tuple[str, int, int]) -> None:
        self.latest = value
        self._changed.set()

    def start(self) -> None:
        self._task = self.loop.create_task(self._pump(), name="reindex-progress")

    async def _pump(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self.expired():
                return  # the reply can no longer be edited: the report goes out another way
            if self.latest is not None and self.latest != self.shown:
                self.shown = self.latest
                try:
                    await self.interaction.edit_original_response(
                        **payload.reindex_progress(*self.latest).send_kwargs()
                    )
                except discord.HTTPException:
                    log.warning("could not show reindex progress", exc_info=True)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop editing; after this returns no progress edit is in flight."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class AdminCog(commands.Cog, name="Admin"):
    """Rebuilds the index on request."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot
        self.running = False  # set before the first await, so two /reindex cannot both start
        self.clock: Callable[[], float] = monotonic  # what the token's 15 minutes are measured on (tests move it)

    @app_commands.command(name="reindex", description="Rebuild the index from the seeds folder (administrators).")
    @app_commands.default_permissions(administrator=True)
    @app_commands.guild_only()
    @checks.admin_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        engine = self.bot.engine
        if self.running or engine.reindexing:
            await respond_ephemeral(interaction, messages.REINDEX_RUNNING)
            return
        self.running = True
        started = self.clock()

        def expired() -> bool:
            return self.clock() - started > TOKEN_LIFETIME_SECONDS - TOKEN_MARGIN_SECONDS

        relay: ProgressRelay | None = None
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.edit_original_response(**payload.notice(messages.REINDEX_STARTING).send_kwargs())
            relay = ProgressRelay(interaction, PROGRESS_INTERVAL_SECONDS, expired)
            relay.start()
            try:
                report = await asyncio.to_thread(engine.reindex, relay)
            except ReindexInProgress:
                await relay.stop()
                await self._report(interaction, payload.notice(messages.REINDEX_RUNNING), expired())
                return
            await relay.stop()
            self.bot.freeze_heap()  # the new index lives until the next rebuild, like the first one
            log.info(
                "reindex by user %s: +%d -%d ~%d, passages %d -> %d in %.1fs",
                interaction.user.id,
                len(report.added),
                len(report.removed),
                len(report.changed),
                report.passages_before,
                report.passages_after,
                report.seconds,
            )
            await self._report(interaction, payload.reindex_reply(report), expired())
        finally:
            if relay is not None:
                await relay.stop()
            self.running = False

    async def _report(self, interaction: discord.Interaction, reply: payload.Reply, expired: bool) -> None:
        """Edit the reply while its token lasts; after that, a DM to the admin, else the channel."""
        if not expired:
            try:
                await interaction.edit_original_response(**reply.send_kwargs())
                return
            except discord.HTTPException as error:  # 401/404: the token ran out after all
                log.warning("could not edit the /reindex reply (%s %s); sending the report directly",
                            error.status, error.code)
        late = payload.Reply(content=messages.REINDEX_LATE_REPORT, embeds=reply.embeds) if reply.embeds else reply
        try:
            await interaction.user.send(**late.send_kwargs())
            return
        except discord.HTTPException:
            log.warning("could not DM the /reindex report to user %s; posting it in the channel", interaction.user.id)
        channel = interaction.channel
        try:
            if channel is None or not hasattr(channel, "send"):
                raise LookupError("no channel to post in")
            await channel.send(**late.send_kwargs())  # type: ignore[union-attr]
        except (discord.HTTPException, LookupError):
            log.error("the /reindex report could not be delivered to user %s", interaction.user.id, exc_info=True)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(AdminCog(bot))
