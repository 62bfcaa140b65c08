"""/stats numbers: questions per day, answered and declined shares, votes, busiest channels.

Counted by the database from the recorded rows, so the chart and the numbers beside it come from
one query result and always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from .database import Database
from .records import DOWN, UP, as_utc, now
from .schema import feedback, questions


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    asked: int
    answered: int
    declined: int


@dataclass(frozen=True, slots=True)
class Stats:
    days: int
    since: datetime
    per_day: tuple[DayCount, ...]  # every day of the window, oldest first, zeros included
    asked: int
    answered: int
    declined: int
    thumbs_up: int
    thumbs_down: int
    channels: tuple[tuple[int, int], ...]  # (channel id, questions), busiest first

    def share(self, part: int) -> float:
        return part / self.asked if self.asked else 0.0


def collect_stats(database: Database, guild_id: int | None, days: int, *, at: datetime | None = None,
                  top_channels: int = 5) -> Stats:
    """The last `days` days (today included) of one server (or of every server, guild_id None)."""
    end = at or now()
    first_day = end.date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=end.tzinfo)
    scope = [questions.c.asked_at >= since, questions.c.asked_at <= end]
    if guild_id is not None:
        scope.append(questions.c.guild_id == guild_id)
    declined = case((questions.c.answered.is_(False) & (questions.c.reason == "declined"), 1), else_=0)
    answered = case((questions.c.answered.is_(True), 1), else_=0)
    with database.begin() as connection:
        times = connection.execute(select(questions.c.asked_at, answered, declined).where(*scope)).all()
        votes = dict(connection.execute(
            select(feedback.c.vote, func.count()).join(questions, questions.c.id == feedback.c.question_id)
            .where(*scope).group_by(feedback.c.vote)).all())
        channels = connection.execute(
            select(questions.c.channel_id, func.count().label("n")).where(*scope, questions.c.channel_id.is_not(None))
            .group_by(questions.c.channel_id).order_by(func.count().desc(), questions.c.channel_id).limit(top_channels)
        ).all()
    per_day = {first_day + timedelta(days=offset): [0, 0, 0] for offset in range(days)}
    for asked_at, was_answered, was_declined in times:
        counts = per_day.setdefault(as_utc(asked_at).date(), [0, 0, 0])
        counts[0] += 1
        counts[1] += was_answered
        counts[2] += was_declined
    rows = tuple(DayCount(day, *counts) for day, counts in sorted(per_day.items()))
    return Stats(
        days=days, since=since, per_day=rows, asked=sum(r.asked for r in rows),
        answered=sum(r.answered for r in rows), declined=sum(r.declined for r in rows),
        thumbs_up=int(votes.get(UP, 0)), thumbs_down=int(votes.get(DOWN, 0)),
        channels=tuple((int(channel), int(count)) for channel, count in channels),
    )
