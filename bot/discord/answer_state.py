"""What the buttons under an answer need after a restart: the question behind a short key, and
each thread's earlier questions.

A custom id holds at most 100 characters, too few for a question with its thread context and
article, so a button carries a 12-hex-digit key (a hash of what was asked) and this store maps
the key back. It is a bounded JSON file (`answers.json` in STATE_DIR), written atomically after
each new question, so a message sent before a restart still answers its buttons after it. The
oldest keys and threads are forgotten first; a button whose key is gone gets a short notice.
Synchronous, like the /config store: the cogs call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..config_store import atomic_write_json, read_json

KEY_LENGTH = 12
MAX_REQUESTS = 2000
MAX_THREADS = 1000
QUESTIONS_PER_THREAD = 10


@dataclass(frozen=True, slots=True)
class AskRequest:
    """Everything that decides an answer's ranking: the question, its thread context, its article."""

    question: str
    context: tuple[str, ...] = ()
    article: str | None = None

    @property
    def key(self) -> str:
        raw = json.dumps([self.question, list(self.context), self.article], ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:KEY_LENGTH]


class AnswerState:
    """key -> AskRequest and thread id -> its questions, kept in one JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        data = (read_json(path, "answer state") if path is not None else None) or {}
        self._requests: OrderedDict[str, AskRequest] = OrderedDict(
            (key, AskRequest(row[0], tuple(row[1]), row[2])) for key, row in (data.get("requests") or {}).items()
        )
        self._threads: OrderedDict[str, list[str]] = OrderedDict(
            (key, list(questions)) for key, questions in (data.get("threads") or {}).items()
        )

    def remember(self, request: AskRequest) -> str:
        """Store `request` (idempotent) and return its key."""
        key = request.key
        with self._lock:
            if key in self._requests:
                self._requests.move_to_end(key)
                return key
            self._requests[key] = request
            while len(self._requests) > MAX_REQUESTS:
                self._requests.popitem(last=False)
            self._save()
        return key

    def recall(self, key: str) -> AskRequest | None:
        with self._lock:
            return self._requests.get(key)

    def thread_questions(self, thread_id: int) -> tuple[str, ...]:
        """The questions asked in a thread the bot answers in, oldest first (empty if unknown)."""
        with self._lock:
            return tuple(self._threads.get(str(thread_id), ()))

    def add_to_thread(self, thread_id: int, question: str) -> None:
        with self._lock:
            questions = self._threads.pop(str(thread_id), [])
            questions = [*questions, question][-QUESTIONS_PER_THREAD:]
            self._threads[str(thread_id)] = questions
            while len(self._threads) > MAX_THREADS:
                self._threads.popitem(last=False)
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        atomic_write_json(self.path, {
            "format": 1,
            "requests": {key: [r.question, list(r.context), r.article] for key, r in self._requests.items()},
            "threads": dict(self._threads),
        }, compact=True)
