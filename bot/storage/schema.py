"""The tables, as the latest migration leaves them (queries are written against these).

Member, guild and channel ids are Discord snowflakes (64-bit), so BigInteger. Times are UTC.
The migrations in `migrations/versions/` are the source of truth for the schema on disk; a test
checks that upgrading to head gives exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, SmallInteger, String,
    Table, Text, UniqueConstraint,
)

metadata = MetaData()

questions = Table(
    "questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", BigInteger, nullable=True),  # None: a DM
    Column("channel_id", BigInteger, nullable=True),
    Column("member_id", BigInteger, nullable=False, index=True),
    Column("asked_at", DateTime(timezone=True), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("language", String(16), nullable=True),  # the member's Discord locale
    Column("answered", Boolean, nullable=False),
    Column("reason", String(32), nullable=True),  # declined | empty | no-index, when not answered
    Column("best_dense", Float, nullable=True),
    Column("coverage", Float, nullable=True),
)

quotes = Table(
    "quotes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question_id", Integer, ForeignKey("questions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("rank", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("score", Float, nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question_id", Integer, ForeignKey("questions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("member_id", BigInteger, nullable=False, index=True),
    Column("vote", SmallInteger, nullable=False),  # +1 or -1
    Column("voted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("question_id", "member_id", name="uq_feedback_one_vote"),
)

source_changes = Table(
    "source_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", BigInteger, nullable=True),
    Column("actor_id", BigInteger, nullable=True, index=True),  # None after the actor ran /forget-me
    Column("action", String(16), nullable=False),  # add | remove | restore
    Column("source", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, index=True),
)

config_entries = Table(
    "config_entries", metadata,
    Column("guild_id", BigInteger, primary_key=True),
    Column("channel_id", BigInteger, primary_key=True),  # 0: server-wide (a key column cannot be NULL)
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_by", BigInteger, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

config_changes = Table(
    "config_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", BigInteger, nullable=False, index=True),
    Column("channel_id", BigInteger, nullable=True),
    Column("key", String(64), nullable=False),
    Column("old_value", Text, nullable=True),
    Column("new_value", Text, nullable=True),  # None: cleared
    Column("actor_id", BigInteger, nullable=True, index=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
