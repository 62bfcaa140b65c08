"""What the tests ask of a Discord message body, and the bot never does: undo the escapes, isolate
a quote from its citation, and list every way a body breaks Discord's limits.
"""

from __future__ import annotations

from typing import Any

from bot.discord.payload import (
    CONTENT_LIMIT,
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELDS_LIMIT,
    EMBED_TITLE_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    MAX_EMBEDS,
    MESSAGE_EMBEDS_TOTAL,
    citation_line,
    discord_len,
)
from bot.engine.models import Quote


def unescape(text: str) -> str:
    """Invert `neutralise`: drop each inserted backslash (URL runs never contain one)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def citation_tail(quote: Quote, value: str) -> str:
    """The citation part of a rendered field value (tests use it to isolate the quote)."""
    citation = citation_line(quote.source, quote.paragraph, quote.outlet, quote.published, quote.url)
    marker = "\n" + citation
    return value[value.rindex(marker) :]


def limit_violations(body: dict[str, Any]) -> list[str]:
    """Every way a serialised body breaks Discord's limits (empty when it fits)."""
    problems: list[str] = []
    if discord_len(body.get("content")) > CONTENT_LIMIT:
        problems.append("content over 2000")
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        problems.append("more than 10 embeds")
    total = 0
    for embed in embeds:
        title = embed.get("title")
        description = embed.get("description")
        footer = (embed.get("footer") or {}).get("text")
        author = (embed.get("author") or {}).get("name")
        fields = embed.get("fields") or []
        if discord_len(title) > EMBED_TITLE_LIMIT:
            problems.append("title over 256")
        if discord_len(description) > EMBED_DESCRIPTION_LIMIT:
            problems.append("description over 4096")
        if discord_len(footer) > FOOTER_LIMIT:
            problems.append("footer over 2048")
        if discord_len(author) > 256:
            problems.append("author over 256")
        if len(fields) > EMBED_FIELDS_LIMIT:
            problems.append("more than 25 fields")
        total += sum(discord_len(part) for part in (title, description, footer, author))
        for item in fields:
            name, value = item.get("name") or "", item.get("value") or ""
            if not name.strip() or discord_len(name) > FIELD_NAME_LIMIT:
                problems.append(f"bad field name length {discord_len(name)}")
            if not value.strip() or discord_len(value) > FIELD_VALUE_LIMIT:
                problems.append(f"bad field value length {discord_len(value)}")
            total += discord_len(name) + discord_len(value)
    if total > MESSAGE_EMBEDS_TOTAL:
        problems.append(f"embeds total {total} over 6000")
    problems += component_violations(body.get("components") or [])
    return problems


def component_violations(rows: list[dict[str, Any]]) -> list[str]:
    """Every way a message's buttons break Discord's limits: 5 rows of 5, labels of 80, custom ids of
    100 (unique), link URLs of 512 and http(s) only, and each button either a custom id or a URL."""
    problems: list[str] = []
    if len(rows) > 5:
        problems.append("more than 5 action rows")
    seen: set[str] = set()
    for row in rows:
        children = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(children) <= 5:
            problems.append(f"bad action row with {len(children)} components")
        for button in children:
            label = button.get("label") or ""
            emoji = (button.get("emoji") or {}).get("name") or ""
            if button.get("type") != 2 or not (label or emoji) or len(label) > 80:  # a label, an emoji, or both
                problems.append(f"bad button {button!r}")
            custom_id, url = button.get("custom_id"), button.get("url")
            if (custom_id is None) == (url is None):
                problems.append("a button needs exactly one of custom_id and url")
            if custom_id is not None:
                if len(custom_id) > 100 or custom_id in seen:
                    problems.append(f"bad or repeated custom_id {custom_id!r}")
                seen.add(custom_id)
            if url is not None and (len(url) > 512 or not url.startswith(("https://", "http://")) or button.get("style") != 5):
                problems.append(f"bad link button {url!r}")
    return problems
