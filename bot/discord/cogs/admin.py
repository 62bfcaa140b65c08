"""/reindex (admins, servers only): rebuild the index in a worker thread and report the changes.

Why it looks like this: a rebuild embeds every changed passage and can take minutes, so it runs
in a thread while the event loop keeps answering /ask from the old index (this cog holds no lock
the ask cog uses). The worker's progress callback only hands the latest numbers to the loop
(`call_soon_threadsafe`); a small task on the loop edits the response at most once per
PROGRESS_INTERVAL_SECONDS, and stops before the final report is written, so a late progress
edit can never overwrite the result.
"""

from __future__ import annotations

import asyncio
import logging
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


class ProgressRelay:
    """Carries (stage, done, total) from the worker thread to throttled response edits."""

    def __init__(self, interaction: discord.Interaction, interval: float) -> None:
        self.interaction = interaction
        self.interval = interval
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
        relay: ProgressRelay | None = None
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.edit_original_response(**payload.notice(messages.REINDEX_STARTING).send_kwargs())
            relay = ProgressRelay(interaction, PROGRESS_INTERVAL_SECONDS)
            relay.start()
            try:
                report = await asyncio.to_thread(engine.reindex, relay)
            except ReindexInProgress:
                await relay.stop()
                await interaction.edit_original_response(**payload.notice(messages.REINDEX_RUNNING).send_kwargs())
                return
            await relay.stop()
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
            await interaction.edit_original_response(**payload.reindex_reply(report).send_kwargs())
        finally:
            if relay is not None:
                await relay.stop()
            self.running = False


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(AdminCog(bot))
