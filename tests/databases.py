"""Database fixtures: every storage test runs on SQLite and on a real PostgreSQL.

PostgreSQL: TEST_DATABASE_URL if set (a postgresql:// URL whose user may create databases);
otherwise a throwaway server started here from `initdb`/`pg_ctl` (on PATH, /usr/local/bin or
Debian's /usr/lib/postgresql/*/bin; `.ci/run` installs them when missing) on 127.0.0.1, a free
port and a temporary data folder, run as the `postgres` user when the tests run as root (initdb
refuses root). Without either, the PostgreSQL half is skipped with the reason. Each test gets
a database of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKENDS = ["sqlite", "postgresql"]


def _find(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    for candidate in [f"/usr/local/bin/{program}", *sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), reverse=True)]:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _find("initdb"), _find("pg_ctl")
        self.folder: Path | None = None
        self.prefix: list[str] = []
        self.url: str | None = None
        self.reason = ""

    def start(self) -> None:
        if os.environ.get("TEST_DATABASE_URL"):
            self.url = os.environ["TEST_DATABASE_URL"].rstrip("/")
            self.url = self.url.rsplit("/", 1)[0] if self.url.count("/") > 2 else self.url
            self.url = "postgresql+psycopg://" + self.url.split("://", 1)[1]
            return
        if not (self.initdb and self.pg_ctl):
            self.reason = "PostgreSQL not installed (no initdb/pg_ctl; .ci/run installs it) and TEST_DATABASE_URL unset"
            return
        self.folder = Path(tempfile.mkdtemp(prefix="quotebot-pg-"))
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.folder, user=user)
            self.prefix = ["runuser", "-u", user, "--"]
        data, port = self.folder / "data", _free_port()
        run = lambda *args: subprocess.run([*self.prefix, *args], check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
        try:
            run(self.initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
            run(self.pg_ctl, "-D", str(data), "-l", str(self.folder / "log"), "-w", "-o",
                f"-h 127.0.0.1 -p {port} -k {self.folder} -F", "start")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            output = getattr(error, "stderr", "") or ""
            self.reason = f"could not start a throwaway PostgreSQL: {error} {output.strip()[-300:]}"
            return
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"

    def stop(self) -> None:
        if self.folder is None:
            return
        if self.url:
            subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_Server]:
    server = _Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _admin(server_url: str, sql: str) -> None:
    import psycopg

    dsn = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    server: _Server = request.getfixturevalue("postgres_server")
    if server.url is None:
        pytest.skip(server.reason)
    name = "t_" + uuid.uuid4().hex[:12]
    _admin(server.url, f'CREATE DATABASE "{name}"')
    yield f"{server.url}/{name}"
    _admin(server.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(database_url: str) -> Iterator["object"]:
    """A database migrated to the newest schema."""
    from bot.storage.database import open_database

    opened = open_database(database_url)
    try:
        yield opened
    finally:
        opened.dispose()
