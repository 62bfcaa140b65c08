"""A least-recently-used cache bounded by entries and by bytes, owned by the object it serves.

Why not `functools.lru_cache` on a method: stored on the instance it makes a reference cycle
(instance -> cache -> bound method -> instance), and once the running bot has frozen its heap
(`gc.freeze`) nothing collects that cycle: every index a rebuild replaced stayed in memory with
all its decoded texts. This cache holds no reference to its owner, so an index dies with its last
reference. A count alone does not bound memory (4,096 decoded articles of 5 MB each is 20 GB), so
each entry's size counts too.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def object_bytes(value: object) -> int:
    """Rough memory of a value: its own size (a str's characters included), not what it points to."""
    return sys.getsizeof(value)


class BoundedCache(Generic[K, V]):
    """key -> value, keeping at most `max_items` entries and `max_bytes` of them (an entry larger than
    `max_bytes` is returned but not kept). Safe to share between the threads that answer questions."""

    def __init__(self, max_items: int, max_bytes: int, size: Callable[[V], int] = object_bytes) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size = size
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def peek(self, key: K) -> V | None:
        """The cached value for `key` (now the most recently used), or None. No closure to build:
        this sits on every passage a question reads."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V) -> V:
        """Keep `value` if it fits (evicting the least recently used), and return it."""
        size = self._size(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (value, size)
                self._bytes += size
                while len(self._entries) > self.max_items or self._bytes > self.max_bytes:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._bytes -= dropped
        return value

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The cached value for `key`, or `make()`'s, kept if it fits."""
        found = self.peek(key)
        return found if found is not None else self.put(key, make())

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
