"""The database on its own, on SQLite and PostgreSQL: migrations, votes, erasure, retention,
the /config store, statistics. (Through the Discord command tree: tests/test_discord_records.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import BigInteger, inspect, select, text

from bot.storage import records
from bot.storage.config_store import DatabaseConfigStore
from bot.storage.database import Database, open_database
from bot.storage.schema import metadata, questions
from bot.storage.stats import collect_stats

A, B = 600_000_000_000_000_001, 600_000_000_000_000_002
GUILD, CHANNEL, OTHER_CHANNEL = 800_000_000_000_000_001, 700_000_000_000_000_001, 700_000_000_000_000_009


def asked(member: int, text_: str = "Where were the talks?", *, answered: bool = True, channel: int = CHANNEL,
          at: datetime | None = None) -> records.AskedQuestion:
    return records.AskedQuestion(
        guild_id=GUILD, channel_id=channel, member_id=member, text=text_, language="en-US", answered=answered,
        reason=None if answered else "declined", best_dense=0.61, coverage=0.5,
        quotes=[records.QuotedSpan("000_a.txt", 10, 42, 0.8)] if answered else [], asked_at=at,
    )


# --- migrations ------------------------------------------------------------------------------------
def test_an_empty_database_upgrades_to_the_schema_the_code_uses(database_url: str) -> None:
    database = Database(database_url)
    assert database.revision() is None
    database.upgrade()
    assert database.revision() == "0002"
    inspector = inspect(database.engine)
    assert database.tables() == set(metadata.tables)
    for table in metadata.sorted_tables:
        on_disk = {column["name"] for column in inspector.get_columns(table.name)}
        assert on_disk == {column.name for column in table.columns}, table.name
    database.dispose()


def test_a_database_at_the_previous_revision_keeps_its_rows_through_the_upgrade(database_url: str) -> None:
    database = Database(database_url)
    database.upgrade("0001")
    assert database.tables() == {"questions", "quotes"}  # the first schema had no feedback
    with database.begin() as connection:  # rows as revision 0001 wrote them: no language column
        connection.execute(text(
            "INSERT INTO questions (guild_id, channel_id, member_id, asked_at, text, answered, reason, best_dense, coverage) "
            "VALUES (:g, :c, :m, :t, 'Who is Maliki?', :yes, NULL, 0.7, 0.6), (:g, :c, :m, :t, 'Banana bread?', :no, 'declined', 0.1, 0.0)"
        ), {"g": GUILD, "c": CHANNEL, "m": A, "t": datetime.now(timezone.utc), "yes": True, "no": False})
        first = connection.execute(text("SELECT id FROM questions WHERE text = 'Who is Maliki?'")).scalar_one()
        connection.execute(text('INSERT INTO quotes (question_id, rank, source, start, "end", score) VALUES (:q, 1, \'x.txt\', 3, 9, 0.8)'), {"q": first})
    database.upgrade()
    assert database.revision() == "0002"
    with database.begin() as connection:
        rows = connection.execute(select(questions.c.text, questions.c.answered, questions.c.language).order_by(questions.c.id)).all()
        assert rows == [("Who is Maliki?", True, None), ("Banana bread?", False, None)]
        assert connection.execute(text("SELECT source, start, \"end\" FROM quotes")).all() == [("x.txt", 3, 9)]
    assert records.vote(database, first, B, records.UP) == "new"  # the old rows take votes now
    database.dispose()


def test_opening_twice_is_harmless(database_url: str) -> None:
    open_database(database_url).dispose()
    database = open_database(database_url)
    assert database.revision() == "0002"
    database.dispose()


# --- votes -------------------------------------------------------------------------------------------
def test_one_vote_per_member_per_answer_and_it_can_change(database: Database) -> None:
    answer = records.record_question(database, asked(A))
    assert records.vote(database, answer, B, records.UP) == "new"
    assert records.vote(database, answer, B, records.UP) == "same"
    assert records.vote(database, answer, B, records.DOWN) == "changed"
    assert records.vote(database, answer, A, records.UP) == "new"
    assert records.votes_of(database, answer) == {B: records.DOWN, A: records.UP}
    with pytest.raises(records.UnknownAnswer):
        records.vote(database, answer + 1000, B, records.UP)


# --- erasure and retention ----------------------------------------------------------------------------
def _cells_holding(database: Database, value: int) -> list[str]:
    """Every (table.column) of a 64-bit column where some row holds `value`."""
    found = []
    with database.begin() as connection:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, BigInteger) and connection.execute(
                        select(column).where(column == value).limit(1)).first() is not None:
                    found.append(f"{table.name}.{column.name}")
    return found


def test_forgetting_a_member_leaves_no_row_with_their_id(database: Database) -> None:
    mine = records.record_question(database, asked(A))
    theirs = records.record_question(database, asked(B, "Who is Harris?"))
    records.vote(database, theirs, A, records.DOWN)
    records.vote(database, mine, B, records.UP)
    records.record_source_change(database, GUILD, A, "add", "new.txt")
    DatabaseConfigStore(database).put(GUILD, None, "language", "ar", A)
    assert _cells_holding(database, A)  # the scan finds the id before
    count = records.forget_member(database, A)
    assert count >= 6
    assert _cells_holding(database, A) == []
    assert records.rows_with_member(database, A) == dict.fromkeys(records.rows_with_member(database, A), 0)
    assert records.votes_of(database, theirs) == {}  # A's vote went with A
    with database.begin() as connection:  # B's question stays; the change stays, by nobody
        assert connection.execute(select(questions.c.member_id)).scalars().all() == [B]
    assert [(c.action, c.source, c.actor_id) for c in records.latest_source_changes(database)] == [("add", "new.txt", None)]
    assert DatabaseConfigStore(database).entries(GUILD) == [(None, "language", "ar")]


def test_purge_deletes_only_what_is_older_than_the_retention(database: Database) -> None:
    now = datetime.now(timezone.utc)
    old = records.record_question(database, asked(A, "old", at=now - timedelta(days=31)))
    records.vote(database, old, B, records.DOWN)
    records.record_question(database, asked(A, "recent", at=now - timedelta(days=29)))
    assert records.purge_older_than(database, 0) == 0  # 0 keeps everything
    assert records.purge_older_than(database, 30) == 3  # the question, its quote, its vote
    with database.begin() as connection:
        assert connection.execute(select(questions.c.text)).scalars().all() == ["recent"]


# --- the /config store ----------------------------------------------------------------------------------
def test_config_store_sets_clears_and_records_who_changed_what(database: Database) -> None:
    store = DatabaseConfigStore(database)
    store.put(GUILD, None, "language", "en", A)
    store.put(GUILD, CHANNEL, "private", "true", A)
    store.put(GUILD, None, "language", "ar", B)
    store.put(GUILD + 1, None, "language", "fa", B)
    assert store.entries(GUILD) == [(None, "language", "ar"), (CHANNEL, "private", "true")]
    store.put(GUILD, CHANNEL, "private", None, B)
    store.put(GUILD, CHANNEL, "never-set", None, B)  # clearing what is not set is harmless
    assert store.entries(GUILD) == [(None, "language", "ar")]
    history = [(c.channel_id, c.key, c.old_value, c.new_value, c.actor_id) for c in store.history(GUILD)]
    assert history == [
        (CHANNEL, "never-set", None, None, B),
        (CHANNEL, "private", "true", None, B),
        (None, "language", "en", "ar", B),
        (CHANNEL, "private", None, "true", A),
        (None, "language", None, "en", A),
    ]
    assert all(change.changed_at is not None for change in store.history(GUILD))


# --- statistics -------------------------------------------------------------------------------------------
def test_stats_count_what_was_recorded(database: Database) -> None:
    now = datetime.now(timezone.utc).replace(hour=12)
    yesterday = now - timedelta(days=1)
    a1 = records.record_question(database, asked(A, at=now))
    records.record_question(database, asked(A, "Banana bread?", answered=False, at=now))
    records.record_question(database, asked(B, "x", answered=False, channel=OTHER_CHANNEL, at=yesterday))
    records.record_question(database, asked(B, "too old", at=now - timedelta(days=20)))
    records.vote(database, a1, A, records.UP)
    records.vote(database, a1, B, records.DOWN)
    records.vote(database, a1, B + 1, records.DOWN)
    stats = collect_stats(database, GUILD, 7, at=now)
    assert (stats.asked, stats.answered, stats.declined) == (3, 1, 2)
    assert (stats.thumbs_up, stats.thumbs_down) == (1, 2)
    assert stats.channels == ((CHANNEL, 2), (OTHER_CHANNEL, 1))
    assert len(stats.per_day) == 7
    assert [(row.day, row.asked, row.answered, row.declined) for row in stats.per_day[-2:]] == [
        (yesterday.date(), 1, 0, 1), (now.date(), 2, 1, 1)]
    assert collect_stats(database, GUILD + 1, 7, at=now).asked == 0
