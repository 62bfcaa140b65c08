"""👍/👎 under every answer: persistent buttons, one vote per member per answer, confirmed privately.

Why a DynamicItem: the button's custom_id carries the answer's record id (`qb:vote:<id>:up`),
so a press is understood from the id alone, by any bot process and after any restart; the class
is registered with `bot.add_dynamic_items` when this cog loads (inside `setup_hook`). The buttons
never change: showing a count or a pressed state would tell every viewer how one member voted, so
each vote is confirmed with a private (ephemeral) reply instead.

`record_answer` records a question and what the bot answered (the ask cog calls it in the worker
thread that composes the reply); a database failure is logged and never stops the answer going out.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from ... import messages
from ...language import question_language
from ...storage import records
from ..interactions import new_error_id, respond_ephemeral

if TYPE_CHECKING:
    from ...engine.models import Answer
    from ...storage.database import Database
    from ..client import QuoteBot

log = logging.getLogger(__name__)

VOTES = {"up": (records.UP, messages.VOTE_UP), "down": (records.DOWN, messages.VOTE_DOWN)}


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button], template=r"qb:vote:(?P<record>[0-9]{1,19}):(?P<vote>up|down)"):
    """One of the two vote buttons of one answer."""

    def __init__(self, record_id: int, vote: str) -> None:
        super().__init__(discord.ui.Button(
            emoji=VOTES[vote][1], style=discord.ButtonStyle.secondary, custom_id=f"qb:vote:{record_id}:{vote}",
        ))
        self.record_id = record_id
        self.vote = vote

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /) -> "FeedbackButton":
        return cls(int(match["record"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        database = getattr(interaction.client, "database", None)
        if database is None:
            await respond_ephemeral(interaction, messages.NO_DATABASE)
            return
        value, emoji = VOTES[self.vote]
        try:
            outcome = await asyncio.to_thread(records.vote, database, self.record_id, interaction.user.id, value)
        except records.UnknownAnswer:
            await respond_ephemeral(interaction, messages.VOTE_GONE)
            return
        text = {"new": messages.VOTE_RECORDED, "changed": messages.VOTE_CHANGED, "same": messages.VOTE_SAME}[outcome]
        await respond_ephemeral(interaction, text.format(vote=emoji))


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked where: what a recorded question is filed under."""

    guild_id: int | None
    channel_id: int | None
    member_id: int


def add_vote_buttons(view: discord.ui.View | None, record_id: int) -> discord.ui.View:
    """The 👍/👎 pair for one recorded answer, added to the answer's other buttons (in the first
    row with room: the answer view keeps row 0 for at most two buttons)."""
    view = view if view is not None else discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(record_id, "up"))
    view.add_item(FeedbackButton(record_id, "down"))
    return view


def record_answer(database: "Database | None", asker: Asker, answer: "Answer") -> int | None:
    """Record the question and what it got (runs in a worker thread); the record's id, or None
    when there is no database or recording failed: an answer is never lost to its record."""
    if database is None:
        return None
    asked = records.AskedQuestion(
        guild_id=asker.guild_id, channel_id=asker.channel_id, member_id=asker.member_id, text=answer.question,
        language=question_language(answer.question), answered=answer.answered, reason=answer.reason,
        best_dense=answer.diagnostics.get("best_dense"), coverage=answer.diagnostics.get("coverage"),
        quotes=[records.QuotedSpan(q.source, q.start, q.end, q.score) for q in answer.quotes] if answer.answered else [],
    )
    try:
        return records.record_question(database, asked)
    except Exception:
        log.exception("error %s recording a question (guild %s, channel %s)", new_error_id(), asker.guild_id,
                      asker.channel_id)
        return None


class FeedbackCog(commands.Cog, name="Feedback"):
    """Holds no commands: registers the persistent vote buttons."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot


async def setup(bot: "QuoteBot") -> None:
    bot.add_dynamic_items(FeedbackButton)
    await bot.add_cog(FeedbackCog(bot))
