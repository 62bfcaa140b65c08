"""Where /config values live today: one JSON file, written atomically.

The interface is what the database store (issue 15) will offer too, synchronous and called from a
worker thread (`asyncio.to_thread`):

    entries(guild_id) -> [(channel_id or None, key, value), ...]
    put(guild_id, channel_id, key, value or None to clear, actor_id) -> None

Every write goes to a temporary file beside the real one, is fsynced, and replaces it with one
rename, so a crash mid-write leaves the previous file whole. A file that cannot be read is moved
aside (never deleted) and the store starts empty, logging why.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

FORMAT = 1


class ConfigStore(Protocol):
    """What the bot needs of a /config store."""

    def entries(self, guild_id: int) -> list[tuple[int | None, str, str]]: ...

    def put(self, guild_id: int, channel_id: int | None, key: str, value: str | None, actor_id: int) -> None: ...


def atomic_write_json(path: Path, data: object, *, compact: bool = False) -> None:
    """Write `data` as JSON to `path`: temp file in the same folder, fsync, rename, fsync the folder.

    `compact` skips indentation: the C encoder then does the work (a large file, written often).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            if compact:
                file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            else:
                json.dump(data, file, ensure_ascii=False, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


def read_json(path: Path, what: str) -> dict | None:
    """The file's JSON object, None when absent; an unreadable file is moved aside, never lost."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        log.error("%s %s cannot be read (%s); kept as %s, starting empty", what, path, error, aside)
        try:
            os.replace(path, aside)
        except OSError:
            pass
        return None


class JsonConfigStore:
    """Per-server entries in one JSON file: {"format": 1, "guilds": {"<id>": [[channel|null, key, value, actor, at]]}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        data = read_json(path, "server configuration") or {}
        self._guilds: dict[str, list[list]] = {
            str(guild): [list(row) for row in rows] for guild, rows in (data.get("guilds") or {}).items()
        }

    def entries(self, guild_id: int) -> list[tuple[int | None, str, str]]:
        with self._lock:
            rows = self._guilds.get(str(guild_id), [])
            return [(None if row[0] is None else int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def put(self, guild_id: int, channel_id: int | None, key: str, value: str | None, actor_id: int) -> None:
        with self._lock:
            rows = [row for row in self._guilds.get(str(guild_id), [])
                    if not (row[0] == channel_id and row[1] == key)]
            if value is not None:
                rows.append([channel_id, key, value, actor_id, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())])
            guilds = {**self._guilds, str(guild_id): rows}
            if not rows:
                guilds.pop(str(guild_id))
            atomic_write_json(self.path, {"format": FORMAT, "guilds": guilds})
            self._guilds = guilds  # only once the file holds it
