"""The /config store on the database: per-server and per-channel settings, with their history.

The interface is the one the /config command calls (synchronously, from a worker thread):
`entries(guild_id)` and `put(guild_id, channel_id, key, value, actor_id)`. Every change, a
clear included, is written to `config_changes` with who made it and when, in the same
transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, select

from .database import Database
from .records import now, upsert
from .schema import config_changes, config_entries

SERVER_WIDE = 0  # channel_id stored for a server-wide entry (part of the primary key, so not NULL)


@dataclass(frozen=True, slots=True)
class ConfigChange:
    channel_id: int | None
    key: str
    old_value: str | None
    new_value: str | None
    actor_id: int | None
    changed_at: datetime


class DatabaseConfigStore:
    """/config entries in the bot's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def entries(self, guild_id: int) -> list[tuple[int | None, str, str]]:
        """(channel_id or None for server-wide, key, value) of one server, server-wide first."""
        with self.database.begin() as connection:
            rows = connection.execute(
                select(config_entries.c.channel_id, config_entries.c.key, config_entries.c.value)
                .where(config_entries.c.guild_id == guild_id)
                .order_by(config_entries.c.channel_id, config_entries.c.key)
            )
            return [(None if channel == SERVER_WIDE else int(channel), key, value) for channel, key, value in rows]

    def put(self, guild_id: int, channel_id: int | None, key: str, value: str | None, actor_id: int) -> None:
        """Set (or, with None, clear) one entry, and record the change."""
        stored_channel = SERVER_WIDE if channel_id is None else channel_id
        where = and_(config_entries.c.guild_id == guild_id, config_entries.c.channel_id == stored_channel,
                     config_entries.c.key == key)
        at = now()
        with self.database.begin() as connection:
            old = connection.execute(select(config_entries.c.value).where(where)).scalar_one_or_none()
            if value is None:
                connection.execute(delete(config_entries).where(where))
            else:
                statement = upsert(self.database, config_entries).values(
                    guild_id=guild_id, channel_id=stored_channel, key=key, value=value,
                    updated_by=actor_id, updated_at=at)
                connection.execute(statement.on_conflict_do_update(
                    index_elements=["guild_id", "channel_id", "key"],
                    set_={"value": statement.excluded.value, "updated_by": statement.excluded.updated_by,
                          "updated_at": statement.excluded.updated_at},
                ))
            connection.execute(insert(config_changes).values(
                guild_id=guild_id, channel_id=channel_id, key=key, old_value=old, new_value=value,
                actor_id=actor_id, changed_at=at))

    def history(self, guild_id: int, limit: int = 20) -> list[ConfigChange]:
        """The newest changes first: who changed what, and when."""
        with self.database.begin() as connection:
            rows = connection.execute(
                select(config_changes.c.channel_id, config_changes.c.key, config_changes.c.old_value,
                       config_changes.c.new_value, config_changes.c.actor_id, config_changes.c.changed_at)
                .where(config_changes.c.guild_id == guild_id)
                .order_by(config_changes.c.id.desc()).limit(limit)
            )
            return [ConfigChange(*row) for row in rows]
