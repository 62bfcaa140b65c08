"""Discord UI views the cogs attach to their replies.

`SourcesPager` turns the pages of `/sources`: Previous/Next over pages built beforehand, answering
only the member who ran the command, and removed when it times out. The buttons under an answer
(`answer_view`) are persistent `DynamicItem`s instead: see below.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from .. import messages
from ..engine.models import Answer
from . import payload
from .interactions import describe, new_error_id, respond_ephemeral

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


# --- buttons under an answer (persistent: they work after a restart) ------------------------------
# Each is a DynamicItem: its custom id carries what it needs (a key into `answer_state`, or an
# article's content key and a paragraph number), and `QuoteBot.setup_hook` registers the classes,
# so discord.py routes a press to them whichever process sent the message, and however long ago.
MAX_PAGES = 5  # "More quotes" stops after this many pages of one ranking
MORE_PREFIX, PARAGRAPH_PREFIX, SHARE_PREFIX = "qb:more:", "qb:para:", "qb:share:"


def _ask_cog(interaction: discord.Interaction) -> Any:
    """The cog that answers (buttons call back into it; importing it here would be a cycle)."""
    return interaction.client.get_cog("Ask")  # type: ignore[attr-defined]


async def _guarded(interaction: discord.Interaction, call: Callable[[], Awaitable[None]]) -> None:
    """Run a button's work; a failure gets the same private error notice (with an id) as a command.

    discord.py only logs an exception raised in a DynamicItem callback, so the member would see
    "This interaction failed" and no id to report.
    """
    try:
        await call()
    except Exception as error:
        error_id = new_error_id()
        log.error("error %s in button %s", error_id, describe(interaction),
                  exc_info=(type(error), error, error.__traceback__))
        await respond_ephemeral(interaction, messages.ERROR.format(error_id=error_id))


class MoreQuotesButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qb:more:(?P<key>[0-9a-f]{12}):(?P<page>[0-9]{1,2})"):
    """The next page of the same ranking, privately."""

    def __init__(self, key: str, page: int) -> None:
        super().__init__(discord.ui.Button(label=messages.BUTTON_MORE, style=discord.ButtonStyle.primary,
                                           custom_id=f"{MORE_PREFIX}{key}:{page}", row=0))
        self.key, self.page = key, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> "MoreQuotesButton":
        return cls(match["key"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, lambda: _ask_cog(interaction).more_quotes(interaction, self.key, self.page))


class ParagraphButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qb:para:(?P<article>[0-9a-f]{16}):(?P<paragraph>[0-9]{1,6})"):
    """The whole paragraph a quote comes from, verbatim, privately."""

    def __init__(self, article: str, paragraph: int, number: int = 1, row: int = 1) -> None:
        super().__init__(discord.ui.Button(label=messages.BUTTON_PARAGRAPH.format(number=number),
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"{PARAGRAPH_PREFIX}{article}:{paragraph}", row=row))
        self.article, self.paragraph = article, paragraph

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> "ParagraphButton":
        return cls(match["article"], int(match["paragraph"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, lambda: _ask_cog(interaction).full_paragraph(interaction, self.article, self.paragraph))


class ShareButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qb:share:(?P<key>[0-9a-f]{12}):(?P<page>[0-9]{1,2})"):
    """Posts a private answer's quotes publicly, saying who shared them (without pinging them)."""

    def __init__(self, key: str, page: int) -> None:
        super().__init__(discord.ui.Button(label=messages.BUTTON_SHARE, style=discord.ButtonStyle.success,
                                           custom_id=f"{SHARE_PREFIX}{key}:{page}", row=0))
        self.key, self.page = key, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> "ShareButton":
        return cls(match["key"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, lambda: _ask_cog(interaction).share(interaction, self.key, self.page))


PERSISTENT_ITEMS = (MoreQuotesButton, ParagraphButton, ShareButton)


def answer_view(answer: Answer, key: str, page: int, *, per_page: int, private: bool,
                article_keys: Mapping[str, str | None], first_number: int = 1) -> discord.ui.View | None:
    """The buttons under an answer: More quotes, Share (private answers), Full paragraph, article links.

    Rows: 0 More/Share, 1-2 one "Full paragraph" per quote, 3-4 one link per article URL; a
    paragraph or URL two quotes share gets one button. None when there is nothing to press.
    """
    if not answer.answered or not answer.quotes:
        return None
    view = discord.ui.View(timeout=None)
    if len(answer.quotes) >= per_page and page + 1 < MAX_PAGES:
        view.add_item(MoreQuotesButton(key, page + 1))
    if private:
        view.add_item(ShareButton(key, page))
    paragraphs: set[str] = set()
    links: set[str] = set()
    for number, quote in enumerate(answer.quotes[: payload.MAX_QUOTES], start=first_number):
        article = article_keys.get(quote.source)
        position = number - first_number
        if article is not None and (ident := f"{article}:{quote.paragraph}") not in paragraphs:
            paragraphs.add(ident)
            view.add_item(ParagraphButton(article, quote.paragraph, number, row=1 + position // 5))
        url = payload.safe_url(quote.url)
        if url is not None and url not in links:
            links.add(url)
            view.add_item(discord.ui.Button(label=messages.BUTTON_ARTICLE.format(number=number), url=url,
                                            row=3 + position // 5))
    return view if view.children else None


def answer_body(answer: Answer, key: str, *, newest: str | None, article_keys: Mapping[str, str | None],
                per_page: int, private: bool = False) -> dict[str, Any]:
    """Exactly what the bot sends for a first answer, buttons included (CLI `ask --discord`)."""
    reply = payload.answer_reply(answer, newest=newest)
    if reply.embeds:
        reply.view = answer_view(answer, key, 0, per_page=per_page, private=private, article_keys=article_keys)
    return reply.to_dict()
