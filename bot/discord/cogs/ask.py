"""/ask, @mentions, "Find sources" and the buttons under an answer: the engine answers in a worker
thread, the reply is quotes only.

Why a semaphore with a short wait: the engine is synchronous and CPU bound, so at most
MAX_CONCURRENT_ASKS questions run at once; a question that cannot get a slot almost at once
gets a polite "busy" instead of waiting in an unbounded queue. The slot is taken *before* the
interaction is deferred: after a public "thinking…" defer, Discord would show the first
follow-up publicly, and "busy" should be private.

Where the answer goes follows the channel's /config policy (`bot.policy`): inline, or in a thread
opened on the question; privately (with "Share to channel") or publicly. In a thread, the
thread's earlier questions steer retrieval (`Engine.ask(context=...)`); they never appear in the
reply. Every answer's buttons carry a key into `answer_state`, so they work after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages, policy as policies
from .. import checks, payload, views
from ..answer_state import AskRequest
from ...language import question_language
from . import feedback
from ..interactions import PUBLIC_THINKING, new_error_id, respond_ephemeral

if TYPE_CHECKING:
    from ..client import QuoteBot
    from ...engine.models import Answer

log = logging.getLogger(__name__)

SLOT_WAIT_SECONDS = 0.25  # how long a question may wait for a free slot before "busy"
AUTOCOMPLETE_SECONDS = 2.0  # Discord drops an autocomplete answer after 3 s
AUTOCOMPLETE_CHOICES = 25  # Discord's limit
CHOICE_LIMIT = 100  # characters of a choice's name and value
THREAD_NAME_LIMIT = 100
QUESTION_LIMIT = 2000  # a "Find sources" message longer than this is searched by its start
THREAD_AUTO_ARCHIVE_MINUTES = 1440


def choice_name(title: str) -> str:
    """A headline cut to Discord's 100 characters (autocomplete names render no markdown)."""
    title = " ".join(title.split()) or messages.SOURCES_UNTITLED
    if len(title) <= CHOICE_LIMIT:
        return title
    return title[: CHOICE_LIMIT - len(messages.ELLIPSIS)].rstrip() + messages.ELLIPSIS


def thread_name(question: str) -> str:
    """The question as a thread name (Discord: 1 to 100 characters; names never ping)."""
    name = messages.THREAD_NAME.format(question=" ".join(question.split()))
    if len(name) > THREAD_NAME_LIMIT:
        name = name[: THREAD_NAME_LIMIT - len(messages.ELLIPSIS)].rstrip() + messages.ELLIPSIS
    return name or messages.SOURCES_UNTITLED


class AskCog(commands.Cog, name="Ask"):
    """Answers questions with verbatim quotes from the indexed articles."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot
        self.slots = asyncio.Semaphore(bot.settings.max_concurrent_asks)
        self.in_flight = 0  # questions taken and not yet replied to: a SIGTERM waits for them (client.serve)
        # A message context-menu command: the target message's text arrives in the interaction
        # itself, so it needs no Message Content intent.
        self.find_sources_menu = app_commands.ContextMenu(name="Find sources", callback=self.find_sources)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.find_sources_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.find_sources_menu.name, type=self.find_sources_menu.type)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count a question from its slot to its reply: `in_flight` is what a SIGTERM waits for."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def _take_slot(self) -> bool:
        """A slot for one question, or False if none frees up within SLOT_WAIT_SECONDS."""
        if not self.slots.locked():
            await self.slots.acquire()  # does not suspend while a slot is free
            return True
        try:
            async with asyncio.timeout(SLOT_WAIT_SECONDS):
                await self.slots.acquire()
        except TimeoutError:
            return False
        return True

    async def answer(self, question: str) -> "Answer":
        """Ask the engine off the event loop (it is synchronous and may take a while)."""
        return await asyncio.to_thread(self.bot.engine.ask, question)

    # --- composing an answer ---------------------------------------------------------------------
    @property
    def per_page(self) -> int:
        return self.bot.settings.top_k

    def _compose(self, request: AskRequest, page: int, *, private: bool, content: str | None = None,
                 asker: feedback.Asker | None = None) -> payload.Reply:
        """The reply for one page of a request, with its buttons (runs in a worker thread).

        With `asker` (a member's own new question) the question and what it got are recorded,
        and a quoted answer gets the 👍/👎 buttons of its record.
        """
        engine = self.bot.engine
        per_page = self.per_page
        answer = engine.ask(request.question, context=request.context, article=request.article,
                            k=per_page, offset=page * per_page)
        if page and (not answer.answered or not answer.quotes):
            return payload.notice(messages.NO_MORE_QUOTES)
        first = page * per_page + 1
        reply = payload.answer_reply(answer, newest=engine.newest_published(), first_number=first, content=content)
        if reply.embeds:
            key = self.bot.answer_state.remember(request)
            keys = engine.article_keys(tuple(dict.fromkeys(quote.source for quote in answer.quotes)))
            reply.view = views.answer_view(answer, key, page, per_page=per_page, private=private,
                                           article_keys=keys, first_number=first)
        if asker is not None:
            record_id = feedback.record_answer(self.bot.database, asker, answer)
            if record_id is not None and reply.embeds:
                reply.view = feedback.add_vote_buttons(reply.view, record_id)
        return reply

    async def compose(self, request: AskRequest, page: int = 0, *, private: bool = False,
                      content: str | None = None, asker: feedback.Asker | None = None) -> payload.Reply:
        return await asyncio.to_thread(self._compose, request, page, private=private, content=content, asker=asker)

    async def _pointer(self, guild_id: int | None) -> str:
        """Where to ask instead, for a channel the bot does not answer in."""
        entries = await self.bot.config_entries(guild_id)
        channels = policies.answering_channels(self.bot.default_policy(), entries)[:10]
        if not channels:
            return messages.NOT_ANSWERING_HERE
        return messages.ASK_IN_CHANNELS.format(channels=", ".join(f"<#{channel}>" for channel in channels))

    async def _resolve_article(self, given: str | None) -> tuple[bool, str | None]:
        """(ok, source) for an `article:` option; not ok when it names no indexed article."""
        if given is None or not given.strip():
            return True, None
        source = await asyncio.to_thread(self.bot.engine.resolve_article, given)
        return source is not None, source

    # --- /ask ------------------------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask about the Iraq premiership crisis; the answer is quoted from the articles.")
    @app_commands.describe(
        question="What you want to know",
        private="Answer only you (you can share it to the channel afterwards)",
        article="Only quote this article (start typing a headline)",
    )
    @checks.ask_cooldown()
    async def ask(self, interaction: discord.Interaction, question: str, private: bool | None = None,
                  article: str | None = None) -> None:
        channel = interaction.channel
        here = interaction.extras.get(checks.POLICY) or await self.bot.policy_for(
            interaction.guild_id, checks.policy_channel(channel, interaction.channel_id))
        if not here.answer:
            await respond_ephemeral(interaction, await self._pointer(interaction.guild_id))
            return
        ok, source = await self._resolve_article(article)
        if not ok:
            await respond_ephemeral(interaction, messages.NO_SUCH_ARTICLE)
            return
        private = here.private if private is None else private
        in_thread = isinstance(channel, discord.Thread)
        context = self.bot.answer_state.thread_questions(channel.id) if in_thread and channel is not None else ()
        request = AskRequest(question, context, source)
        if not await self._take_slot():
            self.bot.ask_cooldowns.refund(interaction.user.id)  # "ask again in a moment" must hold
            await respond_ephemeral(interaction, messages.localise(messages.BUSY, question_language(question)))
            return
        with self.answering():  # a SIGTERM waits for this reply (client.close_after_drain)
            try:
                await interaction.response.defer(ephemeral=private, thinking=True)
                if not private:
                    interaction.extras[PUBLIC_THINKING] = True
                reply = await self.compose(request, private=private, asker=feedback.Asker(
                    interaction.guild_id, interaction.channel_id, interaction.user.id))
            finally:
                self.slots.release()
            if (not private and not in_thread and here.replies == "thread" and reply.embeds
                    and isinstance(channel, discord.TextChannel)):
                await self._answer_in_new_thread(interaction, channel, question, reply)
            else:
                await interaction.followup.send(**reply.send_kwargs(), ephemeral=private)
                if in_thread and channel is not None:
                    await asyncio.to_thread(self.bot.answer_state.add_to_thread, channel.id, question)
            interaction.extras.pop(PUBLIC_THINKING, None)

    async def _answer_in_new_thread(self, interaction: discord.Interaction, channel: discord.TextChannel,
                                    question: str, reply: payload.Reply) -> None:
        """Open a thread on the response message and answer there; inline if Discord refuses."""
        starter = await interaction.followup.send(**payload.notice(messages.THREAD_STARTER).send_kwargs(), wait=True)
        try:
            thread = await channel.create_thread(name=thread_name(question), message=starter,
                                                 auto_archive_duration=THREAD_AUTO_ARCHIVE_MINUTES)
            await thread.send(**reply.send_kwargs())
        except discord.HTTPException:
            log.warning("could not answer in a thread in channel %s; answering inline", channel.id, exc_info=True)
            await starter.edit(**reply.send_kwargs())
            return
        await asyncio.to_thread(self.bot.answer_state.add_to_thread, thread.id, question)

    @ask.autocomplete("article")
    async def article_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.headline_choices(current)

    async def headline_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Up to 25 headlines matching what was typed, within Discord's 3 seconds (else none)."""
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(self.bot.engine.article_choices, current[:CHOICE_LIMIT], AUTOCOMPLETE_CHOICES),
                AUTOCOMPLETE_SECONDS,
            )
        except TimeoutError:
            log.warning("headline autocomplete took over %.1f s", AUTOCOMPLETE_SECONDS)
            return []
        return [app_commands.Choice(name=choice_name(title), value=key[:CHOICE_LIMIT])
                for title, key in found[:AUTOCOMPLETE_CHOICES]]

    # --- "Find sources" on a message -----------------------------------------------------------------
    async def find_sources(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The quotes that bear on someone's message, privately (with "Share to channel")."""
        text = (message.content or "").strip()[:QUESTION_LIMIT]
        if not text:
            await respond_ephemeral(interaction, messages.EMPTY_MESSAGE)
            return
        language = question_language(text)
        retry_after = self.bot.ask_cooldowns.hit(interaction.user.id)
        if retry_after is not None:
            wait = messages.localise(messages.COOLDOWN, language)
            await respond_ephemeral(interaction, wait.format(seconds=max(1, math.ceil(retry_after))))
            return
        if not await self._take_slot():
            self.bot.ask_cooldowns.refund(interaction.user.id)
            await respond_ephemeral(interaction, messages.localise(messages.BUSY, language))
            return
        with self.answering():  # a SIGTERM waits for this reply (client.close_after_drain)
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                reply = await self.compose(AskRequest(text), private=True, asker=feedback.Asker(
                    interaction.guild_id, interaction.channel_id, interaction.user.id))
            finally:
                self.slots.release()
            await interaction.followup.send(**reply.send_kwargs(), ephemeral=True)

    # --- the buttons (see views.py) ----------------------------------------------------------------
    async def more_quotes(self, interaction: discord.Interaction, key: str, page: int) -> None:
        """The next page of the same ranking, privately, with its own buttons."""
        request = await asyncio.to_thread(self.bot.answer_state.recall, key)
        if request is None:
            await respond_ephemeral(interaction, messages.ANSWER_GONE)
            return
        if not await self._take_slot():
            await respond_ephemeral(interaction, messages.localise(messages.BUSY, question_language(request.question)))
            return
        with self.answering():  # a SIGTERM waits for this reply (client.close_after_drain)
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                reply = await self.compose(request, page, private=True)
            finally:
                self.slots.release()
            await interaction.followup.send(**reply.send_kwargs(), ephemeral=True)

    async def full_paragraph(self, interaction: discord.Interaction, article: str, number: int) -> None:
        """The whole paragraph a quote comes from, verbatim, privately."""
        found = await asyncio.to_thread(self.bot.engine.paragraph, article, number)
        if found is None:
            await respond_ephemeral(interaction, messages.PARAGRAPH_GONE)
            return
        reply = payload.paragraph_reply(found.title, found.source, found.number, found.text, found.url)
        url = payload.safe_url(found.url)
        if url is not None:
            reply.view = discord.ui.View(timeout=None)
            reply.view.add_item(discord.ui.Button(label=messages.BUTTON_ARTICLE.format(number=1), url=url))
        await interaction.response.send_message(**reply.send_kwargs(), ephemeral=True)

    async def share(self, interaction: discord.Interaction, key: str, page: int) -> None:
        """Post a private answer's quotes publicly, saying who shared them (nobody is pinged)."""
        request = await asyncio.to_thread(self.bot.answer_state.recall, key)
        if request is None:
            await respond_ephemeral(interaction, messages.ANSWER_GONE)
            return
        here = await self.bot.policy_for(interaction.guild_id,
                                         checks.policy_channel(interaction.channel, interaction.channel_id))
        if not here.answer:
            await respond_ephemeral(interaction, await self._pointer(interaction.guild_id))
            return
        if not await self._take_slot():
            await respond_ephemeral(interaction, messages.localise(messages.BUSY, question_language(request.question)))
            return
        with self.answering():  # a SIGTERM waits for this reply (client.close_after_drain)
            try:
                await interaction.response.defer(thinking=True)
                interaction.extras[PUBLIC_THINKING] = True
                shared_by = messages.SHARED_BY.format(user=interaction.user.mention)
                reply = await self.compose(request, page, private=False, content=shared_by)
            finally:
                self.slots.release()
            await interaction.followup.send(**reply.send_kwargs())
            interaction.extras.pop(PUBLIC_THINKING, None)

    # --- @mention ------------------------------------------------------------------------------
    def mentions_me(self, message: discord.Message) -> bool:
        """True when the bot itself is mentioned (not merely @everyone/@here or a role)."""
        me = self.bot.user
        return me is not None and any(user.id == me.id for user in message.mentions)

    def question_from(self, message: discord.Message) -> str:
        """The message text with the bot's mention(s) removed."""
        me = self.bot.user
        assert me is not None
        return re.sub(rf"<@!?{me.id}>", " ", message.content).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self.mentions_me(message):
            return
        try:
            await self._answer_message(message)
        except Exception:
            error_id = new_error_id()
            log.exception(
                "error %s answering a mention (guild %s, channel %s, user %s)",
                error_id,
                getattr(message.guild, "id", None),
                message.channel.id,
                message.author.id,
            )
            text = messages.localise(messages.ERROR, question_language(message.content))
            await self._reply(message, payload.notice(text.format(error_id=error_id)))

    async def _answer_message(self, message: discord.Message) -> None:
        language = question_language(message.content)
        channel = message.channel
        guild_id = message.guild.id if message.guild is not None else None
        here = await self.bot.policy_for(guild_id, checks.policy_channel(channel, channel.id))
        if not here.answer:
            await self._point_elsewhere(message, await self._pointer(guild_id))
            return
        retry_after = self.bot.ask_cooldowns.hit(message.author.id, here.cooldown)
        if retry_after is not None:
            text = messages.localise(messages.COOLDOWN, language).format(seconds=max(1, math.ceil(retry_after)))
            await self._reply(message, payload.notice(text))
            return
        question = self.question_from(message)
        in_thread = isinstance(channel, discord.Thread)
        context = self.bot.answer_state.thread_questions(channel.id) if in_thread else ()
        if not await self._take_slot():
            self.bot.ask_cooldowns.refund(message.author.id)
            await self._reply(message, payload.notice(messages.localise(messages.BUSY, language)))
            return
        with self.answering():  # a SIGTERM waits for this reply (client.close_after_drain)
            try:
                reply = await self.compose(AskRequest(question, context), asker=feedback.Asker(
                    guild_id, channel.id, message.author.id))
            finally:
                self.slots.release()
            if not in_thread and here.replies == "thread" and reply.embeds and isinstance(channel, discord.TextChannel):
                try:
                    thread = await message.create_thread(name=thread_name(question),
                                                         auto_archive_duration=THREAD_AUTO_ARCHIVE_MINUTES)
                    await thread.send(**reply.send_kwargs())
                except discord.HTTPException:
                    log.warning("could not open a thread on message %s; answering inline", message.id, exc_info=True)
                else:
                    await asyncio.to_thread(self.bot.answer_state.add_to_thread, thread.id, question)
                    return
            await self._reply(message, reply)
            if in_thread:
                await asyncio.to_thread(self.bot.answer_state.add_to_thread, channel.id, question)

    @staticmethod
    async def _point_elsewhere(message: discord.Message, text: str) -> None:
        """A message cannot be answered privately in the channel: the pointer goes by DM."""
        try:
            await message.author.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.info("could not DM user %s a pointer (DMs closed?)", message.author.id)

    @staticmethod
    async def _reply(message: discord.Message, reply: payload.Reply, **extra: Any) -> None:
        try:
            await message.reply(**reply.send_kwargs(), **extra, mention_author=False)
        except discord.HTTPException:
            log.warning("could not reply to message %s", message.id, exc_info=True)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(AskCog(bot))
