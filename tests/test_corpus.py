"""Reading the seeds folder: the right articles, exact text, and every refusal named."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import pytest

from bot.engine import corpus
from bot.engine.corpus import load_articles, seed_hashes
from bot.engine.models import Skipped
from bot.engine.passages import make_passages

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
LIMIT = 10_000
GOOD = "Good headline\n\nA first sentence. A second one.\n"


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    return folder


def load(folder: Path, limit: int = LIMIT) -> tuple[list, list[Skipped]]:
    return load_articles(folder, max_file_bytes=limit)


def reasons(skipped: list[Skipped]) -> dict[str, str]:
    return {item.source: item.reason for item in skipped}


def test_real_seeds_load_with_titles_datelines_and_exact_text(tmp_path: Path) -> None:
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    articles, skipped = load(folder, limit=5_000_000)
    assert skipped == []
    assert [a.source for a in articles] == [
        "000_389047a5565d4974.txt",
        "001_d007a2e75fab5d5c.txt",
        "003_42fc9fe0a8eacdba.txt",
    ]
    assert [a.title for a in articles] == [
        "Maliki says to continue prime minister bid, rejects Trump’s threats",
        "Maliki defiant after US threatens to withdraw Iraq support",
        "US reiterates readiness to counter Iran’s influence in Iraq",
    ]
    assert [a.dateline for a in articles] == ["ERBIL, Kurdistan Region", "BAGHDAD", "ERBIL, Kurdistan Region"]
    bodies = [a.text[a.body_start :] for a in articles]
    assert bodies[0].startswith("Prominent Iraqi politician Nouri al-Maliki on Wednesday said")
    assert bodies[1].startswith("Former Iraqi Prime Minister Nouri al-Maliki expressed defiance")
    assert bodies[2].startswith("Washington has reiterated its readiness")
    for article in articles:
        data = (folder / article.source).read_bytes()
        assert article.text == data.decode("utf-8")
        assert article.sha256 == hashlib.sha256(data).hexdigest()
        assert article.paragraph_at(article.body_start) == 1


def test_crlf_and_bom_are_kept_and_offsets_stay_exact(seeds: Path) -> None:
    data = "\ufeffThe headline\r\n\r\nBAGHDAD\r\n\r\nFirst sentence here. Second one.\r\nNext paragraph.\r\n"
    (seeds / "crlf.txt").write_bytes(data.encode("utf-8"))
    articles, _ = load(seeds)
    article = next(a for a in articles if a.source == "crlf.txt")
    assert article.text == data  # no newline translation, BOM still the first character
    assert article.title == "The headline"
    assert article.dateline == "BAGHDAD"
    assert article.body_start == data.index("First")
    passages = make_passages(article, max_tokens=100, overlap_sentences=0)
    assert [article.text[s:e] for p in passages for s, e in p.sentences] == [
        "First sentence here.",
        "Second one.",
        "Next paragraph.",
    ]
    assert article.paragraph_at(data.index("Next")) == 2


@pytest.mark.parametrize(
    ("body", "dateline", "starts"),
    [
        ("ERBIL, Kurdistan Region - Officials said", "ERBIL, Kurdistan Region", "Officials said"),
        ("BAGHDAD – Officials said", "BAGHDAD", "Officials said"),
        ("NEW YORK — Officials said", "NEW YORK", "Officials said"),
        ("BAGHDAD (Reuters) - Officials said", "BAGHDAD", "Officials said"),
        ("BAGHDAD\n\nOfficials said", "BAGHDAD", "Officials said"),
        ("US - Iraq talks resumed.", None, "US - Iraq talks"),
        ("Officials in BAGHDAD - said", None, "Officials in BAGHDAD"),
        ("ERBIL-based officials said", None, "ERBIL-based"),
    ],
)
def test_datelines(seeds: Path, body: str, dateline: str | None, starts: str) -> None:
    (seeds / "d.txt").write_text(f"Headline\n{body}\n", encoding="utf-8")
    article = next(a for a in load(seeds)[0] if a.source == "d.txt")
    assert article.dateline == dateline
    assert article.text[article.body_start :].startswith(starts)


def test_headline_only_file_is_kept_without_passages(seeds: Path) -> None:
    (seeds / "only.txt").write_text("  Just a headline  \n\n", encoding="utf-8")
    article = next(a for a in load(seeds)[0] if a.source == "only.txt")
    assert article.title == "Just a headline"
    assert article.body_start == len(article.text)
    assert make_passages(article, max_tokens=50, overlap_sentences=1) == []


def test_nested_markdown_and_other_files(seeds: Path) -> None:
    (seeds / "b").mkdir()
    (seeds / "b" / "z.md").write_text("# Markdown title\n\nBody.\n", encoding="utf-8")
    (seeds / "a.TXT").write_text("Upper case suffix\nBody.\n", encoding="utf-8")
    (seeds / "c.md").write_text("C# 12 is out\nBody.\n", encoding="utf-8")
    (seeds / "notes.pdf").write_bytes(b"%PDF-1.4 \x00\x01")
    (seeds / "folder.txt").mkdir()  # a folder with an article-like name is not a file
    articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["a.TXT", "b/z.md", "c.md", "good.txt"]
    assert [a.title for a in articles[1:3]] == ["Markdown title", "C# 12 is out"]
    assert skipped == []


@pytest.mark.parametrize(
    ("name", "content", "reason_has"),
    [
        ("empty.txt", b"", ["empty"]),
        ("blank.txt", b" \r\n\t\n\xef\xbb\xbf \n", ["empty", "whitespace"]),
        ("huge.txt", b"Headline\n" + b"x" * LIMIT, [f"{LIMIT + 9:,}", f"{LIMIT:,}"]),
        ("binary.txt", b"Head\x00line\nBody.\n", ["binary"]),
        ("latin1.txt", "Headline\nCafé au lait.\n".encode("latin-1"), ["UTF-8", "0xe9", "offset 12"]),
        ("utf16.txt", "Headline\nBody.\n".encode("utf-16"), ["UTF-16"]),
    ],
)
def test_unusable_files_are_skipped_and_named(
    seeds: Path, caplog: pytest.LogCaptureFixture, name: str, content: bytes, reason_has: list[str]
) -> None:
    (seeds / name).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="bot.engine.corpus"):
        articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["good.txt"]
    assert [item.source for item in skipped] == [name]
    for fragment in reason_has:
        assert fragment in skipped[0].reason
    assert name in caplog.text


def test_too_large_file_is_never_read(seeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = seeds / "big.txt"
    big.write_bytes(b"Headline\n" + b"word " * 1000)
    real_open = Path.open

    def guarded_open(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert self.name != "big.txt", "an oversized file was opened"
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    articles, skipped = load(seeds, limit=1000)
    assert [a.source for a in articles] == ["good.txt"]
    assert reasons(skipped) == {
        "big.txt": "file is 5,009 bytes, over the limit of 1,000 bytes (MAX_FILE_BYTES)"
    }


def test_unreadable_file_is_skipped_with_the_os_reason(seeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated, because the tests may run as root, who can read a chmod 000 file.
    (seeds / "locked.txt").write_text(GOOD, encoding="utf-8")
    real_open = Path.open

    def refusing_open(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["good.txt"]
    assert reasons(skipped) == {"locked.txt": "could not be read: Permission denied"}


def test_file_that_vanishes_after_listing_is_skipped(seeds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (seeds / "gone.txt").write_text(GOOD, encoding="utf-8")
    real_list = corpus._list_seed_files

    def list_then_delete(folder: Path):  # type: ignore[no-untyped-def]
        listed = real_list(folder)
        (folder / "gone.txt").unlink()
        return listed

    monkeypatch.setattr(corpus, "_list_seed_files", list_then_delete)
    articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["good.txt"]
    assert reasons(skipped) == {"gone.txt": "vanished during reading"}


def test_links_pointing_outside_are_refused_and_never_read(
    seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret headline\nSecret body.\n", encoding="utf-8")
    (seeds / "leak.txt").symlink_to(outside / "secret.txt")
    (seeds / "leakdir").symlink_to(outside, target_is_directory=True)
    real_open = Path.open

    def guarded_open(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert "private" not in str(self), "a file outside the seeds folder was opened"
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", guarded_open)
    articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["good.txt"]
    assert reasons(skipped) == {
        "leak.txt": "link points outside the seeds folder",
        "leakdir": "link points outside the seeds folder",
    }
    assert seed_hashes(seeds, max_file_bytes=LIMIT).keys() == {"good.txt"}


def test_links_inside_are_indexed_once(seeds: Path) -> None:
    (seeds / "sub").mkdir()
    (seeds / "sub" / "alias.txt").symlink_to(seeds / "good.txt")
    (seeds / "a_alias.txt").symlink_to(seeds / "good.txt")  # sorts before the real name
    (seeds / "again").symlink_to(seeds / "sub", target_is_directory=True)
    (seeds / "raw").mkdir()
    (seeds / "raw" / "article.dat").write_text("Linked headline\nBody.\n", encoding="utf-8")
    (seeds / "linked.txt").symlink_to(Path("raw") / "article.dat")  # relative link
    (seeds / "broken.txt").symlink_to(seeds / "missing.txt")
    articles, skipped = load(seeds)
    assert [a.source for a in articles] == ["good.txt", "linked.txt"]  # real name wins over the alias
    assert articles[1].title == "Linked headline"
    assert reasons(skipped) == {"broken.txt": "broken link: its target does not exist"}


def test_seed_hashes_agree_with_load_articles(seeds: Path) -> None:
    shutil.copy(SEEDS / "001_d007a2e75fab5d5c.txt", seeds / "nested.txt")
    (seeds / "d").mkdir()
    (seeds / "d" / "crlf.md").write_bytes(b"\xef\xbb\xbfTitle\r\nBody.\r\n")
    (seeds / "bad.txt").write_bytes(b"\xff\xfeoops")
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "big.txt").write_bytes(b"x" * (LIMIT + 1))
    articles, skipped = load(seeds)
    assert len(skipped) == 3
    hashes = seed_hashes(seeds, max_file_bytes=LIMIT)
    assert hashes == {a.source: a.sha256 for a in articles}
    assert hashes.keys() == {"good.txt", "nested.txt", "d/crlf.md"}
    (seeds / "good.txt").write_text(GOOD + "More.\n", encoding="utf-8")
    assert seed_hashes(seeds, max_file_bytes=LIMIT)["good.txt"] != hashes["good.txt"]


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="Seeds folder not found: .*nowhere"):
        load(missing)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        seed_hashes(missing, max_file_bytes=LIMIT)
    a_file = tmp_path / "file.txt"
    a_file.write_text(GOOD, encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="file.txt"):
        load(a_file)


def test_paragraph_numbers_count_the_non_blank_body_lines_of_a_seed_article():
    article = load_articles(SEEDS, max_file_bytes=5_000_000)[0][0]
    body = article.text[article.body_start :]
    position, expected = article.body_start, 0
    for line in body.splitlines(keepends=True):
        if line.strip():
            expected += 1
            for offset in (position, position + len(line) - 1):  # first and last character of the line
                assert article.paragraph_at(offset) == expected
        position += len(line)
    assert expected > 10 and article.paragraph_at(len(article.text) + 5) == expected
