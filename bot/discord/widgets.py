"""Small views shared by the moderator and privacy commands: a confirmation and a pager.

Both answer only the member who ran the command (anyone else gets a private notice), and both
stop answering when they time out, under the 15 minutes an interaction token stays valid.
"""

from __future__ import annotations

import asyncio

import discord

from .. import messages
from . import payload

TIMEOUT_SECONDS = 600.0


class OwnedView(discord.ui.View):
    """A view whose buttons answer only `owner_id`."""

    refusal = messages.NOT_YOUR_PAGES

    def __init__(self, owner_id: int, *, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            self.refusal, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return False


class ConfirmView(OwnedView):
    """Confirm / Cancel. `wait_for_answer()` returns the pressing interaction when confirmed, else None."""

    refusal = messages.NOT_YOUR_CONFIRMATION

    def __init__(self, owner_id: int, confirm_label: str = messages.CONFIRM, *, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.confirm.label = confirm_label
        self.answer: discord.Interaction | None = None
        self.confirmed = False
        self._done = asyncio.Event()

    @discord.ui.button(label=messages.CONFIRM, style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button["ConfirmView"]) -> None:
        self.answer, self.confirmed = interaction, True
        self._finish()

    @discord.ui.button(label=messages.CANCEL, style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button["ConfirmView"]) -> None:
        self.answer = interaction
        await interaction.response.edit_message(content=messages.CANCELLED, view=None,
                                                allowed_mentions=discord.AllowedMentions.none())
        self._finish()

    def _finish(self) -> None:
        self._done.set()
        self.stop()

    async def on_timeout(self) -> None:
        self._done.set()

    async def wait_for_answer(self) -> discord.Interaction | None:
        await self._done.wait()
        return self.answer if self.confirmed else None


class Pager(OwnedView):
    """Previous/Next over pages built beforehand."""

    def __init__(self, owner_id: int, pages: list[payload.Reply], *, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(owner_id, timeout=timeout)
        self.pages = pages
        self.index = 0
        self._sync()

    def _sync(self) -> None:
        self.previous_page.disabled = self.index == 0
        self.next_page.disabled = self.index >= len(self.pages) - 1

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync()
        page = self.pages[self.index]
        await interaction.response.edit_message(content=page.content, embeds=page.embeds, view=self,
                                                allowed_mentions=discord.AllowedMentions.none())

    @discord.ui.button(label=messages.PAGE_PREVIOUS, style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, button: discord.ui.Button["Pager"]) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label=messages.PAGE_NEXT, style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button["Pager"]) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)
