"""Opening the database and bringing its schema up to date (Alembic, run programmatically).

Why programmatic: the bot is one process that must start on a fresh machine with nothing but
its settings, so `open_database` applies every pending migration itself before anything is
read or written; no `alembic.ini` or command line is involved. The migration scripts live in
this package (`migrations/`), so they ship with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "head"


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated; the message says which and why (no password)."""


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite leaves them off), WAL so readers never wait for the writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One SQLAlchemy engine and the schema revision it is at."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise DatabaseError(f"DATABASE_URL is not a database URL: {error}") from None
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(parsed, pool_pre_ping=not self.is_sqlite, future=True)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def __repr__(self) -> str:  # never the password
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success and rolled back on error."""
        with self.engine.begin() as connection:
            yield connection

    def upgrade(self, revision: str = HEAD) -> None:
        """Apply every migration up to `revision` (the newest by default)."""
        from alembic import command

        try:
            with self.engine.begin() as connection:
                command.upgrade(_alembic_config(connection), revision)
        except OperationalError as error:
            where = self.url.render_as_string(hide_password=True)
            raise DatabaseError(f"could not open or migrate the database {where}: {error.orig}") from None

    def revision(self) -> str | None:
        """The schema revision the database is at (None: empty)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names()) - {"alembic_version"}

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Open the database at `url` and migrate it to the newest schema."""
    database = Database(url)
    database.upgrade()
    log.info("database %r at revision %s", database, database.revision())
    return database
