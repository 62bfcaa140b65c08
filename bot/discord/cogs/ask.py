"""/ask and @mention questions: the engine answers in a worker thread, the reply is quotes only.

Why a semaphore with a short wait: the engine is synchronous and CPU bound, so at most
MAX_CONCURRENT_ASKS questions run at once; a question that cannot get a slot almost at once
gets a polite "busy" instead of waiting in an unbounded queue. The slot is taken *before* the
interaction is deferred: after a public "thinking…" defer, Discord would show the first
follow-up publicly, and "busy" should be private.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages
from .. import checks, payload
from . import feedback
from ..interactions import PUBLIC_THINKING, new_error_id, respond_ephemeral

if TYPE_CHECKING:
    from ..client import QuoteBot
    from ...engine.models import Answer

log = logging.getLogger(__name__)

SLOT_WAIT_SECONDS = 0.25  # how long a question may wait for a free slot before "busy"


class AskCog(commands.Cog, name="Ask"):
    """Answers questions with verbatim quotes from the indexed articles."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot
        self.slots = asyncio.Semaphore(bot.settings.max_concurrent_asks)

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

    @app_commands.command(name="ask", description="Ask about the Iraq premiership crisis; the answer is quoted from the articles.")
    @app_commands.describe(question="What you want to know")
    @checks.ask_cooldown()
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        if not await self._take_slot():
            await respond_ephemeral(interaction, messages.BUSY)
            return
        try:
            await interaction.response.defer(thinking=True)
            interaction.extras[PUBLIC_THINKING] = True
            answer = await self.answer(question)
        finally:
            self.slots.release()
        votes = await feedback.remember(self.bot, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
                                        member_id=interaction.user.id, language=str(interaction.locale), answer=answer)
        await interaction.followup.send(**payload.answer_reply(answer).send_kwargs(), **votes)
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
            await self._reply(message, payload.notice(messages.ERROR.format(error_id=error_id)))

    async def _answer_message(self, message: discord.Message) -> None:
        retry_after = self.bot.ask_cooldowns.hit(message.author.id)
        if retry_after is not None:
            text = messages.COOLDOWN.format(seconds=max(1, math.ceil(retry_after)))
            await self._reply(message, payload.notice(text))
            return
        if not await self._take_slot():
            await self._reply(message, payload.notice(messages.BUSY))
            return
        try:
            answer = await self.answer(self.question_from(message))
        finally:
            self.slots.release()
        votes = await feedback.remember(self.bot, guild_id=getattr(message.guild, "id", None),
                                        channel_id=message.channel.id, member_id=message.author.id,
                                        language=None, answer=answer)
        await self._reply(message, payload.answer_reply(answer), **votes)

    @staticmethod
    async def _reply(message: discord.Message, reply: payload.Reply, **extra: Any) -> None:
        try:
            await message.reply(**reply.send_kwargs(), **extra, mention_author=False)
        except discord.HTTPException:
            log.warning("could not reply to message %s", message.id, exc_info=True)


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(AskCog(bot))
