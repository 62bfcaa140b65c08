"""Which Discord the bot talks to: Discord itself, or a Discord-compatible server (the tests' loopback).

Why here and why like this: discord.py keeps its REST base in the class attribute
`discord.http.Route.BASE`, and its gateway URL comes from two places: the GET /gateway/bot answer
(sharded start) and the class attribute `DiscordWebSocket.DEFAULT_GATEWAY`, which it falls back to
on a plain start, after an invalid session and on a reconnect. DISCORD_API_BASE_URL has to reach
all three, or a fresh IDENTIFY after an invalid session would leave the test server for Discord.
"""

from __future__ import annotations

import logging

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import INTERNAL_API_VERSION, Route

from ..config import DISCORD_API_BASE_URL

log = logging.getLogger(__name__)


def is_default(api_base_url: str) -> bool:
    return api_base_url.rstrip("/") == DISCORD_API_BASE_URL


def use_rest_base(api_base_url: str) -> None:
    """Every REST route (and so every interaction callback and webhook) goes to this base."""
    Route.BASE = f"{api_base_url.rstrip('/')}/v{INTERNAL_API_VERSION}"


async def use_gateway_of(client: discord.Client, api_base_url: str) -> None:
    """Ask the REST base where its gateway is and make that discord.py's default gateway.

    Called after login (the HTTP session exists). For Discord itself nothing changes: its
    default gateway is already right, and the sharded start asks /gateway/bot anyway.
    """
    if is_default(api_base_url):
        return
    _, url, _ = await client.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    log.info("using the Discord-compatible server at %s (gateway %s)", api_base_url, url)
