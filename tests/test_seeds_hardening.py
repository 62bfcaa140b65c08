"""A messy seeds folder: every refusal names its file, the rest is indexed, quotes stay exact."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from bot.config import load_settings
from bot.engine.store import building, loading
from bot.engine.engine import Engine, build_params


class HashEmbedder:
    """Deterministic vectors from text hashes: for tests of file handling, where meaning is irrelevant."""

    name = "test-hash"
    dimension = 16

    def __init__(self, on_encode=None) -> None:
        self.on_encode = on_encode

    def encode(self, texts, *, batch_size=32, progress=False):
        if self.on_encode:
            self.on_encode()
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.dimension)

    def encode_queries(self, texts, *, batch_size=32):
        return self.encode(texts, batch_size=batch_size)

    def count_tokens(self, text):
        return len(text.split())


def _settings(tmp_path, **extra):
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    return load_settings(seeds_dir=seeds, index_dir=tmp_path / "index", **extra)


def test_thousands_of_files_with_bad_ones_among_them(tmp_path):
    settings = _settings(tmp_path)
    seeds = settings.seeds_dir
    for i in range(2000):
        (seeds / f"a{i:04d}.txt").write_text(f"Story {i}\n\nMaliki met delegation number {i} in Baghdad.\n")
    (seeds / "huge.txt").write_bytes(b"Huge\n\n" + b"word " * 10_500_000)  # about 50 MB
    (seeds / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "latin1.txt").write_bytes("Caf\xe9 story\n\nna\xefve text\n".encode("latin-1"))
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret\n\nDo not index me.\n")
    os.symlink(outside, seeds / "link.txt")
    index, report = building.build(settings.index_dir, seeds, HashEmbedder(), build_params(settings),
                                   max_file_bytes=settings.max_file_bytes)
    assert len(index.articles) == 2000
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"huge.txt", "binary.txt", "empty.txt", "latin1.txt", "link.txt"}
    assert "MAX_FILE_BYTES" in reasons["huge.txt"] and "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"] and "outside" in reasons["link.txt"]
    assert not any("Do not index me" in p.text for p in index.passages)


def test_crlf_and_bom_article_is_quoted_exactly_with_the_real_model(tmp_path, embedder):
    settings = _settings(tmp_path)
    text = ("\ufeffTalks in Muscat\r\n\r\nMUSCAT\r\n\r\nUS and Iranian envoys met in Muscat on Friday to discuss"
            " the nuclear file.\r\nThe talks were indirect, mediated by Omani officials.\r\n")
    (settings.seeds_dir / "crlf.txt").write_bytes(text.encode("utf-8"))
    engine = Engine.open(settings, embedder=embedder)
    article = engine._live.index.articles["crlf.txt"]
    assert article.title == "Talks in Muscat" and article.dateline == "MUSCAT"
    answer = engine.ask("Who mediated the talks in Muscat?", abstain=False)
    on_disk = (settings.seeds_dir / "crlf.txt").read_bytes().decode("utf-8")
    assert answer.quotes and "Omani officials" in answer.quotes[0].text
    for quote in answer.quotes:
        assert quote.text == on_disk[quote.start : quote.end]
        # a sentence never keeps a line's "\r": one is only ever inside a quote of two lines, before its "\n"
        assert not quote.text.endswith("\r") and quote.text.count("\r") == quote.text.count("\r\n")


def test_a_file_changed_during_a_build_is_indexed_as_read_and_flagged_stale(tmp_path):
    settings = _settings(tmp_path)
    path = settings.seeds_dir / "story.txt"
    path.write_text("Story\n\nMaliki spoke on Monday. He rejected the threats.\n")

    def edit_mid_build():
        path.write_text("Story\n\nEverything changed on Tuesday.\n")

    index, _ = building.build(settings.index_dir, settings.seeds_dir, HashEmbedder(on_encode=edit_mid_build),
                              build_params(settings), max_file_bytes=settings.max_file_bytes)
    loaded = loading.load(settings.index_dir)
    assert all(p.text == loaded.articles[p.source].text[p.start : p.end] for p in loaded.passages)
    assert "Maliki spoke on Monday" in loaded.articles["story.txt"].text  # what was read, consistently
    assert loading.staleness(loaded.manifest, loaded.article_hashes(), settings.seeds_dir, build_params(settings),
                             max_file_bytes=settings.max_file_bytes) == "the seeds folder changed"


def test_a_file_removed_during_a_build_does_not_break_it(tmp_path):
    settings = _settings(tmp_path)
    for name in ("a.txt", "b.txt"):
        (settings.seeds_dir / name).write_text(f"Story {name}\n\nMaliki spoke about {name}.\n")

    def remove_mid_build():
        (settings.seeds_dir / "b.txt").unlink(missing_ok=True)

    index, _ = building.build(settings.index_dir, settings.seeds_dir, HashEmbedder(on_encode=remove_mid_build),
                              build_params(settings), max_file_bytes=settings.max_file_bytes)
    assert set(loading.load(settings.index_dir).articles) == {"a.txt", "b.txt"}  # as read; next build drops it
    index2, report = building.build(settings.index_dir, settings.seeds_dir, HashEmbedder(), build_params(settings),
                                    max_file_bytes=settings.max_file_bytes, previous=index)
    assert report.removed == ("b.txt",) and report.embedded == 0


def test_an_empty_seeds_folder_gives_an_index_that_says_so(tmp_path):
    settings = _settings(tmp_path)
    engine = Engine.open(settings, embedder=HashEmbedder())
    answer = engine.ask("Where were the talks?")
    assert not answer.answered and answer.reason == "no-index"
