"""Following CURRENT: a serving process picks up a build another process published, without a restart.

Why a thread that stats one file: several processes may share an INDEX_DIR (two bots, or a bot and
`python -m bot index`). Publishing is one atomic replace of CURRENT (`store.publishing`), so a
`stat` of CURRENT once a second is enough to notice a new build, costs nothing on the question
path, and never sees a half-written build: CURRENT only ever names a build whose every byte is on
disk. The new build is loaded and verified in this thread, off the event loop and off the
question path, then swapped in whole (`Engine.adopt`), so a question is answered entirely from
the old build or entirely from the new. Meanwhile this process's lease (`store.leases`) names
both builds, so another process's cleanup never deletes one it still serves or is loading.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from .store import loading
from .store.layout import CURRENT
from .store.leases import Lease
from .store.loading import IndexUnavailable, LoadedIndex

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_SECONDS = 1.0


class Follower:
    """Polls CURRENT and hands each newly published build with the expected params to `adopt`."""

    def __init__(self, index_dir: Path, params: dict, current: Callable[[], LoadedIndex],
                 adopt: Callable[[LoadedIndex], bool], interval: float = FOLLOW_INTERVAL_SECONDS,
                 rebuilding: Callable[[], bool] = lambda: False) -> None:
        self.index_dir = index_dir
        self.params = params
        self.current = current
        self.adopt = adopt
        self.interval = interval
        self.rebuilding = rebuilding  # this process's own rebuild publishes, then swaps itself: nothing to load
        self.lease = Lease(index_dir)
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of CURRENT last looked at
        self._refused: str | None = None  # a build already found unusable: not reloaded every second
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.lease.hold(self.current().path.name)
        self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.lease.release()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the follower die: the next tick tries again
                log.exception("could not check for a newly published index")

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.index_dir / CURRENT)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def check(self) -> bool:
        """One poll; True when a newly published build was swapped in."""
        live = self.current().path.name
        signature = self._signature()
        if signature == self._seen:
            self.lease.hold(live)  # our own /reindex may have moved the live build
            return False
        try:
            found = loading.current_build(self.index_dir)
        except IndexUnavailable as error:
            log.warning("the published index pointer is unusable (%s); still answering from %s", error, live)
            self._seen = signature
            return False
        if found is None or found[0].name in (live, self._refused):
            self._seen = signature
            self.lease.hold(live)
            return False
        published = found[0].name
        if self.rebuilding():
            return False  # most likely our own build, swapped in a moment; looked at again next tick
        self.lease.hold(live, published)  # pinned before it is read: no cleanup can take it mid-load
        if loading.current_build(self.index_dir) != found:
            return False  # moved on again already; the next tick looks at the newer one
        try:
            index = loading.load(self.index_dir)
        except IndexUnavailable as error:
            log.warning("a newly published index cannot be loaded (%s); still answering from %s", error, live)
            self._refused = published
            self.lease.hold(live)
            return False
        if index.path.name != published:
            return False  # replaced while loading: the next tick takes the newer one
        if index.params != self.params:
            log.warning("build %s was published with other settings (%s); still answering from %s",
                        published, index.params, live)
            self._refused = published
            self.lease.hold(live)
            return False
        if not self.adopt(index):
            return False  # this process is rebuilding itself; its own build will be swapped in
        self._seen = signature
        self.lease.hold(published)
        log.info("answering from build %s, published by another process (was %s)", published, live)
        return True
