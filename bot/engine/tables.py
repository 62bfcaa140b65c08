"""Array-backed views of an index's articles and passages.

A million passages as Python objects would cost gigabytes; as arrays they cost a few dozen
megabytes, and article texts are decoded from one file on disk (see `diskarray`) only when a
quote needs them. The views keep the shape callers expect: `passages[row]` is a `Passage`,
`articles[source]` an `Article`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..language import Language, question_language
from .diskarray import csr_gather, open_array
from .lru import BoundedCache
from .models import Article, Citation, Passage, Structure, article_structure, citation, paragraph_number

TEXT_CACHE = 4096  # decoded article texts kept; a question touches a few dozen
TEXT_CACHE_BYTES = 64 * 1024 * 1024  # and at most this much of them: a few long articles must not fill memory
STRUCTURE_CACHE_BYTES = 16 * 1024 * 1024  # paragraph starts and heading spans, per article


@dataclass(frozen=True, slots=True)
class ArticleMeta:
    """Everything about an article but its text, which stays on disk until needed."""

    source: str
    title: str
    dateline: str | None
    sha256: str
    body_start: int
    indexed_at: str
    text_offset: int  # byte offset in texts.npy
    text_bytes: int
    passage_rows: tuple[int, int]  # [first, last) rows of its passages
    sentence_rows: tuple[int, int]  # [first, last) rows of its distinct sentences
    published: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # the front matter's pairs, in file order


STRUCTURE_FILES = ("paragraph_ptr.npy", "paragraph_starts.npy", "heading_ptr.npy", "heading_spans.npy")


@dataclass(frozen=True, slots=True)
class StructureArrays:
    """Every article's `Structure` worked out at build time, in CSR form: a reply may cite dozens of
    articles ("also in") whose text it never shows, and then needs only their paragraph numbers."""

    paragraph_ptr: np.ndarray  # (articles + 1,) into paragraph_starts
    paragraph_starts: np.ndarray
    heading_ptr: np.ndarray  # (articles + 1,) into heading_spans
    heading_spans: np.ndarray  # (headings, 2)

    @classmethod
    def compute(cls, metas: Sequence[ArticleMeta], texts: bytes | bytearray) -> "StructureArrays":
        paragraphs: list[int] = []
        headings: list[tuple[int, int]] = []
        paragraph_ptr, heading_ptr = [0], [0]
        for meta in metas:
            text = bytes(texts[meta.text_offset : meta.text_offset + meta.text_bytes]).decode("utf-8")
            starts, spans = article_structure(meta.source, text, meta.body_start)
            paragraphs += starts
            headings += spans
            paragraph_ptr.append(len(paragraphs))
            heading_ptr.append(len(headings))
        return cls(np.array(paragraph_ptr, dtype=np.int64), np.array(paragraphs, dtype=np.int64),
                   np.array(heading_ptr, dtype=np.int64), np.array(headings, dtype=np.int64).reshape(-1, 2))

    def save(self, folder: Path) -> None:
        for name, array in zip(STRUCTURE_FILES, (self.paragraph_ptr, self.paragraph_starts,
                                                 self.heading_ptr, self.heading_spans)):
            np.save(folder / name, array)

    @classmethod
    def load(cls, folder: Path, articles: int) -> "StructureArrays | None":
        """None for a build made before these files existed: its structures are worked out as needed."""
        if not all((folder / name).is_file() for name in STRUCTURE_FILES):
            return None
        found = cls(*(open_array(folder / name) for name in STRUCTURE_FILES))  # on disk, read by rows
        if len(found.paragraph_ptr) != articles + 1 or len(found.heading_ptr) != articles + 1:
            raise ValueError("the paragraph tables do not match the article count")
        return found

    def paragraph_number(self, i: int, offset: int) -> int:
        """`models.paragraph_number` of article `i`'s paragraphs, read in place: no tuple is built."""
        p0, p1 = int(self.paragraph_ptr[i]), int(self.paragraph_ptr[i + 1])
        return paragraph_number(self.paragraph_starts[p0:p1], offset)

    def of(self, i: int) -> Structure:
        p0, p1 = int(self.paragraph_ptr[i]), int(self.paragraph_ptr[i + 1])
        h0, h1 = int(self.heading_ptr[i]), int(self.heading_ptr[i + 1])
        return (tuple(self.paragraph_starts[p0:p1].tolist()),
                tuple(map(tuple, self.heading_spans[h0:h1].tolist())))


class ArticleTable(Mapping[str, Article]):
    """source -> Article, texts decoded lazily from the concatenated UTF-8 file.

    The caches are the table's own and hold nothing that points back at it, so a table a rebuild
    replaced is freed as soon as the last question using it ends (see `lru`).
    """

    def __init__(self, metas: list[ArticleMeta], texts: bytes | np.ndarray, *,
                 cache_bytes: int = TEXT_CACHE_BYTES, structures: StructureArrays | None = None) -> None:
        self.metas = metas
        self.position = {meta.source: i for i, meta in enumerate(metas)}
        self._texts = texts
        self._stored = structures
        self.decoded: BoundedCache[int, str] = BoundedCache(TEXT_CACHE, cache_bytes)
        self._structures: BoundedCache[int, Structure] = BoundedCache(
            TEXT_CACHE, STRUCTURE_CACHE_BYTES, lambda found: 8 * (len(found[0]) + 2 * len(found[1])) + 64)
        self._main_language: Language | None = None

    def main_language(self) -> Language:
        """The language most of the indexed sentences are written in, each article's told by its headline.

        A question's words can only match articles in its own language; when those are few, word
        matching would rank them first whatever they say (see `Engine.ask`).
        """
        if self._main_language is None:
            sentences: dict[Language, int] = {}
            for meta in self.metas:
                language = question_language(meta.title)
                sentences[language] = sentences.get(language, 0) + meta.sentence_rows[1] - meta.sentence_rows[0]
            self._main_language = max(sentences, key=lambda language: sentences[language], default="en")
        return self._main_language

    def _decode_uncached(self, i: int) -> str:
        meta = self.metas[i]
        return bytes(self._texts[meta.text_offset : meta.text_offset + meta.text_bytes]).decode("utf-8")

    def text(self, i: int) -> str:
        found = self.decoded.peek(i)
        return found if found is not None else self.decoded.put(i, self._decode_uncached(i))

    def structure(self, i: int) -> Structure:
        """Paragraph starts and heading spans of article `i`: from the build, or worked out once per index."""
        found = self._structures.peek(i)
        if found is None:
            meta = self.metas[i]
            found = self._structures.put(i, self._stored.of(i) if self._stored is not None
                                         else article_structure(meta.source, self.text(i), meta.body_start))
        return found

    def cite(self, i: int, start: int, end: int) -> Citation:
        """`Article.cite` of article `i`, from its metadata and structure: no text is decoded for it
        when the build stored the structures, and their paragraph starts are searched where they lie
        (a reply at 100,000 passages cites about a hundred articles, most of them outside every cache)."""
        meta = self.metas[i]
        paragraph = (self._stored.paragraph_number(i, start) if self._stored is not None
                     else paragraph_number(self.structure(i)[0], start))
        return citation(meta.source, meta.title, meta.metadata, meta.published, paragraph, start, end)

    def at(self, i: int) -> Article:
        meta = self.metas[i]
        return Article(meta.source, meta.title, meta.dateline, self.text(i), meta.sha256, meta.body_start,
                       meta.published, meta.metadata, self.structure(i))

    def __getitem__(self, source: str) -> Article:
        return self.at(self.position[source])

    def __iter__(self) -> Iterator[str]:
        return (meta.source for meta in self.metas)

    def __len__(self) -> int:
        return len(self.metas)


class PassageTable(Sequence[Passage]):
    """Passages as rows of (article, start, end), with their sentences in CSR form."""

    def __init__(
        self, articles: ArticleTable, spans: np.ndarray, sentence_ptr: np.ndarray, sentence_spans: np.ndarray
    ) -> None:
        self._articles = articles
        self.spans = spans  # (N, 3) int64: article position, start, end
        self.sentence_ptr = sentence_ptr  # (N + 1,) int64 into sentence_spans
        self.sentence_spans = sentence_spans  # (M, 3) int64: start, end, row in the sentence vectors

    def __len__(self) -> int:
        return int(self.spans.shape[0])

    def source(self, row: int) -> str:
        return self._articles.metas[int(self.spans[row, 0])].source

    def sentence_rows(self, row: int) -> tuple[int, ...]:
        lo, hi = int(self.sentence_ptr[row]), int(self.sentence_ptr[row + 1])
        return tuple(np.asarray(self.sentence_spans[lo:hi, 2]).tolist())  # one copy, not one memmap read per row

    def sentence_rows_of_each(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(the sentence rows of every passage in `rows`, end to end; which of `rows` each came from):
        one gather for the few dozen passages a question reads, not one read per passage."""
        spans, owners = csr_gather(self.sentence_ptr, self.sentence_spans, rows)
        return spans[:, 2] if len(spans) else np.zeros(0, dtype=np.int64), owners

    def __getitem__(self, row: int) -> Passage:  # type: ignore[override]
        if not -len(self) <= row < len(self):
            raise IndexError(row)
        row %= len(self)
        article, start, end = self.spans[row].tolist()
        text = self._articles.text(article)
        lo, hi = int(self.sentence_ptr[row]), int(self.sentence_ptr[row + 1])
        sentences = tuple(map(tuple, np.asarray(self.sentence_spans[lo:hi, :2]).tolist()))
        return Passage(self._articles.metas[article].source, start, end, text[start:end], sentences)


class SentenceRows(Sequence[tuple[int, ...]]):
    """passage row -> rows of its sentences in the sentence vectors."""

    def __init__(self, passages: PassageTable) -> None:
        self._passages = passages

    def __len__(self) -> int:
        return len(self._passages)

    def __getitem__(self, row: int) -> tuple[int, ...]:  # type: ignore[override]
        return self._passages.sentence_rows(row)
