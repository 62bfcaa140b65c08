"""What the engine keeps between questions is bounded by memory, not only by count, and a
question about the index (`/sources`) does not re-read every seeds file."""

from __future__ import annotations

import numpy as np

from bot.engine import corpus
from bot.engine.tables import ArticleMeta, ArticleTable


def _table(count: int, size: int, cache_bytes: int) -> tuple[ArticleTable, list[str]]:
    texts = [f"Headline {i}\n" + chr(ord("a") + i % 26) * size for i in range(count)]
    blob = "".join(texts).encode("utf-8")
    metas, offset = [], 0
    for i, text in enumerate(texts):
        n = len(text.encode("utf-8"))
        metas.append(ArticleMeta(f"{i}.txt", f"Headline {i}", None, "0" * 64, len(text.split("\n")[0]) + 1,
                                 "2026-01-01T00:00:00+00:00", offset, n, (0, 0), (0, 0)))
        offset += n
    return ArticleTable(metas, np.frombuffer(blob, dtype=np.uint8), cache_bytes=cache_bytes), texts


def test_decoded_article_texts_are_kept_within_a_byte_budget():
    """Forty 1 MB articles against an 8 MB budget: every text reads right, at most 8 MB stay decoded."""
    table, texts = _table(40, 1_000_000, cache_bytes=8_000_000)
    for _ in range(2):
        for i, text in enumerate(texts):
            assert table.text(i) == text and table.at(i).text == text
            assert table.decoded.bytes <= 8_000_000
    assert 1 <= len(table.decoded) <= 8
    small, texts = _table(20, 100, cache_bytes=8_000_000)
    for i in range(20):
        small.text(i)
    assert len(small.decoded) == 20 and small.text(3) is small.text(3)  # small texts are all kept


def test_sources_hashes_only_the_seeds_files_that_changed(fresh_settings, embedder, monkeypatch):
    from bot.engine.engine import Engine

    engine = Engine.open(fresh_settings, embedder=embedder)
    reads: list[str] = []
    real = corpus._read_seed

    def counted(seed, max_file_bytes):
        reads.append(seed.source)
        return real(seed, max_file_bytes)

    monkeypatch.setattr(corpus, "_read_seed", counted)
    assert engine.sources().seeds_changed is False
    first = len(reads)
    assert engine.sources().seeds_changed is False and engine.sources().seeds_changed is False
    assert len(reads) == first <= 3  # the second and third call hashed nothing
    edited = fresh_settings.seeds_dir / "003_42fc9fe0a8eacdba.txt"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nA new paragraph.\n", encoding="utf-8")
    assert engine.sources().seeds_changed is True  # a change is still seen
    assert reads[first:] == ["003_42fc9fe0a8eacdba.txt"]
    (fresh_settings.seeds_dir / "new.txt").write_text("New story\n\nTalks resumed.\n", encoding="utf-8")
    assert engine.sources().seeds_changed is True
    assert reads[first + 1:] == ["new.txt"]
