"""bot/engine/library.py: what /articles may write, move and restore, without the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.corpus import load_articles
from bot.engine.library import ArticleRefused, archive_article, archived_articles, check_name, restore_article, save_article

GOOD = b"Headline of a new article\nBAGHDAD\nThe first paragraph says something.\n"


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["../x.txt", "a/b.txt", "..\\x.txt", "/etc/x.txt", ".hidden.txt", "x.pdf", "", " x.txt", "x\n.txt"])
def test_names_that_escape_the_folder_or_are_not_articles_are_refused_by_name(name: str) -> None:
    with pytest.raises(ArticleRefused) as refused:
        check_name(name)
    assert refused.value.name == name[:200]


def test_a_saved_article_is_indexable_with_its_metadata_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    seeds, archive = tmp_path / "seeds", tmp_path / "seeds-archive"
    seeds.mkdir()
    save_article(seeds, archive, "new.txt", GOOD, max_file_bytes=10_000, outlet="Tigris Wire",
                 url="https://example.org/a", published="2026-11-30")
    assert files(seeds) == ["new.txt"]
    [article], skipped = load_articles(seeds, max_file_bytes=10_000)
    assert skipped == [] and article.title == "Headline of a new article"
    assert (article.outlet, article.url, article.published) == ("Tigris Wire", "https://example.org/a", "2026-11-30")
    with pytest.raises(ArticleRefused, match="already in the seeds folder"):
        save_article(seeds, archive, "NEW.txt", GOOD, max_file_bytes=10_000)  # never replaces one
    assert (seeds / "new.txt").read_bytes().endswith(GOOD)


@pytest.mark.parametrize(("fields", "reason"), [
    ({"published": "30/11/2026"}, "YYYY-MM-DD"),
    ({"url": "javascript:alert(1)"}, "http"),
    ({"outlet": "two\nlines"}, "one line"),
])
def test_bad_metadata_is_refused_and_nothing_is_written(tmp_path: Path, fields: dict[str, str], reason: str) -> None:
    with pytest.raises(ArticleRefused, match=reason):
        save_article(tmp_path, tmp_path.with_name("archive"), "new.txt", GOOD, max_file_bytes=10_000, **fields)
    assert files(tmp_path) == []


def test_fields_and_a_front_matter_of_its_own_are_not_mixed(tmp_path: Path) -> None:
    own = b"---\noutlet: Someone\n---\nHeadline\nBody.\n"
    with pytest.raises(ArticleRefused, match="own front matter"):
        save_article(tmp_path, tmp_path / "a", "x.md", own, max_file_bytes=10_000, outlet="Other")
    save_article(tmp_path, tmp_path.with_name("archive"), "x.md", own, max_file_bytes=10_000)
    assert (tmp_path / "x.md").read_bytes() == own


def test_archive_then_restore_moves_the_same_bytes_and_refuses_paths_outside(tmp_path: Path) -> None:
    seeds, archive = tmp_path / "seeds", tmp_path / "seeds-archive"
    (seeds / "sub").mkdir(parents=True)
    (seeds / "sub" / "a.txt").write_bytes(GOOD)
    (tmp_path / "outside.txt").write_bytes(GOOD)
    archive_article(seeds, archive, "sub/a.txt")
    assert files(seeds) == [] and archived_articles(archive) == ["sub/a.txt"]
    for bad in ("../outside.txt", "/etc/passwd", "sub/missing.txt"):
        with pytest.raises(ArticleRefused):
            restore_article(seeds, archive, bad)
        with pytest.raises(ArticleRefused):
            archive_article(seeds, archive, bad)
    restore_article(seeds, archive, "sub/a.txt")
    assert (seeds / "sub" / "a.txt").read_bytes() == GOOD and archived_articles(archive) == []
    assert (tmp_path / "outside.txt").exists()
