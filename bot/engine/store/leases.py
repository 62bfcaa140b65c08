"""Which builds serving processes still answer from: one small lease file per process, honoured by cleanup.

Why: several processes may share one INDEX_DIR (two bots, or a bot and `python -m bot index`). When
one publishes a new build, another may still be answering from, or still loading, the build CURRENT
named a moment ago; the publisher's cleanup must not delete that folder under it. Each serving
process writes `leases/PID-TOKEN.json` naming the builds it holds; cleanup keeps every build a live
process names. A lease whose process is gone (killed, crashed) is ignored and removed, so a dead
bot never pins a build. Process ids are those of this machine: the folder is not for NFS sharing.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
from pathlib import Path

from .layout import LEASES


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Lease:
    """This process's claim on the builds it serves; `hold` replaces the claim atomically."""

    def __init__(self, index_dir: Path) -> None:
        self.folder = index_dir / LEASES
        self.path = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}.json"
        self.builds: frozenset[str] = frozenset()
        atexit.register(self.release)

    def hold(self, *builds: str) -> None:
        wanted = frozenset(builds)
        if wanted == self.builds and self.path.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{self.path.name}.{secrets.token_hex(4)}"
        temporary.write_text(json.dumps({"pid": os.getpid(), "builds": sorted(wanted)}), encoding="utf-8")
        os.replace(temporary, self.path)
        self.builds = wanted

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        self.builds = frozenset()


def leased_builds(index_dir: Path) -> set[str]:
    """Builds some live process holds; leases of dead processes (and unreadable ones) are removed."""
    folder = index_dir / LEASES
    if not folder.is_dir():
        return set()
    held: set[str] = set()
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue  # a lease being written; its writer replaces it in a moment
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pid, builds = int(data["pid"]), [str(name) for name in data["builds"]]
        except FileNotFoundError:
            continue
        except (ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if _alive(pid):
            held.update(builds)
        else:
            path.unlink(missing_ok=True)
    return held
