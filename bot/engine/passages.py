"""Passages: runs of whole sentences, the unit that is embedded and searched.

Every passage is a `(start, end)` pair into `article.text` with its sentences' spans, so a quote
drawn from it is always an exact slice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .models import Article, Passage
from .sentences import is_markdown, split_sentences

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")
# A sentence over twice the budget is cut at whitespace (the model reads only so far). Long
# unbroken "words" (URLs, base64) fool a word-based count, so characters are capped too.
_GIANT_FACTOR = 2
_MAX_CHARS_PER_TOKEN = 10

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
    markdown = is_markdown(article.source, text, article.body_start)
    for s, e in split_sentences(text, article.body_start, markdown=markdown):
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
