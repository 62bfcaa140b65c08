"""Coverage gaps: the questions the bot declined or that got a 👎, the same question asked ten ways
counted as one row.

Why by embedding: members word one question many ways ("who is the US envoy?", "name of the
American chargé?"), and only meaning groups those. The grouping is agglomerative on cosine with
centroid linkage: each question starts alone, and the two groups whose mean vectors are most alike
are merged while that cosine is at least the model's paraphrase cut-off (`GAPS_SIMILARITY`, see
`bot/config.py`), so a chain of loosely related questions does not collapse into one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import and_, func, or_, select

from .database import Database
from .records import DOWN, as_utc, now
from .schema import feedback, questions

MAX_QUESTIONS = 2000  # the newest this many gaps are grouped; older ones are beyond any admin's reading


@dataclass(frozen=True, slots=True)
class GapQuestion:
    text: str
    declined: bool
    downvotes: int
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class GapRow:
    """One question, however many ways it was asked."""

    example: str  # the wording asked most often (the newest among equals)
    count: int  # questions in the group
    declined: int  # of which the bot declined
    downvoted: int  # of which got at least one 👎
    last_asked: datetime
    texts: tuple[str, ...]


def gap_questions(database: Database, days: int, *, guild_id: int | None = None, at: datetime | None = None) -> list[GapQuestion]:
    """Declined or 👎'd questions of the last `days` days (of one server, if given), newest first."""
    since = (at or now()) - timedelta(days=days)
    downs = (select(feedback.c.question_id, func.count().label("downs"))
             .where(feedback.c.vote == DOWN).group_by(feedback.c.question_id).subquery())
    query = (
        select(questions.c.text, questions.c.answered, questions.c.reason, func.coalesce(downs.c.downs, 0),
               questions.c.asked_at)
        .outerjoin(downs, downs.c.question_id == questions.c.id)
        .where(questions.c.asked_at >= since)
        .where(or_(and_(questions.c.answered.is_(False), questions.c.reason == "declined"), downs.c.downs > 0))
        .order_by(questions.c.asked_at.desc(), questions.c.id.desc())
        .limit(MAX_QUESTIONS)
    )
    if guild_id is not None:
        query = query.where(questions.c.guild_id == guild_id)
    with database.begin() as connection:
        return [GapQuestion(text, not answered and reason == "declined", int(downvotes), as_utc(asked_at))
                for text, answered, reason, downvotes, asked_at in connection.execute(query)]


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of row indexes: agglomerative, centroid linkage on cosine, merged while >= threshold."""
    count = len(vectors)
    if count == 0:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sums = unit.astype(np.float64).copy()  # a group's vector sum; its centroid's direction
    members: list[list[int] | None] = [[index] for index in range(count)]
    centroids = unit.astype(np.float64).copy()
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    while True:
        flat = int(np.argmax(similarity))
        first, second = divmod(flat, count)
        if similarity[first, second] < threshold:
            break
        keep, gone = min(first, second), max(first, second)
        members[keep] = members[keep] + members[gone]  # type: ignore[operator]
        members[gone] = None
        sums[keep] += sums[gone]
        centroids[keep] = sums[keep] / max(np.linalg.norm(sums[keep]), 1e-12)
        similarity[gone, :] = -np.inf
        similarity[:, gone] = -np.inf
        row = centroids @ centroids[keep]
        alive = np.array([group is not None for group in members])
        row[~alive] = -np.inf
        row[keep] = -np.inf
        similarity[keep, :] = row
        similarity[:, keep] = row
    return [group for group in members if group is not None]


def group_gaps(items: Sequence[GapQuestion], encode: Callable[[list[str]], np.ndarray], threshold: float) -> list[GapRow]:
    """Rows of paraphrases, the most frequent first (then the most recently asked)."""
    if not items:
        return []
    texts = [item.text for item in items]
    vectors = np.asarray(encode(texts), dtype=np.float32)
    rows = []
    for group in cluster(vectors, threshold):
        chosen = [items[index] for index in group]
        wordings = Counter(" ".join(item.text.split()) for item in chosen)
        newest_first = sorted(chosen, key=lambda item: item.asked_at, reverse=True)
        top = max(wordings.values())
        example = next(" ".join(item.text.split()) for item in newest_first if wordings[" ".join(item.text.split())] == top)
        rows.append(GapRow(
            example=example, count=len(chosen), declined=sum(item.declined for item in chosen),
            downvoted=sum(item.downvotes > 0 for item in chosen), last_asked=newest_first[0].asked_at,
            texts=tuple(item.text for item in newest_first),
        ))
    rows.sort(key=lambda row: (-row.count, -row.last_asked.timestamp()))
    return rows
