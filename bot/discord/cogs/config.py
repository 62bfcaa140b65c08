"""/config (admins, servers only): per-server and per-channel behaviour, stored, effective at once.

Why a store behind two methods: today a JSON file (`bot.config_store`), later the database
(issue 15) with the same `entries`/`put`; both are synchronous, so they are called through
`asyncio.to_thread`. Every question reads the store afresh (`QuoteBot.policy_for`), so a change
applies to the next question without a restart, and survives one. What a key means and how
values combine lives in `bot.policy`, which knows nothing of Discord.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ... import messages, policy as policies
from .. import checks, payload
from ..interactions import respond_ephemeral

if TYPE_CHECKING:
    from ..client import QuoteBot

log = logging.getLogger(__name__)

Key = Literal["answer", "replies", "private", "cooldown"]
Where = Literal["server", "channel"]


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class ConfigCog(commands.GroupCog, group_name="config", group_description="How the bot behaves in this server (admins)."):
    """Shows and changes the per-server and per-channel policy."""

    def __init__(self, bot: "QuoteBot") -> None:
        self.bot = bot
        super().__init__()

    def _channel(self, interaction: discord.Interaction) -> int | None:
        return checks.policy_channel(interaction.channel, interaction.channel_id)

    @app_commands.command(name="show", description="What is configured here, and what applies in this channel.")
    @checks.admin_only()
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        entries = await self.bot.config_entries(interaction.guild_id)
        channel = self._channel(interaction)
        here = policies.resolve(self.bot.default_policy(), entries, channel)
        embed = discord.Embed(title=messages.CONFIG_TITLE, colour=discord.Colour.dark_teal())
        server = [messages.CONFIG_LINE.format(key=key, value=payload.fit(value, 100))
                  for ch, key, value in entries if ch is None]
        embed.add_field(name=messages.CONFIG_SERVER, value="\n".join(server) or messages.CONFIG_DEFAULTS, inline=False)
        by_channel: dict[int, list[str]] = {}
        for ch, key, value in entries:
            if ch is not None:
                by_channel.setdefault(ch, []).append(messages.CONFIG_LINE.format(key=key, value=payload.fit(value, 100)))
        for ch, lines in sorted(by_channel.items())[:20]:
            embed.add_field(name=messages.CONFIG_CHANNEL.format(channel=ch),
                            value="\n".join(lines)[: payload.FIELD_VALUE_LIMIT], inline=False)
        effective = [messages.CONFIG_LINE.format(key=key, value=_value_text(getattr(here, name)))
                     for key, (_, name, _) in policies.KEYS.items()]
        embed.add_field(name=messages.CONFIG_EFFECTIVE, value="\n".join(effective), inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(name="set", description="Change a setting server-wide or for this channel.")
    @app_commands.describe(key="answer (on/off), replies (thread/inline), private (on/off), cooldown (seconds)",
                           value="The new value", where="Server-wide, or only this channel (and its threads)")
    @checks.admin_only()
    async def set_(self, interaction: discord.Interaction, key: Key, value: str, where: Where = "server") -> None:
        try:
            canonical = policies.parse(key, value)
        except policies.BadValue as error:
            await respond_ephemeral(interaction, messages.CONFIG_BAD_VALUE.format(key=key, expected=str(error)))
            return
        except KeyError:
            await respond_ephemeral(interaction, messages.CONFIG_UNKNOWN_KEY.format(
                key=payload.fit(key, 40), keys=", ".join(policies.KEYS)))
            return
        channel = self._channel(interaction) if where == "channel" else None
        assert interaction.guild_id is not None
        await asyncio.to_thread(self.bot.config_store.put, interaction.guild_id, channel, key, canonical,
                                interaction.user.id)
        await respond_ephemeral(interaction, messages.CONFIG_SET.format(key=key, value=canonical, where=self._where(channel)))

    @app_commands.command(name="clear", description="Return a setting to its default, server-wide or for this channel.")
    @app_commands.describe(key="The setting", where="Server-wide, or only this channel")
    @checks.admin_only()
    async def clear(self, interaction: discord.Interaction, key: Key, where: Where = "server") -> None:
        channel = self._channel(interaction) if where == "channel" else None
        assert interaction.guild_id is not None
        await asyncio.to_thread(self.bot.config_store.put, interaction.guild_id, channel, key, None, interaction.user.id)
        await respond_ephemeral(interaction, messages.CONFIG_CLEARED.format(key=key, where=self._where(channel)))

    @staticmethod
    def _where(channel: int | None) -> str:
        if channel is None:
            return messages.CONFIG_WHERE_SERVER
        return messages.CONFIG_WHERE_CHANNEL.format(channel=f"<#{channel}>")


async def setup(bot: "QuoteBot") -> None:
    await bot.add_cog(ConfigCog(bot))
