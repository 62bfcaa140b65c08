"""/articles add|remove|restore (admins, servers only): manage the seeds folder from Discord.

One top-level group, so Discord's one set of default permissions per top-level command keeps it
out of moderators' menus (administrator), and each subcommand also runs the runtime admin check,
as /reindex does. The file work and the incremental re-index happen in the engine, in a worker
thread, under its rebuild lock (`Engine.add_article` and friends); this cog downloads the upload
(after refusing one over MAX_FILE_BYTES by its declared size), asks for confirmation before a
removal, reports what the re-index changed, and records who changed what.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages
from ...engine.engine import ArticleRefused, ReindexInProgress
from ...storage import records
from .. import checks, payload
from ..interactions import respond_ephemeral
from ..widgets import ConfirmView

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)

AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices


def _matching(names: list[str], current: str) -> list[app_commands.Choice[str]]:
    wanted = current.lower()
    return [app_commands.Choice(name=name[:100], value=name[:100]) for name in names if wanted in name.lower()][:AUTOCOMPLETE_LIMIT]


class ArticlesCog(commands.Cog, name="Articles"):
    """Adds, archives and restores articles on an admin's request."""

    articles = app_commands.Group(
        name="articles", description="Add, remove or restore articles (administrators).",
        default_permissions=discord.Permissions(administrator=True), guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot

    async def _record(self, interaction: discord.Interaction, action: str, source: str) -> None:
        if self.bot.database is None:
            return
        try:
            await asyncio.to_thread(records.record_source_change, self.bot.database, interaction.guild_id,
                                    interaction.user.id, action, source)
        except Exception:
            log.exception("could not record the %s of %s", action, source)

    async def _change(self, interaction: discord.Interaction, action: str, source: str) -> None:
        """Run one engine change in a thread and edit the deferred response with the outcome."""
        engine = self.bot.engine
        call = {"remove": engine.remove_article, "restore": engine.restore_article}[action]
        try:
            report = await asyncio.to_thread(call, source)
        except ArticleRefused as refused:
            await interaction.edit_original_response(**payload.notice(messages.ARTICLE_REFUSED.format(
                name=payload.fit(refused.name, 200), reason=payload.fit(refused.reason, 400))).send_kwargs(), view=None)
            return
        except ReindexInProgress:
            await interaction.edit_original_response(**payload.notice(messages.REINDEX_RUNNING).send_kwargs(), view=None)
            return
        await self._record(interaction, action, source)
        text = messages.ARTICLE_REMOVED if action == "remove" else messages.ARTICLE_RESTORED
        reply = payload.reindex_reply(report)
        reply.content = text.format(source=payload.fit(source, 300))
        await interaction.edit_original_response(**reply.send_kwargs(), view=None)

    @articles.command(name="add", description="Add an article (.txt or .md) to the seeds and re-index.")
    @app_commands.describe(file="The article: UTF-8 text, .txt or .md", outlet="Who published it",
                           url="Where it was published", published="When it was published (YYYY-MM-DD)")
    @checks.admin_only()
    async def add(self, interaction: discord.Interaction, file: discord.Attachment, outlet: str | None = None,
                  url: str | None = None, published: str | None = None) -> None:
        limit = self.bot.settings.max_file_bytes
        if file.size > limit:  # refused by its declared size: a 50 MB upload is never downloaded
            reason = messages.ARTICLE_TOO_LARGE.format(size=file.size, limit=limit)
            await respond_ephemeral(interaction, messages.ARTICLE_REFUSED.format(name=payload.fit(file.filename, 200), reason=reason))
            return
        if self.bot.engine.reindexing:
            await respond_ephemeral(interaction, messages.REINDEX_RUNNING)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except (discord.HTTPException, discord.NotFound):
            await interaction.edit_original_response(**payload.notice(messages.ARTICLE_REFUSED.format(
                name=payload.fit(file.filename, 200), reason=messages.ARTICLE_DOWNLOAD_FAILED)).send_kwargs())
            return
        try:
            report = await asyncio.to_thread(self.bot.engine.add_article, file.filename, data,
                                             outlet=outlet, url=url, published=published)
        except ArticleRefused as refused:
            await interaction.edit_original_response(**payload.notice(messages.ARTICLE_REFUSED.format(
                name=payload.fit(refused.name, 200), reason=payload.fit(refused.reason, 400))).send_kwargs())
            return
        except ReindexInProgress:
            await interaction.edit_original_response(**payload.notice(messages.REINDEX_RUNNING).send_kwargs())
            return
        await self._record(interaction, "add", file.filename)
        log.info("article %s added by user %s", file.filename, interaction.user.id)
        reply = payload.reindex_reply(report)
        reply.content = messages.ARTICLE_ADDED.format(source=payload.fit(file.filename, 300))
        await interaction.edit_original_response(**reply.send_kwargs())

    @articles.command(name="remove", description="Move an article to the archive and re-index.")
    @app_commands.describe(article="The article to archive")
    @checks.admin_only()
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        view = ConfirmView(interaction.user.id)
        await interaction.response.send_message(
            messages.ARTICLE_REMOVE_CONFIRM.format(source=payload.fit(article, 300)), view=view, ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none())
        pressed = await view.wait_for_answer()
        if pressed is None:
            return
        await pressed.response.defer()
        await self._change(pressed, "remove", article)

    @remove.autocomplete("article")
    async def _indexed(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        report = await asyncio.to_thread(self.bot.engine.sources)
        return _matching([item.source for item in report.articles], current)

    @articles.command(name="restore", description="Bring an archived article back and re-index.")
    @app_commands.describe(article="The archived article")
    @checks.admin_only()
    async def restore(self, interaction: discord.Interaction, article: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._change(interaction, "restore", article)

    @restore.autocomplete("article")
    async def _archived(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _matching(await asyncio.to_thread(self.bot.engine.archived_articles), current)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(ArticlesCog(bot))
