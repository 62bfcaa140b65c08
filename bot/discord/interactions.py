"""Helpers every command uses on an interaction: private notices, error ids, log descriptions.

They live apart from `client` (which loads the cogs) so that the cogs and the client's error
handler share them without a cog importing the module that loads it.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord

from ..language import Language, question_language

log = logging.getLogger(__name__)

PUBLIC_THINKING = "quotebot.public_thinking"  # interaction.extras key: a public defer awaits its answer


def new_error_id() -> str:
    """Short id shown to the user and written in the log line, so a report can be matched."""
    return secrets.token_hex(4)


def describe(interaction: discord.Interaction) -> dict[str, Any]:
    """Who/where, for log lines (ids only, never message text or tokens)."""
    command = interaction.command
    return {
        "command": getattr(command, "qualified_name", None),
        "guild": interaction.guild_id,
        "channel": interaction.channel_id,
        "user": interaction.user.id if interaction.user else None,
    }


def asked_language(interaction: discord.Interaction) -> Language:
    """The language of the interaction's `question` option (English when it has none)."""
    try:
        question = getattr(interaction.namespace, "question", None)
    except AttributeError:  # an interaction that never reached the command tree
        question = None
    return question_language(question) if isinstance(question, str) else "en"


async def respond_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Send a short private notice, whether or not the interaction was already answered.

    After a public "thinking…" defer, Discord turns the first follow-up into that public message
    whatever its flags, so the pending public placeholder is deleted first and the notice then
    goes out as a genuinely private follow-up.
    """
    try:
        if interaction.extras.pop(PUBLIC_THINKING, False):
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete the thinking message", exc_info=True)
        if interaction.response.is_done():
            await interaction.followup.send(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException:
        log.warning("could not send a notice for %s", describe(interaction), exc_info=True)
