"""/gaps (moderators): the questions the bot declined or that got a 👎, paraphrases grouped.

The question texts are embedded with the engine's own model (in a worker thread, like the
database read), so "asked ten ways" is one row; see `bot.storage.gaps`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages
from ...storage import gaps as gap_store
from .. import checks, reports
from ..interactions import respond_ephemeral
from ..widgets import Pager

if TYPE_CHECKING:
    from ..client import QuoteBot


def collect_gap_rows(bot: "QuoteBot", guild_id: int | None, days: int) -> list[gap_store.GapRow]:
    """Read and group the gaps (blocking: call it in a thread)."""
    assert bot.database is not None
    items = gap_store.gap_questions(bot.database, days, guild_id=guild_id)
    return gap_store.group_gaps(items, bot.engine.embedder.encode_queries, bot.settings.gaps_similarity)


class GapsCog(commands.Cog, name="Gaps"):
    """Tells moderators which questions the articles do not answer."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    @app_commands.command(name="gaps", description="Questions the bot declined or that got a thumbs down (moderators).")
    @app_commands.describe(days="How many days back to look (default 30)")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    @checks.moderator_only()
    async def gaps(self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 30) -> None:
        if self.bot.database is None:
            await respond_ephemeral(interaction, messages.NO_DATABASE)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows = await asyncio.to_thread(collect_gap_rows, self.bot, interaction.guild_id, days)
        pages = reports.gaps_pages(rows, days)
        if len(pages) == 1:
            await interaction.followup.send(**pages[0].send_kwargs(), ephemeral=True)
            return
        await interaction.followup.send(**pages[0].send_kwargs(), view=Pager(interaction.user.id, pages), ephemeral=True)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(GapsCog(bot))
