"""The sentence splitter and paragraph numbering as they were before hard-wrap and Markdown
support (commit 51c93c8), kept verbatim so tests can show that one-paragraph-per-line text
without Markdown is split and numbered exactly as before."""

from __future__ import annotations

import re
from bisect import bisect_right


# Every character `str.splitlines` breaks on (a "\r\n" is two of them), so sentences and
# `Article.paragraph_at` agree on what a line is. All are whitespace, so trimming removes them.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_TERMINATORS = ".!?\u2026\u061f"  # . ! ? … and the Arabic question mark
_CLOSERS = "\"'\u201d\u2019)]"  # " ' ” ’ ) ]
_OPENERS = "\"'\u201c\u2018(["  # " ' “ ‘ ( [

# Group 1: line breaks (always a boundary), with any whitespace after them. Otherwise: a run of
# terminators, optional closing quotes/brackets, then whitespace on the same line; group 2 is
# the next character, which decides (a lowercase ASCII letter never starts a sentence, so it
# is ruled out here, cheaply). The leading lookahead lets the regex engine skip ahead fast; the
# lookbehind and possessive quantifiers keep long runs of "!!!!" or spaces linear.
_B, _T, _C = re.escape(_BREAKS), re.escape(_TERMINATORS), re.escape(_CLOSERS)
_CANDIDATE = re.compile(
    rf"(?=[{_B}{_T}])(?:([{_B}]\s*+)"
    rf"|[{_T}](?<![{_T}][{_T}])[{_T}]*+[{_C}]*+(?=[^\S{_B}]++([^\sa-z])))"
)
_WORD_BEFORE = re.compile(r"[\w.]*\Z")  # the token a full stop ends, e.g. "U.S" or "Dr"
_WORD_WINDOW = 12  # longer than any abbreviation; a longer token is never one

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

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")
# A sentence over twice the budget is cut at whitespace (the model reads only so far). Long
# unbroken "words" (URLs, base64) fool a word-based count, so characters are capped too.
_GIANT_FACTOR = 2
_MAX_CHARS_PER_TOKEN = 10


def legacy_split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Absolute spans of the sentences in `text[start:end]`, each trimmed of whitespace.

    A line break always ends a sentence, because a news paragraph never continues a sentence
    on the next line and a quote must not run across paragraphs. Inside a line, a full stop,
    `!` or `?` ends one only when the next word starts like a sentence (capital, digit or
    opening quote/bracket), so "U.S. President", "Jan. 28", `," adding` and `." he said` stay
    whole.
    """
    chunk = text[start:end]
    spans: list[tuple[int, int]] = []
    piece_start = 0
    for match in _CANDIDATE.finditer(chunk):
        if match.group(1) is not None:
            _add_trimmed(chunk, piece_start, match.start(), start, spans)
            piece_start = match.end()
        elif _ends_sentence(chunk, match, piece_start):
            _add_trimmed(chunk, piece_start, match.end(), start, spans)
            piece_start = match.end()
    _add_trimmed(chunk, piece_start, len(chunk), start, spans)
    return spans


def _ends_sentence(chunk: str, match: re.Match[str], piece_start: int) -> bool:
    """Whether a terminator followed by whitespace really closes a sentence."""
    following = match.group(2)
    capital = following.isalpha() and not following.islower()  # caseless scripts count too
    marks = match.group(0).rstrip(_CLOSERS)
    if marks.startswith("..") or "\u2026" in marks:
        return capital  # an ellipsis before "and" or "5 more" trails off mid-sentence
    if following in _OPENERS:
        after = chunk[match.start(2) + 1 : match.start(2) + 2]
        if not after or after.isspace():
            return False  # a stray quote mark ('granules. "') opens nothing
    elif not (capital or following.isdigit()):
        return False  # `." he said`: a quotation inside the sentence
    if marks != match.group(0) or marks != ".":
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
    """Append `chunk[lo:hi]` without its edge whitespace, unless nothing is left."""
    piece = chunk[lo:hi]
    stripped = piece.lstrip()
    if not stripped:
        return
    lo += len(piece) - len(stripped)
    hi -= len(stripped) - len(stripped.rstrip())
    spans.append((lo + offset, hi + offset))




def legacy_paragraph_at(text: str, body_start: int, offset: int) -> int:
    line_ends, paragraphs = [], []
    position, number = body_start, 0
    for line in text[body_start:].splitlines(keepends=True):
        number += bool(line.strip())
        position += len(line)
        line_ends.append(position)
        paragraphs.append(number)
    paragraphs = paragraphs or [0]
    line = bisect_right(line_ends, offset)
    return max(paragraphs[line] if line < len(line_ends) else paragraphs[-1], 1)
