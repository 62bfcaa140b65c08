"""The rows of a new build, filled article by article, reusing what the previous build holds.

An article whose bytes have not changed has its rows copied whole from the previous build and
nothing embedded (`Assembly.add_unchanged`); a new or edited one is split into passages, and only
the passages and sentences whose text the previous build did not hold are queued for the model
(`Assembly.add_fresh`, with `previous_vectors`). Vectors are cached by (model, text) hash.

With `PASSAGE_VECTORS=sentences` (MiniLM's default) a passage's vector is pooled from vectors the
build needs anyway: the mean of its sentences' vectors (quoting reads them) and its headline's,
counted `HEADLINE_WEIGHT` times. Encoding every passage as well encodes each word about twice
(passages overlap and carry the headline); for MiniLM that bought nothing on the dev corpus, while
e5 and nomic measured better with encoded passages (`config.PASSAGE_VECTORS_DEFAULTS`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from ..embedding import Embedder
from ..models import Article, Passage, Progress
from ..tables import ArticleMeta
from .layout import BuildParams
from .loading import LoadedIndex

EMBED_CHUNK = 256  # texts per progress step while embedding
# In a pooled passage vector, the headline counts as this many sentences: it names the story, as the
# headline prefixed to an encoded passage does. Chosen on the dev corpus's tuning half from 0.5, 1,
# 2, 3 and 4 (README, "Speed and scale").
HEADLINE_WEIGHT = 2.0


class Embeds(IntEnum):
    """What a queued text's vector is for."""

    PASSAGE = 0
    SENTENCE = 1
    HEADLINE = 2


def embed_text(article: Article, passage: Passage) -> str:
    """The headline travels with every passage: it names the story the passage belongs to."""
    return f"{article.title}\n{passage.text}"


def cache_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8")).hexdigest()


def reusable(previous: LoadedIndex | None, params: BuildParams) -> LoadedIndex | None:
    """The previous build can lend vectors only if it used the same model and passage settings."""
    if previous is None:
        return None
    keep = ("model", "passage_max_tokens", "passage_overlap_sentences", "passage_vectors")
    return previous if all(previous.params.get(k) == getattr(params, k) for k in keep) else None


def previous_vectors(previous: LoadedIndex | None, position: int | None, model: str) -> dict[str, np.ndarray]:
    """An edited article's old vectors by text: only the passages whose text changed are embedded."""
    if previous is None or position is None:
        return {}
    meta = previous.articles.metas[position]
    old = previous.articles.at(position)
    cache: dict[str, np.ndarray] = {}
    for row in range(*meta.passage_rows):
        passage = previous.passages[row]
        cache[cache_key(model, embed_text(old, passage))] = previous.vectors[row]
        for (start, end), sentence_row in zip(passage.sentences, previous.passages.sentence_rows(row)):
            cache[cache_key(model, old.text[start:end])] = previous.sentence_vectors[sentence_row]
    return cache


def _stack(blocks: list[np.ndarray], dimension: int, dtype: type) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros((0, dimension), dtype=dtype)


@dataclass(slots=True)
class Assembly:
    """The arrays of a new build, filled article by article, in the shape `publishing` writes."""

    metas: list[ArticleMeta] = field(default_factory=list)
    texts: bytearray = field(default_factory=bytearray)
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # per passage: article position, start, end
    sentence_ptr: list[int] = field(default_factory=list)
    sentence_spans: list[tuple[int, int, int]] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)  # one block per article, stacked by `stack`
    sentence_vectors: list[np.ndarray] = field(default_factory=list)
    pending: list[tuple[str, Embeds, int]] = field(default_factory=list)  # (text, what for, row) still to embed
    # Passages whose vector is pooled once their sentences' and headline's are known: (passage row,
    # headline row); a headline row indexes the vectors of the headlines queued in `pending`.
    pooled: list[tuple[int, int]] = field(default_factory=list)
    headlines: int = 0
    embed_texts: list[str] = field(default_factory=list)  # what BM25 indexes, per passage

    @property
    def sentence_count(self) -> int:
        """Rows of sentence vectors assembled so far (read off the last article: summing blocks is quadratic)."""
        return self.metas[-1].sentence_rows[1] if self.metas else 0

    def add_unchanged(self, previous: LoadedIndex, position: int, article: Article, indexed_at: str) -> None:
        """Same bytes, same settings, same passages: copy its rows wholesale, embed nothing."""
        meta = previous.articles.metas[position]
        (p0, p1), (s0, s1) = meta.passage_rows, meta.sentence_rows
        e0, e1 = int(previous.passages.sentence_ptr[p0]), int(previous.passages.sentence_ptr[p1])
        new_p, new_s, new_e = len(self.spans), self.sentence_count, len(self.sentence_spans)
        encoded = article.text.encode("utf-8")
        self.metas.append(ArticleMeta(
            article.source, article.title, article.dateline, article.sha256, article.body_start, indexed_at,
            len(self.texts), len(encoded), (new_p, new_p + p1 - p0), (new_s, new_s + s1 - s0),
            article.published, article.metadata,
        ))
        self.texts += encoded
        article_position = len(self.metas) - 1
        for start, end in previous.passages.spans[p0:p1, 1:]:
            self.spans.append((article_position, int(start), int(end)))
        for ptr in previous.passages.sentence_ptr[p0 + 1 : p1 + 1]:
            self.sentence_ptr.append(new_e + int(ptr) - e0)
        for start, end, row in previous.passages.sentence_spans[e0:e1]:
            self.sentence_spans.append((int(start), int(end), new_s + int(row) - s0))
        self.vectors.append(np.asarray(previous.vectors[p0:p1], dtype=np.float32))
        self.sentence_vectors.append(np.asarray(previous.sentence_vectors[s0:s1], dtype=np.float16))
        for row in range(p0, p1):
            self.embed_texts.append(embed_text(article, previous.passages[row]))

    def add_fresh(self, article: Article, passages: list[Passage], indexed_at: str,
                  cache: dict[str, np.ndarray], model: str, dimension: int, *, pool: bool = False) -> None:
        """A new or edited article: vectors the cache holds are copied, the rest queued in `pending`;
        with `pool`, its passages' vectors are left to `embed_pending` to pool (its headline queued)."""
        new_p, new_s = len(self.spans), self.sentence_count
        sentence_row: dict[tuple[int, int], int] = {}
        for passage in passages:
            for span in passage.sentences:
                sentence_row.setdefault(span, new_s + len(sentence_row))
        encoded = article.text.encode("utf-8")
        self.metas.append(ArticleMeta(
            article.source, article.title, article.dateline, article.sha256, article.body_start, indexed_at,
            len(self.texts), len(encoded), (new_p, new_p + len(passages)), (new_s, new_s + len(sentence_row)),
            article.published, article.metadata,
        ))
        self.texts += encoded
        vectors = np.zeros((len(passages), dimension), dtype=np.float32)
        sentence_vectors = np.zeros((len(sentence_row), dimension), dtype=np.float16)
        if pool and passages:
            self.pending.append((article.title, Embeds.HEADLINE, self.headlines))
            self.pooled += [(new_p + offset, self.headlines) for offset in range(len(passages))]
            self.headlines += 1
        for offset, passage in enumerate(passages):
            text = embed_text(article, passage)
            self.embed_texts.append(text)
            self.spans.append((len(self.metas) - 1, passage.start, passage.end))
            if not pool:
                cached = cache.get(cache_key(model, text))
                if cached is None:
                    self.pending.append((text, Embeds.PASSAGE, new_p + offset))
                else:
                    vectors[offset] = cached
            for start, end in passage.sentences:
                self.sentence_spans.append((start, end, sentence_row[(start, end)]))
            self.sentence_ptr.append(len(self.sentence_spans))
        for (start, end), row in sentence_row.items():
            cached = cache.get(cache_key(model, article.text[start:end]))
            if cached is None:
                self.pending.append((article.text[start:end], Embeds.SENTENCE, row))
            else:
                sentence_vectors[row - new_s] = cached
        self.vectors.append(vectors)
        self.sentence_vectors.append(sentence_vectors)

    def stack(self, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """(passage vectors, sentence vectors): the per-article blocks as two arrays; the blocks are let go."""
        vectors = _stack(self.vectors, dimension, np.float32)
        sentence_vectors = _stack(self.sentence_vectors, dimension, np.float16)
        self.vectors, self.sentence_vectors = [], []
        return vectors, sentence_vectors

    def embed_pending(self, vectors: np.ndarray, sentence_vectors: np.ndarray, embedder: Embedder,
                      batch_size: int, progress: Progress | None) -> None:
        """One stream of texts for the model, whatever article they came from: full batches, one progress
        bar; then the pooled passages' vectors."""
        headlines = np.zeros((self.headlines, vectors.shape[1]), dtype=np.float32)
        targets = {Embeds.PASSAGE: vectors, Embeds.SENTENCE: sentence_vectors, Embeds.HEADLINE: headlines}
        for begin in range(0, len(self.pending), EMBED_CHUNK):
            chunk = self.pending[begin : begin + EMBED_CHUNK]
            encoded = embedder.encode([text for text, _, _ in chunk], batch_size=batch_size)
            for (_, kind, row), vector in zip(chunk, encoded):
                targets[kind][row] = vector
            if progress:
                progress("embedding", min(begin + EMBED_CHUNK, len(self.pending)), len(self.pending))
        for row, headline, rows in self._pooled_passages():
            # The sentences as stored (float16), so a pooled vector is the same whether its sentences
            # were embedded now or lent by the previous build.
            pooled = sentence_vectors[rows].astype(np.float32).sum(axis=0) + HEADLINE_WEIGHT * headlines[headline]
            vectors[row] = pooled / (np.linalg.norm(pooled) or 1.0)

    def _pooled_passages(self) -> Iterator[tuple[int, int, list[int]]]:
        """Each pooled passage's row, its headline's row and its sentences' rows."""
        ptr = [0, *self.sentence_ptr]
        for row, headline in self.pooled:
            yield row, headline, [sentence for _, _, sentence in self.sentence_spans[ptr[row] : ptr[row + 1]]]

    @property
    def passages_embedded(self) -> int:
        """Passages whose vector is new: encoded afresh, or pooled from at least one sentence that was."""
        encoded = sum(1 for _, kind, _ in self.pending if kind == Embeds.PASSAGE)
        fresh = {row for _, kind, row in self.pending if kind == Embeds.SENTENCE}
        return encoded + sum(1 for _, _, rows in self._pooled_passages() if not fresh.isdisjoint(rows))

    def sentence_table(self, count: int) -> np.ndarray:
        """(article position, start, end) of every distinct sentence row: sentence search finds rows."""
        table = np.zeros((count, 3), dtype=np.int64)
        ptr = [0, *self.sentence_ptr]
        for passage, (position, _, _) in enumerate(self.spans):
            for start, end, row in self.sentence_spans[ptr[passage] : ptr[passage + 1]]:
                table[row] = (position, start, end)
        return table

    def sentence_texts(self, count: int) -> list[str]:
        """The text of every distinct sentence row, read off the assembled passages."""
        texts: list[str] = [""] * count
        ptr = [0, *self.sentence_ptr]
        article, text = -1, ""
        for passage, (position, _, _) in enumerate(self.spans):
            if position != article:  # an article's passages are consecutive: decode each text once
                meta = self.metas[position]
                article, text = position, bytes(self.texts[meta.text_offset : meta.text_offset + meta.text_bytes]).decode("utf-8")
            for start, end, row in self.sentence_spans[ptr[passage] : ptr[passage + 1]]:
                texts[row] = text[start:end]
        return texts
