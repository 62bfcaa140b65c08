"""/stats (moderators): questions per day, answered and declined shares, votes, busiest channels,
as numbers in an embed and as a small PNG chart attached to it (drawn in a worker thread)."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages
from ...storage.chart import stats_chart
from ...storage.stats import Stats, collect_stats
from .. import checks, reports
from ..interactions import respond_ephemeral

if TYPE_CHECKING:
    from ..client import QuoteBot


def stats_and_chart(bot: "QuoteBot", guild_id: int | None, days: int) -> tuple[Stats, bytes]:
    """Count and draw (blocking: call it in a thread)."""
    assert bot.database is not None
    stats = collect_stats(bot.database, guild_id, days)
    return stats, stats_chart(stats)


class StatsCog(commands.Cog, name="Stats"):
    """How the bot is used, for moderators."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="How many questions were asked and answered (moderators).")
    @app_commands.describe(days="How many days back to count (default 14)")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    @checks.moderator_only()
    async def stats(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90] = 14) -> None:
        if self.bot.database is None:
            await respond_ephemeral(interaction, messages.NO_DATABASE)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats, png = await asyncio.to_thread(stats_and_chart, self.bot, interaction.guild_id, days)
        reply = reports.stats_reply(stats)
        chart = discord.File(io.BytesIO(png), filename=reports.CHART_NAME)
        await interaction.followup.send(**reply.send_kwargs(), file=chart, ephemeral=True)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(StatsCog(bot))
