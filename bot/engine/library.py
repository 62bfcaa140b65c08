"""Adding, archiving and restoring seeds files on behalf of an admin (`/articles`).

Why these rules: an admin who can manage the Discord server but not the machine uploads a file, and
nothing they send may escape the seeds folder, replace an article, or leave half a file behind.
So a name is one plain file name (`../x.txt`, `a/b.txt`, `.hidden.txt` are refused by name), the
bytes pass the same checks as every seeds file (`corpus.check_seed_bytes`), and the file is
written to a temporary name, fsynced and renamed into place. Removing moves the file to the archive
folder (never indexed, nothing deleted); restoring moves it back.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

from .corpus import SUFFIXES, check_seed_bytes, parse_front_matter
from .models import Skipped
from .store.layout import fsync_dir

_URL = re.compile(r"https?://\S+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x1f\x7f]")


class ArticleRefused(ValueError):
    """The upload, removal or restore cannot be done; the message names the file and says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def check_name(name: str) -> str:
    """The file name to save under, or ArticleRefused: one plain .txt/.md name inside the folder."""
    shown = name[:200]
    if not name or name.strip() != name:
        raise ArticleRefused(shown, "the file name is empty or starts or ends with a space")
    if "/" in name or "\\" in name or name in (".", "..") or ".." in Path(name).parts:
        raise ArticleRefused(shown, "the file name must not contain a folder (no / or \\ or ..)")
    if name.startswith("."):
        raise ArticleRefused(shown, "the file name must not start with a dot")
    if _UNSAFE_VALUE.search(name) or len(name.encode("utf-8")) > 200:
        raise ArticleRefused(shown, "the file name has control characters or is over 200 bytes")
    if not name.lower().endswith(SUFFIXES):
        raise ArticleRefused(shown, "only .txt and .md files are articles")
    return name


def front_matter(outlet: str | None, url: str | None, published: str | None) -> str:
    """The `---` block that makes the optional fields the article's metadata ("" without any)."""
    lines = []
    for key, value in (("outlet", outlet), ("url", url), ("published", published)):
        if value is None or not value.strip():
            continue
        value = value.strip()
        if _UNSAFE_VALUE.search(value) or len(value) > 500:
            raise ArticleRefused(key, "must be one line of at most 500 characters")
        if key == "url" and not _URL.fullmatch(value):
            raise ArticleRefused(key, "must be an http:// or https:// address")
        if key == "published":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ArticleRefused(key, "must be a date written YYYY-MM-DD") from None
        lines.append(f"{key}: {value}")
    return "---\n" + "\n".join(lines) + "\n---\n" if lines else ""


def save_article(seeds_dir: Path, archive_dir: Path, name: str, data: bytes, *, max_file_bytes: int,
                 outlet: str | None = None, url: str | None = None, published: str | None = None) -> Path:
    """Check and write one uploaded article atomically; returns its path. Changes nothing on refusal."""
    name = check_name(name)
    head = front_matter(outlet, url, published)
    if head:
        try:
            has_own = parse_front_matter(data.decode("utf-8", errors="replace").lstrip("\ufeff")).end > 0
        except ValueError:
            has_own = True
        if has_own:
            raise ArticleRefused(name, "the file has its own front matter; leave outlet, url and published empty")
    payload = head.encode("utf-8") + data if head else data
    checked = check_seed_bytes(name, payload, max_file_bytes)
    if isinstance(checked, Skipped):
        raise ArticleRefused(name, checked.reason)
    target = seeds_dir / name
    if _exists_case_insensitive(seeds_dir, name):
        raise ArticleRefused(name, "an article with this name is already in the seeds folder")
    if (archive_dir / name).exists():
        raise ArticleRefused(name, "an archived article has this name; restore it or pick another name")
    seeds_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=seeds_dir)  # .part: never indexed
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(seeds_dir)
    return target


def _exists_case_insensitive(folder: Path, name: str) -> bool:
    """Whether `folder` holds `name` (on a case-insensitive file system "A.txt" is "a.txt" too)."""
    if (folder / name).exists():
        return True
    lowered = name.lower()
    return folder.is_dir() and any(entry.name.lower() == lowered for entry in os.scandir(folder))


def _inside(folder: Path, source: str, label: str) -> Path:
    """`folder/source`, refused unless it is a file that really lies inside `folder`."""
    if not source or source.startswith("/") or "\\" in source or ".." in Path(source).parts:
        raise ArticleRefused(source[:200], f"not a file in the {label}")
    path = folder / source
    if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(folder.resolve()):
        raise ArticleRefused(source[:200], f"not a file in the {label}")
    return path


def _move(source_path: Path, target: Path) -> None:
    """Rename (or, across file systems, copy, fsync and delete) without overwriting anything."""
    if target.exists():
        raise ArticleRefused(target.name, "a file with this name is already there")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source_path, target)  # fails if the target appeared meanwhile: never overwrites
    except OSError:
        shutil.copy2(source_path, target)
        with target.open("rb") as stream:
            os.fsync(stream.fileno())
    fsync_dir(target.parent)
    source_path.unlink()
    fsync_dir(source_path.parent)


def archive_article(seeds_dir: Path, archive_dir: Path, source: str) -> Path:
    """Move an indexed article's file into the archive; returns where it went."""
    path = _inside(seeds_dir, source, "seeds folder")
    target = archive_dir / source
    _move(path, target)
    return target


def restore_article(seeds_dir: Path, archive_dir: Path, source: str) -> Path:
    """Move an archived file back into the seeds folder, where it was."""
    path = _inside(archive_dir, source, "archive")
    target = seeds_dir / source
    _move(path, target)
    return target


def archived_articles(archive_dir: Path) -> list[str]:
    """The archive's articles, as sources relative to it."""
    if not archive_dir.is_dir():
        return []
    return sorted(path.relative_to(archive_dir).as_posix() for path in archive_dir.rglob("*")
                  if path.is_file() and path.name.lower().endswith(SUFFIXES))
