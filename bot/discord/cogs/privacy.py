"""/forget-me (anyone): erase one's own records, after a confirmation button; and the retention
purge (LOG_RETENTION_DAYS), run when the bot starts and then once a day.

Why a confirmation: erasing cannot be undone, and a slash command is easy to pick by mistake.
The answer is private, and so is the question; after it no row of the database holds the member's id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from ... import messages
from ...storage import records
from ..interactions import respond_ephemeral
from ..widgets import ConfirmView

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)

PURGE_EVERY_HOURS = 24.0


class PrivacyCog(commands.Cog, name="Privacy"):
    """Members erase their records; old records are purged."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.database is not None and self.bot.settings.log_retention_days > 0:
            self.purge_loop.start()  # the first run is now, at start

    async def cog_unload(self) -> None:
        self.stop_background()

    def stop_background(self) -> None:
        """Called by the bot's `close`: no purge is left sleeping past the bot."""
        self.purge_loop.cancel()

    async def purge_once(self) -> int:
        """Delete what is older than LOG_RETENTION_DAYS; returns the rows deleted."""
        if self.bot.database is None:
            return 0
        count = await asyncio.to_thread(records.purge_older_than, self.bot.database, self.bot.settings.log_retention_days)
        if count:
            log.info("purged %d records older than %d days", count, self.bot.settings.log_retention_days)
        return count

    @tasks.loop(hours=PURGE_EVERY_HOURS)
    async def purge_loop(self) -> None:
        try:
            await self.purge_once()
        except Exception:
            log.exception("could not purge old records; trying again in %s hours", PURGE_EVERY_HOURS)

    @app_commands.command(name="forget-me", description="Erase every record the bot keeps about you.")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        database = self.bot.database
        if database is None:
            await respond_ephemeral(interaction, messages.NO_DATABASE)
            return
        view = ConfirmView(interaction.user.id, messages.FORGET_BUTTON)
        await interaction.response.send_message(messages.FORGET_CONFIRM, view=view, ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())
        pressed = await view.wait_for_answer()
        if pressed is None:
            return
        await pressed.response.defer()
        count = await asyncio.to_thread(records.forget_member, database, interaction.user.id)
        log.info("a member erased their records (%d rows)", count)  # no id: that is the point
        await pressed.edit_original_response(content=messages.FORGET_DONE.format(count=count), view=None,
                                             allowed_mentions=discord.AllowedMentions.none())


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(PrivacyCog(bot))
