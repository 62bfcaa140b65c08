"""`eval qa`: answer quality on question sets with verbatim answer strings, as a user would judge it.

Two formats are read: the dev set's (`answerable`, `answers`, `sources`) and the development
corpus's (`answers`, `match` any/all/none, `kind`, `files`, `lang`). Each question lands in a
tuning or a held-back half, fixed by a seed and balanced within every kind and language, so a
change can be chosen on one half and judged on the other.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SPLIT_SEED = 12
HALVES = ("tuning", "held-back")
_CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    """The corpus's matching rule: no BOM, LF line ends, straight quotes, single spaces."""
    text = text.replace("\ufeff", "").replace("\r\n", "\n").translate(_CURLY)
    return re.sub(r"\s+", " ", text)


@dataclass(frozen=True, slots=True)
class QaQuestion:
    question: str
    answers: tuple[str, ...]
    match: str  # "any": one answer string must be quoted; "all": every one; "none": must decline
    kind: str
    lang: str
    files: tuple[str, ...]  # every article carrying an answer (for "also in" credit)
    half: str = ""
    case_sensitive: bool = True  # the corpus's rule; the dev set's answers were always matched in any case

    @property
    def answerable(self) -> bool:
        return self.match != "none"

    def as_row(self) -> dict:
        """The dev set's shape, which the passage-level comparison reads."""
        return {"question": self.question, "answerable": self.answerable, "answers": list(self.answers)}


def load_questions(path: Path, *, seed: int = SPLIT_SEED) -> list[QaQuestion]:
    """Questions of either format, each assigned to its half; a bad line is named, not skipped."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(_question(row))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a question line ({error})") from None
    return split_halves(questions, seed=seed)


def _question(row: dict) -> QaQuestion:
    if "match" in row:
        match = row["match"]
        if match not in ("any", "all", "none"):
            raise ValueError(f"match must be any, all or none, not {match!r}")
    else:
        match = "any" if row.get("answerable", True) else "none"
    kind = row.get("kind") or ("fact" if match != "none" else "offtopic")
    return QaQuestion(
        question=str(row["question"]), answers=tuple(row.get("answers", ())), match=match, kind=kind,
        lang=row.get("lang", "en"), files=tuple(row.get("files", row.get("sources", ()))),
        case_sensitive="match" in row,
    )


def split_halves(questions: Iterable[QaQuestion], *, seed: int = SPLIT_SEED) -> list[QaQuestion]:
    """Alternate halves within each (kind, language) group, in an order fixed by the seed alone."""
    questions = list(questions)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        groups[(q.kind, q.lang)].append(i)
    halves: dict[int, str] = {}
    for members in groups.values():
        members.sort(key=lambda i: hashlib.sha256(f"{seed}:{questions[i].question}".encode()).hexdigest())
        for position, i in enumerate(members):
            halves[i] = HALVES[position % 2]
    return [_with_half(q, halves[i]) for i, q in enumerate(questions)]


def _with_half(q: QaQuestion, half: str) -> QaQuestion:
    return QaQuestion(q.question, q.answers, q.match, q.kind, q.lang, q.files, half, q.case_sensitive)


@dataclass(frozen=True, slots=True)
class Quoted:
    """What one quote of a reply offers the judge: its text and every article it cites."""

    text: str
    sources: tuple[str, ...]  # its own source first, then "also in"


@dataclass(slots=True)
class Verdict:
    question: QaQuestion
    answered: bool
    first: bool = False  # the first quote holds an answer (for "all": every answer)
    first_three: bool = False
    carriers_cited: int = 0
    carriers: int = 0
    quotes: tuple[Quoted, ...] = ()
    diagnostics: dict = field(default_factory=dict)


def judge(question: QaQuestion, answered: bool, quotes: Sequence[Quoted], diagnostics: dict | None = None) -> Verdict:
    verdict = Verdict(question, answered, quotes=tuple(quotes), diagnostics=diagnostics or {})
    if question.kind == "multi":
        verdict.carriers = len(question.files)  # a declined question cites none of them
    if not question.answerable or not answered:
        return verdict
    fold = (lambda text: text) if question.case_sensitive else str.casefold
    answers = [fold(normalise(a)) for a in question.answers]
    texts = [fold(normalise(q.text)) for q in quotes]
    if question.match == "all":
        verdict.first = bool(texts) and all(a in texts[0] for a in answers)
        verdict.first_three = all(any(a in t for t in texts[:3]) for a in answers)
    else:
        verdict.first = bool(texts) and any(a in texts[0] for a in answers)
        verdict.first_three = any(a in t for t in texts[:3] for a in answers)
    if question.kind == "multi":
        cited = {s for q, t in zip(quotes, texts) if any(a in t for a in answers) for s in q.sources}
        verdict.carriers_cited = len(cited & set(question.files))
    return verdict


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report: counts, so a reader sees how few questions a share rests on."""

    name: str
    answerable: int
    first: int
    first_three: int
    wrongly_declined: int
    unanswerable: int
    declined: int
    carriers: int
    carriers_cited: int


def summarise(name: str, verdicts: Sequence[Verdict]) -> Row:
    answerable = [v for v in verdicts if v.question.answerable]
    unanswerable = [v for v in verdicts if not v.question.answerable]
    return Row(
        name, len(answerable), sum(v.first for v in answerable), sum(v.first_three for v in answerable),
        sum(not v.answered for v in answerable), len(unanswerable), sum(not v.answered for v in unanswerable),
        sum(v.carriers for v in verdicts), sum(v.carriers_cited for v in verdicts),
    )


def report_rows(verdicts: Sequence[Verdict]) -> list[Row]:
    """Per half: all, English answerable, other languages, two-part; then per kind and per language."""
    rows = []
    groups: list[tuple[str, Callable[[QaQuestion], bool]]] = [
        ("all", lambda q: True),
        ("en", lambda q: q.lang == "en"),
        ("ar+ckb+fa", lambda q: q.lang != "en"),
        ("two-part", lambda q: q.match == "all"),
    ]
    halves = sorted({v.question.half for v in verdicts}, key=HALVES.index)
    for half in halves:
        for label, keep in groups:
            chosen = [v for v in verdicts if v.question.half == half and keep(v.question)]
            if chosen:
                rows.append(summarise(f"{half} {label}", chosen))
    for kind in sorted({v.question.kind for v in verdicts}):
        rows.append(summarise(f"kind {kind}", [v for v in verdicts if v.question.kind == kind]))
    for lang in sorted({v.question.lang for v in verdicts}):
        rows.append(summarise(f"lang {lang}", [v for v in verdicts if v.question.lang == lang]))
    return rows


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.2f})" if whole else "-"


def render_table(rows: Sequence[Row]) -> str:
    """Counts and shares side by side: "17/25 (0.68)" says how much a figure can be trusted."""
    header = ["questions", "first quote", "first three", "wrongly declined", "declined (none)", "carriers cited"]
    cells = [header] + [
        [r.name, _share(r.first, r.answerable), _share(r.first_three, r.answerable),
         _share(r.wrongly_declined, r.answerable), _share(r.declined, r.unanswerable),
         _share(r.carriers_cited, r.carriers)]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_misses(verdicts: Sequence[Verdict]) -> list[str]:
    """Each answerable question whose first quote missed, and each unanswerable one that was answered."""
    lines = []
    for v in verdicts:
        q = v.question
        missed = (q.answerable and not v.first) or (not q.answerable and v.answered)
        if not missed:
            continue
        where = "declined" if q.answerable and not v.answered else ("answered" if not q.answerable else
                                                                   "in first three" if v.first_three else "not in first three")
        lines.append(f"miss [{q.half} {q.kind} {q.lang}] {q.question!r}: {where} {json.dumps(v.diagnostics)}")
        for quote in v.quotes[:3]:
            lines.append(f"    - {quote.sources[0]}: {quote.text[:140]!r}")
    return lines
