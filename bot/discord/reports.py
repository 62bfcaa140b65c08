"""Message bodies for the moderator reports (/gaps, /stats) and the article changes /sources lists.

Like `payload`, pure functions from recorded data to `payload.Reply`: template strings from
`bot.messages` filled with counts, dates, ids and (neutralised) question texts or file names.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from .. import messages
from ..storage.gaps import GapRow
from ..storage.records import SourceChange
from ..storage.stats import Stats
from .payload import FIELD_VALUE_LIMIT, EMBED_DESCRIPTION_LIMIT, Reply, discord_len, fit, lines_within

GAPS_PER_PAGE = 8
EXAMPLE_BUDGET = 700
CHART_NAME = "stats.png"


def gaps_pages(rows: Sequence[GapRow], days: int) -> list[Reply]:
    """Pages of /gaps: one field per group (count, example, declined and 👎 counts)."""
    title = messages.GAPS_TITLE.format(days=days)
    if not rows:
        embed = discord.Embed(title=title, description=messages.GAPS_EMPTY.format(days=days),
                              colour=discord.Colour.dark_teal())
        return [Reply(embeds=[embed])]
    summary = messages.GAPS_SUMMARY.format(questions=sum(row.count for row in rows), rows=len(rows))
    chunks = [rows[start:start + GAPS_PER_PAGE] for start in range(0, len(rows), GAPS_PER_PAGE)]
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        embed = discord.Embed(title=title, description=summary, colour=discord.Colour.dark_teal())
        for offset, row in enumerate(chunk):
            rank = (number - 1) * GAPS_PER_PAGE + offset + 1
            value = messages.GAPS_ROW_VALUE.format(
                example=fit(row.example, EXAMPLE_BUDGET), declined=row.declined, downvoted=row.downvoted,
                last=row.last_asked.strftime("%Y-%m-%d"),
            )
            embed.add_field(name=messages.GAPS_ROW_NAME.format(rank=rank, count=row.count),
                            value=value[:FIELD_VALUE_LIMIT], inline=False)
        if len(chunks) > 1:
            embed.set_footer(text=messages.SOURCES_PAGE.format(page=number, pages=len(chunks)))
        pages.append(Reply(embeds=[embed]))
    return pages


def stats_reply(stats: Stats) -> Reply:
    """The /stats embed: the totals, the busiest channels, the days with questions; the chart is
    attached by the cog as CHART_NAME and shown as the embed's image."""
    embed = discord.Embed(title=messages.STATS_TITLE.format(days=stats.days), colour=discord.Colour.dark_teal())
    embed.description = messages.STATS_SUMMARY.format(
        asked=stats.asked, answered=stats.answered, declined=stats.declined,
        answered_share=stats.share(stats.answered), declined_share=stats.share(stats.declined),
        up=stats.thumbs_up, down=stats.thumbs_down,
    )
    days = [messages.STATS_DAY.format(day=row.day.isoformat(), asked=row.asked, answered=row.answered,
                                      declined=row.declined)
            for row in reversed(stats.per_day) if row.asked]
    embed.add_field(name=messages.STATS_PER_DAY,
                    value=lines_within(days, FIELD_VALUE_LIMIT) if days else messages.STATS_NO_QUESTIONS, inline=False)
    if stats.channels:
        channels = [messages.STATS_CHANNEL.format(channel_id=channel, count=count) for channel, count in stats.channels]
        embed.add_field(name=messages.STATS_CHANNELS, value=lines_within(channels, FIELD_VALUE_LIMIT), inline=False)
    embed.set_image(url=f"attachment://{CHART_NAME}")
    assert discord_len(embed.description) <= EMBED_DESCRIPTION_LIMIT
    return Reply(embeds=[embed])


def changes_embed(changes: Sequence[SourceChange]) -> discord.Embed:
    """The latest article changes, for the first page of /sources."""
    lines = [
        messages.SOURCES_CHANGE.format(
            when=change.changed_at.strftime("%Y-%m-%d %H:%M UTC"),
            action=messages.SOURCES_CHANGE_ACTIONS.get(change.action, change.action),
            source=fit(change.source, 200),
            actor=f"<@{change.actor_id}>" if change.actor_id is not None else messages.SOURCES_CHANGE_ERASED,
        )
        for change in changes
    ]
    return discord.Embed(title=messages.SOURCES_CHANGES, description=lines_within(lines, 450),
                         colour=discord.Colour.dark_teal())
