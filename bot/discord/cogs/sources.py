"""/sources (moderators): what the index holds, privately, one page at a time.

Why private and paginated: the list is for the people who look after the bot, and with many
articles it outgrows one embed; Previous/Next buttons keep it in one message, and only the
moderator who asked can turn the pages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import checks
from .. import payload

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)

PAGER_TIMEOUT_SECONDS = 600.0  # under the 15 minutes an interaction token stays valid


class SourcesPager(discord.ui.View):
    """Previous/Next over pre-built pages; buttons answer only the moderator who ran /sources."""

    def __init__(self, owner_id: int, pages: list[payload.Reply], *, timeout: float = PAGER_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.pages = pages
        self.index = 0
        self.message: discord.WebhookMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous_page.disabled = self.index == 0
        self.next_page.disabled = self.index >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            payload.NOT_YOUR_BUTTONS, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return False

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        page = self.pages[self.index]
        await interaction.response.edit_message(
            content=page.content, embeds=page.embeds, view=self, allowed_mentions=discord.AllowedMentions.none()
        )

    @discord.ui.button(label=payload.PAGE_PREVIOUS, style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, button: discord.ui.Button["SourcesPager"]) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label=payload.PAGE_NEXT, style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button["SourcesPager"]) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        try:
            await self.message.edit(view=None)
        except discord.HTTPException:
            pass  # the token may have expired; the buttons then simply stop answering


class SourcesCog(commands.Cog, name="Sources"):
    """Lists the indexed articles for moderators."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the indexed articles (moderators).")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()  # there are no moderators in a DM; the runtime check agrees
    @checks.moderator_only()
    async def sources(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await asyncio.to_thread(self.bot.engine.sources)
        pages = payload.sources_pages(report)
        if len(pages) == 1:
            await interaction.followup.send(**pages[0].send_kwargs(), ephemeral=True)
            return
        view = SourcesPager(interaction.user.id, pages)
        view.message = await interaction.followup.send(
            **pages[0].send_kwargs(), view=view, ephemeral=True, wait=True
        )


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(SourcesCog(bot))
