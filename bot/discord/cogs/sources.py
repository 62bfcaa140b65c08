"""/sources (moderators): what the index holds, privately, one page at a time.

Why private and paginated: the list is for the people who look after the bot, and with many
articles it outgrows one embed; Previous/Next buttons keep it in one message, and only the
moderator who asked can turn the pages.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ...storage import records
from .. import checks, payload, reports
from ..views import SourcesPager

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)


class SourcesCog(commands.Cog, name="Sources"):
    """Lists the indexed articles for moderators."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the indexed articles (moderators).")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()  # there are no moderators in a DM; the runtime check agrees
    @app_commands.describe(headline="Only articles whose headline contains this (start typing for a list)")
    @checks.moderator_only()
    async def sources(self, interaction: discord.Interaction, headline: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await asyncio.to_thread(self.bot.engine.sources)
        if headline is not None and headline.strip():
            report = replace(report, articles=filter_articles(report.articles, headline))
        pages = payload.sources_pages(report)
        if self.bot.database is not None:  # the latest /articles changes, on the first page
            changes = await asyncio.to_thread(records.latest_source_changes, self.bot.database)
            if changes:
                pages[0].embeds.append(reports.changes_embed(changes))
        if len(pages) == 1:
            await interaction.followup.send(**pages[0].send_kwargs(), ephemeral=True)
            return
        view = SourcesPager(interaction.user.id, pages)
        view.message = await interaction.followup.send(
            **pages[0].send_kwargs(), view=view, ephemeral=True, wait=True
        )


    @sources.autocomplete("headline")
    async def headline_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        ask = self.bot.get_cog("Ask")
        return [] if ask is None else await ask.headline_choices(current)  # type: ignore[attr-defined]


def filter_articles(articles: tuple, wanted: str) -> tuple:
    """The articles an autocomplete key names, else those whose headline contains `wanted`."""
    wanted = wanted.strip()
    by_key = tuple(a for a in articles if len(wanted) >= 8 and a.sha256.startswith(wanted.casefold()))
    if by_key:
        return by_key
    lowered = wanted.casefold()
    return tuple(a for a in articles if lowered in a.title.casefold() or lowered in a.source.casefold())


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(SourcesCog(bot))
