"""The /stats picture: questions per day, answered and declined stacked, as a small PNG.

matplotlib with its Agg backend (no display, no GUI toolkit); imported here only, on first use,
since it takes a second to load. Rendering runs in a worker thread like every database call.
"""

from __future__ import annotations

import io
import threading

from .. import messages
from .stats import Stats

_LOCK = threading.Lock()  # pyplot keeps global state; one chart at a time


def stats_chart(stats: Stats) -> bytes:
    """PNG bytes: one bar per day, answered / declined / other stacked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days = [row.day for row in stats.per_day]
    answered = [row.answered for row in stats.per_day]
    declined = [row.declined for row in stats.per_day]
    other = [row.asked - row.answered - row.declined for row in stats.per_day]
    with _LOCK:
        figure = Figure(figsize=(6.4, 2.8), dpi=100)
        axes = figure.add_subplot()
        positions = range(len(days))
        axes.bar(positions, answered, color="#2a9d8f", label=messages.CHART_ANSWERED)
        axes.bar(positions, declined, bottom=answered, color="#e76f51", label=messages.CHART_DECLINED)
        axes.bar(positions, other, bottom=[a + d for a, d in zip(answered, declined)], color="#adb5bd", label=messages.CHART_OTHER)
        step = max(1, len(days) // 8)
        axes.set_xticks(list(positions)[::step], [day.strftime("%m-%d") for day in days][::step])
        axes.set_ylabel(messages.CHART_QUESTIONS)
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.legend(loc="upper left", fontsize="small", frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
