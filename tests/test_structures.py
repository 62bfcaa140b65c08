"""Paragraph numbers kept in the index: a reply citing dozens of articles ("also in") decodes none of
their texts, and the numbers are the ones the text itself gives, for every kind of seed file."""

from __future__ import annotations

import json
import shutil

import pytest

from bot.engine.engine import build_params
from bot.engine.models import article_structure
from bot.engine.store import building, layout, loading
from bot.engine.tables import STRUCTURE_FILES

from conftest import DATA


@pytest.fixture
def built(fresh_settings):
    """The launch articles and the dev corpus's (Markdown, hard-wrapped, CRLF, BOM, front matter)."""
    from test_seeds_hardening import HashEmbedder

    for path in sorted((DATA / "corpus" / "articles").iterdir()):
        shutil.copy(path, fresh_settings.seeds_dir / path.name)
    building.build(fresh_settings.index_dir, fresh_settings.seeds_dir, HashEmbedder(), build_params(fresh_settings),
                   max_file_bytes=fresh_settings.max_file_bytes)
    return fresh_settings.index_dir


def _offsets(text: str) -> list[int]:
    return list(range(0, len(text), max(1, len(text) // 40))) + [len(text) - 1]


def test_the_stored_paragraphs_and_headings_are_those_the_text_gives(built):
    articles = loading.load(built).articles
    assert len(articles) > 40
    for i, meta in enumerate(articles.metas):
        text = articles.text(i)
        assert articles.structure(i) == article_structure(meta.source, text, meta.body_start), meta.source


def test_citing_an_article_decodes_none_of_its_text(built, monkeypatch):
    articles = loading.load(built).articles
    decoded = []
    monkeypatch.setattr(type(articles), "_decode_uncached", lambda self, i: decoded.append(i) or "")
    citations = [articles.cite(i, 10, 20) for i in range(len(articles))]
    assert decoded == []
    assert [c.source for c in citations] == [meta.source for meta in articles.metas]


def test_a_build_made_before_the_tables_existed_still_loads_and_cites_alike(built):
    """Nothing indexed is lost: an older build lacks these files; its paragraphs are worked out as needed."""
    stored = loading.load(built).articles
    folder, _ = loading.read_manifest(built)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in STRUCTURE_FILES:
        (folder / name).unlink()
        del manifest["files"][name]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    pointer = {"build": folder.name, "manifest_sha256": layout.sha256_file(folder / "manifest.json")}
    (built / layout.CURRENT).write_text(json.dumps(pointer), encoding="utf-8")
    older = loading.load(built).articles
    for i in range(len(older)):
        article = older.at(i)
        for offset in _offsets(article.text):
            assert older.cite(i, offset, offset + 1) == article.cite(offset, offset + 1) == stored.cite(i, offset, offset + 1)
