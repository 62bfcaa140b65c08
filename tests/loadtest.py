"""Many questions at once through the bot's own dispatch path: latency, event-loop stalls, outcomes.

Why this exists: the engine is synchronous and CPU bound, the bot answers from an asyncio loop
that also has to keep the gateway heartbeat alive, and a burst of questions must end in one
reply each (quotes, or a polite "busy") without blocking that loop. This module measures exactly
that, and nothing about *how* an interaction is delivered: the caller passes `dispatch_one`, a
coroutine that feeds question number `i` to a bot and returns every message the bot sent for it,
each with the loop time it was sent. The tests supply one built on their fake HTTP layer
(tests/discord_harness.py).

Arrivals are spread one per event-loop iteration, as the gateway delivers them (each
INTERACTION_CREATE is its own websocket read), not parsed all in one synchronous burst.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import messages

OUTCOMES = ("answered", "declined", "busy", "cooldown", "error", "other", "missing")

_COOLDOWN = re.compile(re.escape(messages.COOLDOWN).replace(re.escape("{seconds}"), r"\d+"))
_ERROR = re.compile(re.escape(messages.ERROR).replace(re.escape("{error_id}"), r"[0-9a-f]+"))
_DECLINES = frozenset({messages.DECLINE, messages.EMPTY_QUESTION, messages.NO_INDEX})


@dataclass(frozen=True, slots=True)
class Sent:
    """One message body the bot sent for an interaction, and when (event-loop time, seconds)."""

    at: float
    body: Mapping[str, Any]


DispatchOne = Callable[[int], Awaitable[Sequence[Sent]]]


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What `count` concurrent questions did: latencies in milliseconds and outcome counts."""

    count: int
    answered: int
    declined: int
    busy: int
    cooldown: int
    error: int
    other: int  # a final message that is none of the known replies
    missing: int  # no message at all
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_gap_ms: float  # longest time between wake-ups of a heartbeat sleeping 10 ms (10 = never blocked)
    max_gc_ms: float  # longest garbage collection meanwhile: it holds the GIL, so it stalls the loop too
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.count} questions in {self.seconds:.1f} s: {self.answered} answered, {self.declined} declined, "
            f"{self.busy} busy, {self.cooldown} cooldown, {self.error} error, {self.other} other, "
            f"{self.missing} missing; latency p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, "
            f"max {self.max_ms:.0f} ms; max event-loop gap {self.max_gap_ms:.0f} ms (longest GC {self.max_gc_ms:.0f} ms)"
        )


def classify(bodies: Sequence[Mapping[str, Any]]) -> str:
    """The outcome a user saw, judged from the last message body sent (one of OUTCOMES)."""
    if not bodies:
        return "missing"
    last = bodies[-1]
    if any(embed.get("title") == messages.ANSWER_TITLE for embed in last.get("embeds") or []):
        return "answered"
    content = last.get("content") or ""
    if content == messages.BUSY:
        return "busy"
    if _COOLDOWN.fullmatch(content):
        return "cooldown"
    if _ERROR.fullmatch(content):
        return "error"
    if content in _DECLINES:
        return "declined"
    return "other"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


async def _heartbeat(interval: float, worst: list[float]) -> None:
    """Sleep `interval` forever; `worst[0]` becomes the longest time between two wake-ups."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        worst[0] = max(worst[0], now - last)
        last = now


class _GcTimer:
    """The longest garbage collection while installed (a collection runs on one thread at a time)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def run_load(dispatch_one: DispatchOne, count: int = 200, *, heartbeat_interval: float = 0.01) -> LoadReport:
    """Dispatch questions 0..count-1 concurrently (one arrival per loop iteration) and measure.

    Latency of a question: from just before it is dispatched to the last message sent for it.
    The event-loop gap is the longest time between wake-ups of a task that sleeps
    `heartbeat_interval` in a loop: anything much above the interval is the loop being blocked.
    """
    loop = asyncio.get_running_loop()
    worst_gap = [heartbeat_interval]
    gc_timer = _GcTimer()
    gc.callbacks.append(gc_timer)
    beat = loop.create_task(_heartbeat(heartbeat_interval, worst_gap))
    await asyncio.sleep(0)

    async def timed(index: int) -> tuple[float, Sequence[Sent]]:
        started = loop.time()
        return started, await dispatch_one(index)

    began = loop.time()
    tasks: list[asyncio.Task[tuple[float, Sequence[Sent]]]] = []
    try:
        for index in range(count):
            tasks.append(loop.create_task(timed(index)))
            await asyncio.sleep(0)
        results = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        beat.cancel()
        try:
            await beat
        except asyncio.CancelledError:
            pass
        gc.callbacks.remove(gc_timer)
    seconds = loop.time() - began

    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    for started, sent in results:
        outcomes[classify([item.body for item in sent])] += 1
        if sent:
            latencies.append((max(item.at for item in sent) - started) * 1000)
    return LoadReport(
        count=count,
        answered=outcomes["answered"],
        declined=outcomes["declined"],
        busy=outcomes["busy"],
        cooldown=outcomes["cooldown"],
        error=outcomes["error"],
        other=outcomes["other"],
        missing=outcomes["missing"],
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies, default=0.0),
        max_gap_ms=worst_gap[0] * 1000,
        max_gc_ms=gc_timer.longest * 1000,
        seconds=seconds,
    )
