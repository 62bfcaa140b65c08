"""Sentences as exact character spans of an article, and the layout no sentence crosses.

The bot may only ever quote what the article says, so nothing here copies or normalises text:
every sentence is a `(start, end)` pair into `article.text`, and the quote shown to people is
`article.text[start:end]`.

Seeds come as they come: one paragraph per line, or hard-wrapped at a column with blank lines
between paragraphs, with Markdown headings, lists and emphasis. `layout` cuts the text into
units that no sentence crosses (a line, or in hard-wrapped text a run of wrapped lines), and the
sentence rules then work inside one unit at a time. Nothing here knows of `Article`, so the
article model can ask for its paragraphs without an import cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every character `str.splitlines` breaks on (a "\r\n" is two of them), so sentences and
# `Article.paragraph_at` agree on what a line is. All are whitespace, so trimming removes them.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_TERMINATORS = ".!?\u2026\u061f"  # . ! ? … and the Arabic question mark
_CLOSERS = "\"'\u201d\u2019)]"  # " ' ” ’ ) ]
_OPENERS = "\"'\u201c\u2018(["  # " ' “ ‘ ( [
_MARKS = "*_"  # Markdown emphasis: transparent to the sentence rules, never left dangling

# A run of terminators, optional closing quotes/brackets/emphasis, then whitespace (inside a
# unit a line break is whitespace too: units never hold a break that ends a sentence); group 1
# is the next character after any emphasis markers, which decides (a lowercase ASCII letter
# never starts a sentence, so it is ruled out here, cheaply). The leading lookahead lets the
# regex engine skip ahead fast; the lookbehind and possessive quantifiers keep long runs of
# "!!!!" or spaces linear.
_T, _C = re.escape(_TERMINATORS), re.escape(_CLOSERS + _MARKS)
_CANDIDATE = re.compile(
    rf"(?=[{_T}])[{_T}](?<![{_T}][{_T}])[{_T}]*+[{_C}]*+(?=\s++[*_]*+([^\sa-z]))"
)
_WORD_BEFORE = re.compile(r"[\w.]*\Z")  # the token a full stop ends, e.g. "U.S" or "Dr"
_WORD_WINDOW = 12  # longer than any abbreviation; a longer token is never one
_LINK = re.compile(r"\[[^\[\]]*\]\([^()\s]*\)")  # [text](url): never cut inside
_MARK_RUN = {"*": re.compile(r"\*+"), "_": re.compile(r"_+")}

ABBREVIATIONS: frozenset[str] = frozenset(
    """
    Mr. Mrs. Ms. Messrs. Dr. Prof. Sr. Jr. St. Mt. Ft. Gen. Gens. Col. Lt. Sgt. Capt. Maj. Adm.
    Cmdr. Cpl. Pvt. Brig. Gov. Sen. Rep. Rev. Hon. Pres.
    U.S. U.N. U.K. E.U.
    No. Nos. Vol. Fig. Figs. Eq. Eqs. Ref. Refs. al. cf. ca. approx. vs. etc. e.g. i.e.
    Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec.
    Inc. Ltd. Co. Corp. Proc. Natl. Acad. Sci.
    """.split()
)

# --- layout: which line breaks end a unit ------------------------------------------------------

_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]+(?=\S)")  # "## Why it matters"
_HEADING_CLOSE = re.compile(r"(?:[ \t]+#+)?[ \t]*\Z")  # optional closing "##"
RULE = re.compile(r"[ \t]*([-*_=])(?:[ \t]*\1){2,}[ \t]*\Z")  # "---", "* * *", "==="
_BULLET = re.compile(r"[ \t]*[-*+\u2022\u25e6\u2023\u25aa][ \t]+(?=\S)")  # - * + • ◦ ‣ ▪
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# Lines that start like an entry: "1. ", "2) ", "08:02 - ", "Jan. 12, 2026: ", "12 January - ",
# "2026-01-12: ". In wrapped text a prose line can start like this too ("won\n29. Both men"), so
# these start a unit only after a line that ends a clause (see `_breaks_before`).
_SEPARATOR = r"[ \t]*[-\u2013\u2014:|]"
_ENTRY = re.compile(
    rf"[ \t]*(?:\d{{1,3}}[.)][ \t]+(?=\S)|\d{{1,2}}:\d{{2}}(?:[ \t]*[ap]\.?m\.?)?{_SEPARATOR}"
    rf"|(?:{_MONTH}[ \t]+\d{{1,2}}(?:,?[ \t]+\d{{4}})?|\d{{1,2}}[ \t]+{_MONTH}(?:[ \t]+\d{{4}})?"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}){_SEPARATOR})"
)
_ENDS_SENTENCE = re.compile(rf"[{_T}][{_C}]*\Z")
_ENDS_CLAUSE = re.compile(rf"[{_T}:;][{_C}]*\Z")
_FIRST_WORD = re.compile(r"\s*(\S*)")

# Hard-wrap detection, per article (see `is_hard_wrapped`).
_MARKDOWN_HEADINGS = 2  # lone "#" headings that make a .txt file read as Markdown
_MIN_JOINS = 2  # line breaks inside paragraphs needed before a text counts as wrapped
_WIDTH_RANGE = (30, 120)  # columns people wrap at; a longer "line" is a paragraph
_FULL = 2 / 3  # a line is full when it, plus the next word, passes this share of the width
_FULL_SHARE = 3 / 4  # of the breaks inside paragraphs must come after full lines...
_RUN_ON_SHARE = 1 / 2  # ...and at least this share must fall in mid-sentence


@dataclass(frozen=True, slots=True)
class _Line:
    start: int  # where the line begins (or the region does, if later)
    text_start: int  # after its indentation
    end: int  # end of its text, before the line break and trailing spaces
    width: int  # characters from the real start of the line to `end`
    kind: str  # "blank", "heading", "rule", "bullet", "entry" or "plain"


@dataclass(frozen=True, slots=True)
class Unit:
    """A span no sentence crosses: a paragraph, a list item, a heading or a rule.

    In text that is not hard-wrapped every non-blank line is a unit of its own.
    """

    line_start: int  # where its first line begins: paragraph numbers count these
    start: int  # its text, after indentation and any list bullet (or heading "#"s)
    end: int
    kind: str  # "text", "heading" or "rule"


@dataclass(frozen=True, slots=True)
class Layout:
    """The units of `text[start:end]`, and whether single line breaks in it were read as wraps."""

    wrapped: bool
    units: tuple[Unit, ...]


def _lines(text: str, start: int, end: int, markdown: bool) -> list[_Line]:
    """The lines of `text[start:end]`, as `str.splitlines` sees them, with their kinds.

    Headings and rules are Markdown's only: in plain text "# 1 seed" or "---" is just a line.
    """
    line_begin = start
    while line_begin > 0 and text[line_begin - 1] not in _BREAKS:
        line_begin -= 1  # the region may start mid-line (after a dateline): measure the real line
    lines: list[_Line] = []
    position = start
    for raw in text[start:end].splitlines(keepends=True):
        body = raw.rstrip(_BREAKS).rstrip()
        stripped = body.lstrip()
        text_start = position + len(body) - len(stripped)
        width = position + len(body) - (line_begin if not lines else position)
        if not stripped:
            kind = "blank"
        elif markdown and _HEADING.match(body):
            kind = "heading"
        elif markdown and RULE.match(body):
            kind = "rule"
        elif _BULLET.match(body) and not RULE.match(body):  # "* * *" is no list item
            kind = "bullet"
        elif _ENTRY.match(body):
            kind = "entry"
        else:
            kind = "plain"
        lines.append(_Line(position, text_start, position + len(body), width, kind))
        position += len(raw)
    return lines


def _first_word(text: str, line: _Line) -> int:
    match = _FIRST_WORD.match(text, line.text_start, line.end)
    return len(match.group(1)) if match else 0


def _is_full(text: str, line: _Line, following: _Line, width: int) -> bool:
    """Whether `line` ran to the column: with the next line's first word it would pass `_FULL`."""
    return line.width + 1 + _first_word(text, following) > _FULL * width


def is_markdown(source: str, text: str, start: int = 0) -> bool:
    """Whether an article is read as Markdown: a `.md` file, or text with two or more `#`
    headings that each stand between blank lines (a lone "# ..." line in plain text is kept)."""
    if source.lower().endswith(".md"):
        return True
    lines = _lines(text, start, len(text), markdown=True)
    kinds = ["blank", *(line.kind for line in lines), "blank"]
    alone = sum(kinds[i - 1 : i + 2] == ["blank", "heading", "blank"] for i in range(1, len(kinds) - 1))
    return alone >= _MARKDOWN_HEADINGS


def is_hard_wrapped(text: str, start: int = 0, end: int | None = None, *, markdown: bool = False) -> bool:
    """Whether single line breaks in `text[start:end]` are wraps rather than paragraph ends.

    Looks at the breaks between two lines of prose inside a blank-line-separated block. The
    text is hard-wrapped when there are a few, its lines are no wider than people wrap at
    (30-120 characters), nearly all of them come after a full line, and most fall mid-sentence.
    One paragraph per line fails on width or on ending sentences; a short list fails on fullness.
    """
    lines = _lines(text, start, len(text) if end is None else end, markdown)
    return _wrap_width(text, lines) is not None


def _wrap_width(text: str, lines: list[_Line]) -> int | None:
    """The column a hard-wrapped text was wrapped at (its widest wrapped line), else None."""
    joins = [
        (a, b)
        for a, b in zip(lines, lines[1:])
        if a.kind in ("plain", "bullet", "entry") and b.kind == "plain"
    ]
    if len(joins) < _MIN_JOINS:
        return None
    width = max(a.width for a, _ in joins)
    if not _WIDTH_RANGE[0] <= width <= _WIDTH_RANGE[1]:
        return None
    full = sum(_is_full(text, a, b, width) for a, b in joins)
    run_on = sum(not _ENDS_SENTENCE.search(text, a.text_start, a.end) for a, _ in joins)
    if full < _FULL_SHARE * len(joins) or run_on < _RUN_ON_SHARE * len(joins):
        return None
    return width


def layout(text: str, start: int = 0, end: int | None = None, *, markdown: bool = False) -> Layout:
    """Cut `text[start:end]` into the units sentences live in (see `Unit`)."""
    lines = _lines(text, start, len(text) if end is None else end, markdown)
    width = _wrap_width(text, lines)
    units: list[Unit] = []
    first: _Line | None = None  # first line of the unit being built
    last: _Line | None = None
    for line in lines:
        if line.kind == "blank":
            if first is not None and last is not None:
                units.append(_unit(text, first, last))
            first = last = None
            continue
        if first is not None and last is not None:
            if width is not None and not _breaks_before(text, first, last, line, width):
                last = line
                continue
            units.append(_unit(text, first, last))
        first = last = line
    if first is not None and last is not None:
        units.append(_unit(text, first, last))
    return Layout(width is not None, tuple(units))


def _breaks_before(text: str, first: _Line, previous: _Line, line: _Line, width: int) -> bool:
    """In wrapped text, whether the break between `previous` and `line` still ends a unit.

    Headings, rules and list bullets always stand apart. A line that stops well short of the
    column was broken on purpose. A line starting like an entry (a number, time or date) starts
    a new one unless the line before runs on into it mid-sentence inside ordinary prose.
    """
    if line.kind in ("heading", "rule", "bullet") or previous.kind in ("heading", "rule"):
        return True
    if not _is_full(text, previous, line, width):
        return True
    if line.kind == "entry":
        return first.kind == "entry" or bool(_ENDS_CLAUSE.search(text, previous.text_start, previous.end))
    return False


def _unit(text: str, first: _Line, last: _Line) -> Unit:
    start, end, kind = first.text_start, last.end, "text"
    if first.kind == "heading":
        match = _HEADING.match(text, first.start, end)
        assert match is not None
        start, kind = match.end(), "heading"
        end = _HEADING_CLOSE.search(text, start, end).start()  # type: ignore[union-attr]
    elif first.kind == "rule":
        kind = "rule"
    elif first.kind == "bullet":
        match = _BULLET.match(text, first.start, end)
        assert match is not None
        start = match.end()
    return Unit(first.start, start, max(end, start), kind)


# --- sentences ----------------------------------------------------------------------------------


def split_sentences(
    text: str, start: int = 0, end: int | None = None, *, markdown: bool = False
) -> list[tuple[int, int]]:
    """Absolute spans of the sentences in `text[start:end]`, each trimmed.

    No sentence crosses a unit of `layout`: a line, or in hard-wrapped text a paragraph, so a
    quote never runs across paragraphs, list items or headings; headings and rules are not
    sentences at all (they are context, see `Article.headings`). Inside a unit, a full stop, `!` or
    `?` ends one only when the next word starts like a sentence (capital, digit or opening
    quote/bracket), so "U.S. President", "Jan. 28", `," adding` and `." he said` stay whole.
    Emphasis markers and links never decide a boundary, and a span never starts or ends with a
    list bullet or an unpaired `**`.
    """
    spans: list[tuple[int, int]] = []
    for unit in layout(text, start, end, markdown=markdown).units:
        if unit.kind == "text":
            _split_unit(text[unit.start : unit.end], unit.start, spans)
    return spans


def _split_unit(chunk: str, offset: int, spans: list[tuple[int, int]]) -> None:
    links = [m.span() for m in _LINK.finditer(chunk)] if "](" in chunk else []
    piece_start = 0
    for match in _CANDIDATE.finditer(chunk):
        if links and any(s < match.start() < e for s, e in links):
            continue
        if _ends_sentence(chunk, match, piece_start):
            _add_trimmed(chunk, piece_start, match.end(), offset, spans)
            piece_start = match.end()
    _add_trimmed(chunk, piece_start, len(chunk), offset, spans)


def _ends_sentence(chunk: str, match: re.Match[str], piece_start: int) -> bool:
    """Whether a terminator followed by whitespace really closes a sentence."""
    following = match.group(1)
    capital = following.isalpha() and not following.islower()  # caseless scripts count too
    closed = match.group(0).rstrip(_MARKS)  # emphasis markers are as if absent
    marks = closed.rstrip(_CLOSERS + _MARKS)
    if marks.startswith("..") or "\u2026" in marks:
        return capital  # an ellipsis before "and" or "5 more" trails off mid-sentence
    if following in _OPENERS:
        after = chunk[match.start(1) + 1 : match.start(1) + 2]
        if not after or after.isspace():
            return False  # a stray quote mark ('granules. "') opens nothing
    elif not (capital or following.isdigit()):
        return False  # `." he said`: a quotation inside the sentence
    if marks != closed or marks != ".":
        return True  # "!", "?", or a full stop inside brackets/quotes: "(HRANA.) The"
    low = max(piece_start, match.start() - _WORD_WINDOW)
    word = _WORD_BEFORE.search(chunk, low, match.start())
    if word is None or (word.start() == low and low > piece_start):
        return True  # a token longer than the window: no abbreviation is that long
    token = word.group(0)
    if token + "." in ABBREVIATIONS:
        return False
    if token.isdigit() and len(token) <= 2 and not chunk[piece_start : word.start()].strip():
        return False  # a list number, "2. Patients were ...", belongs to its item
    return not (len(token) == 1 and token.isupper())  # an initial, as in "Donald J. Trump"


def _add_trimmed(chunk: str, lo: int, hi: int, offset: int, spans: list[tuple[int, int]]) -> None:
    """Append `chunk[lo:hi]` without edge whitespace or unpaired emphasis, unless nothing is left."""
    while lo < hi:
        piece = chunk[lo:hi]
        stripped = piece.lstrip()
        lo += len(piece) - len(stripped)
        hi -= len(stripped) - len(stripped.rstrip())
        piece = chunk[lo:hi]
        lead = len(piece) - len(piece.lstrip(piece[:1])) if piece[:1] in _MARKS else 0
        trail = len(piece) - len(piece.rstrip(piece[-1:])) if piece[-1:] in _MARKS else 0
        if lead and not piece[lead : lead + 1].isspace() and _unpaired(piece, piece[:lead]):
            lo += lead
        elif trail and not piece[-trail - 1 : -trail].isspace() and _unpaired(piece, piece[-trail:]):
            hi -= trail
        else:
            spans.append((lo + offset, hi + offset))
            return


def _unpaired(piece: str, run: str) -> bool:
    """Whether the emphasis run `run` ("**", "*", "_") occurs an odd number of times in `piece`.

    Runs between two letters or digits ("snake_case", "2*3") or between two spaces ("* * *")
    are not emphasis and do not count.
    """
    count = 0
    for match in _MARK_RUN[run[0]].finditer(piece):
        s, e = match.span()
        before, after = piece[s - 1 : s] or " ", piece[e : e + 1] or " "
        if (before.isalnum() and after.isalnum()) or (before.isspace() and after.isspace()):
            continue
        count += len(match.group(0)) == len(run)
    return count % 2 == 1


