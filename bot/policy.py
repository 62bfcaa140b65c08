"""Per-server and per-channel behaviour: which keys /config sets, and how a value is resolved.

Pure: knows nothing of Discord or of storage. A store hands over a server's entries as
(channel id or None, key, value) triples; `resolve` applies them over the settings' defaults,
server-wide first, then the channel's own (a thread counts as its parent channel). Values are
stored as the canonical strings `parse` returns, so any store (JSON today, a database later)
round-trips them unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

MAX_COOLDOWN_SECONDS = 3600.0


class BadValue(ValueError):
    """A /config value the key cannot take; the message says what it can take."""


def _switch(value: str) -> str:
    lowered = value.strip().casefold()
    if lowered in ("on", "true", "yes", "1"):
        return "on"
    if lowered in ("off", "false", "no", "0"):
        return "off"
    raise BadValue("on or off")


def _replies(value: str) -> str:
    lowered = value.strip().casefold()
    if lowered in ("thread", "inline"):
        return lowered
    raise BadValue("thread or inline")


def _seconds(value: str) -> str:
    try:
        seconds = float(value.strip())
    except ValueError:
        raise BadValue(f"a number of seconds from 0 to {MAX_COOLDOWN_SECONDS:g}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_COOLDOWN_SECONDS:
        raise BadValue(f"a number of seconds from 0 to {MAX_COOLDOWN_SECONDS:g}")
    return f"{seconds:g}"


# key -> (canonicalise a typed value, the Policy field it sets, how a canonical string reads back)
KEYS: dict[str, tuple[Callable[[str], str], str, Callable[[str], Any]]] = {
    "answer": (_switch, "answer", lambda v: v == "on"),  # off server-wide + on in a few channels = an allowlist
    "replies": (_replies, "replies", str),
    "private": (_switch, "private", lambda v: v == "on"),
    "cooldown": (_seconds, "cooldown", float),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """How the bot behaves in one channel."""

    answer: bool = True  # answers questions here
    replies: str = "inline"  # "thread": opens a thread on the question and answers in it
    private: bool = False  # /ask answers only the asker unless `private:false`
    cooldown: float = 10.0  # seconds between one member's questions


def parse(key: str, value: str) -> str:
    """The canonical string for `value` under `key`; raises KeyError or BadValue."""
    if key not in KEYS:
        raise KeyError(key)
    return KEYS[key][0](value)


def defaults(*, answer: bool, replies: str, private: bool, cooldown: float) -> Policy:
    """The policy where nothing is configured (from the settings)."""
    return Policy(answer=answer, replies=replies, private=private, cooldown=cooldown)


def _apply(policy: Policy, key: str, value: str) -> Policy:
    if key not in KEYS:
        return policy  # a key a newer version wrote: ignored, never fatal
    _, name, read = KEYS[key]
    try:
        return replace(policy, **{name: read(parse(key, value))})
    except BadValue:
        return policy


def resolve(base: Policy, entries: Iterable[tuple[int | None, str, str]], channel_id: int | None) -> Policy:
    """`base`, then the server-wide entries, then `channel_id`'s own."""
    entries = list(entries)
    policy = base
    for channel, key, value in entries:
        if channel is None:
            policy = _apply(policy, key, value)
    for channel, key, value in entries:
        if channel is not None and channel == channel_id:
            policy = _apply(policy, key, value)
    return policy


def answering_channels(base: Policy, entries: Iterable[tuple[int | None, str, str]]) -> list[int]:
    """Channels with their own entries where the bot answers (for pointing a member there)."""
    entries = list(entries)
    channels = sorted({channel for channel, _, _ in entries if channel is not None})
    return [channel for channel in channels if resolve(base, entries, channel).answer]
