"""The engine every front end calls: it owns the loaded index, answers, and rebuilds.

Plain synchronous Python. The Discord layer calls it through `asyncio.to_thread`. A rebuild
happens off to the side and is swapped in with one reference assignment, so questions asked
during a rebuild are answered from the old index.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings
from .models import Answer, ReindexReport, SourcesReport

# progress(stage, done, total): stage is "reading", "embedding" or "writing".
Progress = Callable[[str, int, int], None]


class ReindexInProgress(RuntimeError):
    """A rebuild is already running; a second one is refused rather than queued."""


class Engine:
    """Interface placeholder; the implementation lands with the store and retriever."""

    @classmethod
    def open(cls, settings: Settings, *, progress: Progress | None = None) -> "Engine":
        """Load the index (building it first when missing or stale) and return a ready engine."""
        raise NotImplementedError

    def ask(self, question: str, *, k: int | None = None, abstain: bool = True) -> Answer:
        """Answer one question with quotes, or decline."""
        raise NotImplementedError

    def sources(self) -> SourcesReport:
        """What the index holds, without rebuilding."""
        raise NotImplementedError

    @property
    def reindexing(self) -> bool:
        raise NotImplementedError

    def reindex(self, progress: Progress | None = None) -> ReindexReport:
        """Rebuild from the seeds folder, swap atomically; raises ReindexInProgress if one runs."""
        raise NotImplementedError
