"""Discord UI views the cogs attach to their replies.

`SourcesPager` turns the pages of `/sources`: Previous/Next over pages built beforehand, answering
only the member who ran the command, and removed when it times out.
"""

from __future__ import annotations

import discord

from .. import messages
from . import payload

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
            messages.NOT_YOUR_BUTTONS, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return False

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        page = self.pages[self.index]
        await interaction.response.edit_message(
            content=page.content, embeds=page.embeds, view=self, allowed_mentions=discord.AllowedMentions.none()
        )

    @discord.ui.button(label=messages.PAGE_PREVIOUS, style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, button: discord.ui.Button["SourcesPager"]) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label=messages.PAGE_NEXT, style=discord.ButtonStyle.secondary)
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
