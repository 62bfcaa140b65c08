"""Who may run what, checked when the command runs.

Why both layers: `default_permissions` on a command only decides who *sees* it by default, and a
server admin can widen that in Server Settings → Integrations. So every restricted command also
carries a runtime `app_commands.check` that looks at the member's actual permissions (as Discord
resolved them for this channel, `interaction.permissions`) or at the role ids configured in
MODERATOR_ROLE_IDS / ADMIN_ROLE_IDS. Admins count as moderators.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

if TYPE_CHECKING:
    from ..config import Settings

T = TypeVar("T")


class NotAllowed(app_commands.CheckFailure):
    """The member has neither the permission nor one of the configured roles."""


def _settings(interaction: discord.Interaction) -> "Settings":
    return interaction.client.settings  # type: ignore[attr-defined]


def member_role_ids(interaction: discord.Interaction) -> set[int]:
    """Role ids of the invoking member, read from the interaction payload.

    `Member.get_role` needs the guild's role cache, which an interaction from an uncached guild
    does not have, so read the ids the payload carried instead.
    """
    user = interaction.user
    if not isinstance(user, discord.Member):
        return set()
    return {int(role_id) for role_id in getattr(user, "_roles", ())}


def _has_role(interaction: discord.Interaction, role_ids: Iterable[int]) -> bool:
    wanted = set(role_ids)
    return bool(wanted) and bool(member_role_ids(interaction) & wanted)


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Messages (or Administrator) in this channel, or a moderator/admin role."""
    if interaction.guild_id is None:
        return False
    settings = _settings(interaction)
    if _has_role(interaction, [*settings.moderator_role_ids, *settings.admin_role_ids]):
        return True
    permissions = interaction.permissions
    return permissions.administrator or permissions.manage_messages


def is_admin(interaction: discord.Interaction) -> bool:
    """Administrator or Manage Server, or an admin role."""
    if interaction.guild_id is None:
        return False
    settings = _settings(interaction)
    if _has_role(interaction, settings.admin_role_ids):
        return True
    permissions = interaction.permissions
    return permissions.administrator or permissions.manage_guild


def _guild_check(allowed: Callable[[discord.Interaction], bool], refusal: str) -> Callable[[T], T]:
    """A runtime check: servers only, and only members that `allowed` admits."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if allowed(interaction):
            return True
        raise NotAllowed(refusal)

    return app_commands.check(predicate)


def moderator_only() -> Callable[[T], T]:
    """Runtime check paired with `default_permissions(manage_messages=True)`."""
    return _guild_check(is_moderator, "moderator permission or role required")


def admin_only() -> Callable[[T], T]:
    """Runtime check paired with `default_permissions(administrator=True)` and `guild_only`."""
    return _guild_check(is_admin, "administrator permission or role required")


class UserCooldowns:
    """One question per user per `per` seconds, shared by /ask and @mentions.

    Sharing one table means switching between the slash command and a mention does not get
    around the pause. Only allowed attempts start a new window, and an allowed attempt that was
    not served after all (every slot busy) is given back with `refund`: a member told to ask
    again in a moment must not then be refused for the whole window.
    """

    def __init__(self, per: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per = float(per)
        self._clock = clock
        self._last: dict[int, float] = {}
        self._before: dict[int, float | None] = {}  # each user's window before their latest hit, for `refund`

    def hit(self, user_id: int, per: float | None = None) -> float | None:
        """Record an attempt; return seconds left when the user must wait, else None.

        `per` overrides the default pause (a channel's /config cooldown).
        """
        per = self.per if per is None else float(per)
        if per <= 0:
            return None
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < per:
            return per - (now - last)
        self._before[user_id] = last
        self._last[user_id] = now
        if len(self._last) > 4096:  # forget users whose window has passed
            keep = max(per, self.per)
            self._last = {uid: at for uid, at in self._last.items() if now - at < keep}
            self._before = {uid: at for uid, at in self._before.items() if uid in self._last}
        return None

    def refund(self, user_id: int) -> None:
        """Undo the user's latest allowed attempt (it was answered "busy"): their window is as before it."""
        if user_id not in self._before:
            return
        before = self._before.pop(user_id)
        if before is None:
            self._last.pop(user_id, None)
        else:
            self._last[user_id] = before

    def reset(self, user_id: int | None = None) -> None:
        """Forget one user (or everyone)."""
        if user_id is None:
            self._last.clear()
            self._before.clear()
        else:
            self._last.pop(user_id, None)
            self._before.pop(user_id, None)


POLICY = "quotebot.policy"  # interaction.extras key: the channel's resolved /config policy


def policy_channel(channel: object, channel_id: int | None) -> int | None:
    """The channel whose /config applies: a thread's parent, else the channel itself."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return channel_id


def ask_cooldown() -> Callable[[T], T]:
    """Per-user cooldown through the bot's shared table, at the channel's /config cooldown
    (ASK_COOLDOWN_SECONDS where none is set). The resolved policy is kept in `interaction.extras`."""

    async def predicate(interaction: discord.Interaction) -> bool:
        client = interaction.client
        cooldowns: UserCooldowns = client.ask_cooldowns  # type: ignore[attr-defined]
        per = cooldowns.per
        policy_for = getattr(client, "policy_for", None)
        if policy_for is not None:
            found = await policy_for(interaction.guild_id, policy_channel(interaction.channel, interaction.channel_id))
            interaction.extras[POLICY] = found
            if not found.answer:
                return True  # the command says where to ask instead; no pause is started
            per = found.cooldown
        retry_after = cooldowns.hit(interaction.user.id, per)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, per), retry_after)
        return True

    return app_commands.check(predicate)
