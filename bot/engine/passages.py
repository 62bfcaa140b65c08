"""Sentences and passages as exact character spans of an article.

The bot may only ever quote what the article says, so nothing here copies or normalises text:
every sentence and passage is a `(start, end)` pair into `article.text`, and the quote shown to
people is `article.text[start:end]`. Sentences are the unit quoted; passages (a few sentences)
are the unit embedded and searched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .models import Article, Passage

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


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
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


def estimate_tokens(text: str) -> int:
    """A tokenizer-free guess at model tokens: subword tokenizers split ~1.3 pieces per word."""
    return math.ceil(len(_TOKEN.findall(text)) * 1.3)


def make_passages(
    article: Article,
    *,
    max_tokens: int,
    overlap_sentences: int,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Passage]:
    """Group the body's sentences into passages of at most `max_tokens` tokens.

    Overlap keeps a statement findable when the words that make it relevant sit in the
    neighbouring sentence. Each sentence is counted once, so a real tokenizer stays affordable.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}")
    if overlap_sentences < 0:
        raise ValueError(f"overlap_sentences must be 0 or more, not {overlap_sentences}")
    count = count_tokens or estimate_tokens
    text = article.text
    units: list[tuple[int, int, int]] = []  # (start, end, tokens)
    for s, e in split_sentences(text, article.body_start):
        tokens = count(text[s:e])
        if max(tokens, (e - s) / _MAX_CHARS_PER_TOKEN) > _GIANT_FACTOR * max_tokens:
            units.extend(_cut_giant(text, s, e, tokens, max_tokens))
        else:
            units.append((s, e, tokens))

    passages: list[Passage] = []
    first = 0
    while first < len(units):
        last = first + 1  # exclusive; a passage always holds at least one sentence
        total = units[first][2]
        while last < len(units) and total + units[last][2] <= max_tokens:
            total += units[last][2]
            last += 1
        start, end = units[first][0], units[last - 1][1]
        spans = tuple((s, e) for s, e, _ in units[first:last])
        passages.append(Passage(article.source, start, end, text[start:end], spans))
        if last == len(units):
            break
        first = _next_first(units, first, last, overlap_sentences, max_tokens)
    return passages


def _next_first(
    units: list[tuple[int, int, int]], first: int, last: int, overlap: int, max_tokens: int
) -> int:
    """Where the next passage starts: `overlap` sentences back, but always with something new.

    The next passage must fit its first new sentence (`units[last]`); overlap sentences that
    would crowd it out are dropped, so no passage is ever a copy or subset of the one before.
    """
    nxt = max(last - overlap, first + 1)
    carried = sum(tokens for _, _, tokens in units[nxt:last])
    while nxt < last and carried + units[last][2] > max_tokens:
        carried -= units[nxt][2]
        nxt += 1
    return nxt


def _cut_giant(
    text: str, start: int, end: int, tokens: int, max_tokens: int
) -> list[tuple[int, int, int]]:
    """Cut an enormous run-on "sentence" at whitespace so all of it stays searchable.

    The embedding model only reads its first few hundred tokens, so without this the rest of,
    say, a 100,000-character unpunctuated line could never be found. Piece sizes are estimated
    from the sentence's own characters-per-token, so the counter is not called again.
    """
    chars_per_token = min((end - start) / max(tokens, 1), _MAX_CHARS_PER_TOKEN)
    limit = max(1, int(chars_per_token * max_tokens))  # characters per piece
    pieces: list[tuple[int, int]] = []
    lo = hi = -1
    for word in _WORD.finditer(text, start, end):
        ws, we = word.span()
        if lo >= 0 and we - lo <= limit:
            hi = we
            continue
        if lo >= 0:
            pieces.append((lo, hi))
        while we - ws > limit:  # one "word" longer than a piece (e.g. base64): cut it hard
            pieces.append((ws, ws + limit))
            ws += limit
        lo, hi = ws, we
    if lo >= 0:
        pieces.append((lo, hi))
    share = tokens / (end - start)
    return [(s, e, math.ceil((e - s) * max(share, 1 / _MAX_CHARS_PER_TOKEN))) for s, e in pieces]
