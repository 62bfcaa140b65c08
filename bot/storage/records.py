"""Writing and reading what the bot records: questions, quotes, votes, article changes; erasing them.

Plain functions over a `Database`, each one short transaction, called from a worker thread.
What a question row holds is documented in the README ("What is recorded"); nothing else about a
member is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .database import Database
from .schema import config_changes, config_entries, feedback, questions, quotes, source_changes

UP, DOWN = 1, -1


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class QuotedSpan:
    """One quote cited in an answer: where it is (source, offsets) and its score."""

    source: str
    start: int
    end: int
    score: float


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """Everything recorded about one question, as the Discord layer hands it over."""

    guild_id: int | None
    channel_id: int | None
    member_id: int
    text: str
    language: str | None
    answered: bool
    reason: str | None
    best_dense: float | None
    coverage: float | None
    quotes: Sequence[QuotedSpan] = ()
    asked_at: datetime | None = None


def record_question(database: Database, asked: AskedQuestion) -> int:
    """Store a question with its outcome and quotes; returns its id (the answer's record id)."""
    with database.begin() as connection:
        question_id = connection.execute(
            insert(questions).values(
                guild_id=asked.guild_id, channel_id=asked.channel_id, member_id=asked.member_id,
                asked_at=asked.asked_at or now(), text=asked.text, language=asked.language,
                answered=asked.answered, reason=asked.reason, best_dense=asked.best_dense,
                coverage=asked.coverage,
            ).returning(questions.c.id)
        ).scalar_one()
        if asked.quotes:
            connection.execute(insert(quotes), [
                {"question_id": question_id, "rank": rank, "source": span.source, "start": span.start,
                 "end": span.end, "score": float(span.score)}
                for rank, span in enumerate(asked.quotes, start=1)
            ])
    return int(question_id)


class UnknownAnswer(LookupError):
    """The answer a vote names is not recorded (purged, or erased by /forget-me)."""


def vote(database: Database, question_id: int, member_id: int, value: int) -> str:
    """Record one member's vote on one answer: 'new', 'changed' or 'same'. One vote per member."""
    if value not in (UP, DOWN):
        raise ValueError(f"a vote is {UP} or {DOWN}, not {value!r}")
    with database.begin() as connection:
        if connection.execute(select(questions.c.id).where(questions.c.id == question_id)).first() is None:
            raise UnknownAnswer(question_id)
        where = and_(feedback.c.question_id == question_id, feedback.c.member_id == member_id)
        previous = connection.execute(select(feedback.c.vote).where(where)).scalar_one_or_none()
        if previous == value:
            return "same"
        # An upsert, so two clicks racing each other still leave one row per member and answer.
        statement = upsert(database, feedback).values(
            question_id=question_id, member_id=member_id, vote=value, voted_at=now())
        connection.execute(statement.on_conflict_do_update(
            index_elements=["question_id", "member_id"],
            set_={"vote": statement.excluded.vote, "voted_at": statement.excluded.voted_at},
        ))
        return "new" if previous is None else "changed"


def upsert(database: Database, table: Table) -> Any:
    """The dialect's INSERT that can say ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    if database.is_sqlite:
        return sqlite_insert(table)
    return postgresql_insert(table)


def votes_of(database: Database, question_id: int) -> dict[int, int]:
    """member id -> vote, for one answer."""
    with database.begin() as connection:
        rows = connection.execute(select(feedback.c.member_id, feedback.c.vote).where(feedback.c.question_id == question_id))
        return {int(member): int(value) for member, value in rows}


def record_source_change(database: Database, guild_id: int | None, actor_id: int, action: str, source: str) -> None:
    """Note that `actor_id` added, removed or restored the article `source`."""
    with database.begin() as connection:
        connection.execute(insert(source_changes).values(
            guild_id=guild_id, actor_id=actor_id, action=action, source=source, changed_at=now()))


@dataclass(frozen=True, slots=True)
class SourceChange:
    action: str
    source: str
    actor_id: int | None
    changed_at: datetime


def latest_source_changes(database: Database, limit: int = 5) -> list[SourceChange]:
    """The newest article changes first."""
    with database.begin() as connection:
        rows = connection.execute(
            select(source_changes.c.action, source_changes.c.source, source_changes.c.actor_id, source_changes.c.changed_at)
            .order_by(source_changes.c.changed_at.desc(), source_changes.c.id.desc()).limit(limit)
        )
        return [SourceChange(action, source, actor, as_utc(at)) for action, source, actor, at in rows]


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def forget_member(database: Database, member_id: int) -> int:
    """Erase every record of `member_id`: their questions (with quotes and votes on them), their
    votes, and their id on article and /config changes (the change itself stays, by nobody).
    Returns how many rows were deleted or cleared."""
    with database.begin() as connection:
        mine = select(questions.c.id).where(questions.c.member_id == member_id)
        count = connection.execute(delete(feedback).where(or_(feedback.c.member_id == member_id,
                                                              feedback.c.question_id.in_(mine)))).rowcount
        count += connection.execute(delete(quotes).where(quotes.c.question_id.in_(mine))).rowcount
        count += connection.execute(delete(questions).where(questions.c.member_id == member_id)).rowcount
        count += connection.execute(update(source_changes).where(source_changes.c.actor_id == member_id)
                                    .values(actor_id=None)).rowcount
        count += connection.execute(update(config_changes).where(config_changes.c.actor_id == member_id)
                                    .values(actor_id=None)).rowcount
        count += connection.execute(update(config_entries).where(config_entries.c.updated_by == member_id)
                                    .values(updated_by=None)).rowcount
    return count


def purge_older_than(database: Database, days: int, *, at: datetime | None = None) -> int:
    """Delete questions (with their quotes and votes) asked more than `days` ago; 0 keeps all."""
    if days <= 0:
        return 0
    cutoff = (at or now()) - timedelta(days=days)
    with database.begin() as connection:
        old = select(questions.c.id).where(questions.c.asked_at < cutoff)
        count = connection.execute(delete(feedback).where(feedback.c.question_id.in_(old))).rowcount
        count += connection.execute(delete(quotes).where(quotes.c.question_id.in_(old))).rowcount
        count += connection.execute(delete(questions).where(questions.c.asked_at < cutoff)).rowcount
    return count


def rows_with_member(database: Database, member_id: int) -> dict[str, int]:
    """How many rows of each table still carry `member_id` (for /forget-me's own check and tests)."""
    checks = {
        "questions": questions.c.member_id, "feedback": feedback.c.member_id,
        "source_changes": source_changes.c.actor_id, "config_changes": config_changes.c.actor_id,
        "config_entries": config_entries.c.updated_by,
    }
    with database.begin() as connection:
        return {name: int(connection.execute(select(func.count()).where(column == member_id)).scalar_one())
                for name, column in checks.items()}
