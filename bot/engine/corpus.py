"""Read the seeds folder into `Article`s, refusing (and naming) every file that cannot be used.

Quotes are exact slices of `Article.text`, so the text is the file's bytes decoded as strict
UTF-8 and nothing else: no newline translation, and a BOM stays in place as one character.
One bad file never stops the others from being indexed; it becomes a `Skipped` with a reason
written for the person who has to fix it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .models import Article, Skipped

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")  # compared case-insensitively: "NOTES.TXT" is an article too

_VISIBLE = re.compile(r"[^\s\ufeff]")
_LINE_END = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # as str.splitlines
_CAPS_WORD = r"[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ.'’-]*"
_PLACE = rf"(?=\S{{3}}){_CAPS_WORD}(?: {_CAPS_WORD})*"  # "BAGHDAD", "NEW YORK"; not "US"
_REGION = r", [A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*)*"  # ", Kurdistan Region"
_CREDIT = r"(?: \([A-Za-z][\w .&-]*\))?"  # " (Reuters)": skipped, not part of the dateline
_DATELINE_LINE = re.compile(rf"({_PLACE}(?:{_REGION})?){_CREDIT}[ \t]*")
_DATELINE_PREFIX = re.compile(rf"({_PLACE}(?:{_REGION})?){_CREDIT}(?: +-|\s*[–—])\s*(?=\S)")
_MD_HEADING = re.compile(r"\A#{1,6}\s+(?=\S)")  # "# Title" -> "Title"


@dataclass(frozen=True, slots=True)
class _SeedFile:
    source: str  # relative POSIX path, as shown to people
    path: Path  # what is read: for a link, the target it resolved to when listed
    is_link: bool = False


def load_articles(seeds_dir: Path, *, max_file_bytes: int) -> tuple[list[Article], list[Skipped]]:
    """Every usable article under `seeds_dir`, in path order, plus the files left out and why."""
    files, skipped = _list_seed_files(seeds_dir)
    articles: list[Article] = []
    for seed in files:
        result = _read_seed(seed, max_file_bytes)
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            articles.append(_parse(seed.source, *result))
    skipped.sort(key=lambda item: item.source)
    for item in skipped:
        log.warning("Skipping seeds file %s: %s", item.source, item.reason)
    return articles, skipped


def seed_hashes(seeds_dir: Path, *, max_file_bytes: int) -> dict[str, str]:
    """source -> sha256 of exactly the files `load_articles` would index, without parsing them.

    Cheap enough for every start: it tells whether the saved index is stale. It stays quiet
    about skipped files; the rebuild that follows a change names them.
    """
    files, _ = _list_seed_files(seeds_dir)
    hashes: dict[str, str] = {}
    for seed in files:
        result = _read_seed(seed, max_file_bytes)
        if not isinstance(result, Skipped):
            hashes[seed.source] = result[1]
    return hashes


def _list_seed_files(seeds_dir: Path) -> tuple[list[_SeedFile], list[Skipped]]:
    """The candidate files, sorted, with links out of the folder refused before anything is read.

    Linked folders are never walked: one pointing inside holds files the walk already sees,
    and one pointing outside must not be read. A file reachable by several links is listed
    once, under its real name when that is itself a candidate.
    """
    if not seeds_dir.exists():
        raise FileNotFoundError(
            f"Seeds folder not found: {seeds_dir} (set SEEDS_DIR to the folder of articles)"
        )
    if not seeds_dir.is_dir():
        raise NotADirectoryError(f"Seeds folder is a file, not a folder: {seeds_dir}")
    root = seeds_dir.resolve()
    skipped: list[Skipped] = []

    def folder_error(error: OSError) -> None:
        where = _relative(Path(error.filename), seeds_dir) if error.filename else "."
        skipped.append(Skipped(where, f"folder could not be read: {error.strerror or error}"))

    by_target: dict[Path, list[_SeedFile]] = {}
    for folder, dirnames, filenames in os.walk(seeds_dir, onerror=folder_error):
        for name in dirnames:
            path = Path(folder, name)
            if path.is_symlink() and not _points_inside(path, root):
                skipped.append(Skipped(_relative(path, seeds_dir), "link points outside the seeds folder"))
        for name in filenames:
            if not name.lower().endswith(SUFFIXES):
                continue
            path = Path(folder, name)
            seed = _SeedFile(_relative(path, seeds_dir), path)
            if not path.is_symlink():
                by_target.setdefault(path.resolve(), []).append(seed)
                continue
            try:
                target = path.resolve(strict=True)
            except FileNotFoundError:
                skipped.append(Skipped(seed.source, "broken link: its target does not exist"))
                continue
            except (OSError, RuntimeError) as error:  # a link loop (RuntimeError before 3.13)
                skipped.append(Skipped(seed.source, f"link cannot be followed: {error}"))
                continue
            if not target.is_relative_to(root):
                skipped.append(Skipped(seed.source, "link points outside the seeds folder"))
            else:  # read the checked target, not the link, which could be changed meanwhile
                by_target.setdefault(target, []).append(_SeedFile(seed.source, target, is_link=True))
    files = [min(seeds, key=lambda s: (s.is_link, s.source)) for seeds in by_target.values()]
    return sorted(files, key=lambda s: s.source), skipped


def _points_inside(link: Path, root: Path) -> bool:
    """Whether a link resolves into the seeds folder (a broken or looping link does not)."""
    try:
        return link.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _relative(path: Path, seeds_dir: Path) -> str:
    return path.relative_to(seeds_dir).as_posix()


def _read_seed(seed: _SeedFile, max_file_bytes: int) -> tuple[str, str] | Skipped:
    """(text, sha256) of a usable file, or why it cannot be used."""
    try:
        info = seed.path.stat()
        if not stat.S_ISREG(info.st_mode):
            return Skipped(seed.source, "not a regular file")
        if info.st_size > max_file_bytes:
            return Skipped(seed.source, _too_large(info.st_size, max_file_bytes))
        with seed.path.open("rb") as handle:
            data = handle.read(max_file_bytes + 1)  # the file may have grown since stat()
    except FileNotFoundError:
        return Skipped(seed.source, "vanished during reading")
    except OSError as error:
        return Skipped(seed.source, f"could not be read: {error.strerror or error}")
    if len(data) > max_file_bytes:
        return Skipped(seed.source, _too_large(len(data), max_file_bytes, grew=True))
    if not data:
        return Skipped(seed.source, "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Skipped(seed.source, "UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        return Skipped(seed.source, "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = f"0x{data[error.start]:02x}"
        return Skipped(seed.source, f"not UTF-8 text: invalid byte {bad} at byte offset {error.start}")
    if _visible_from(text, 0) == len(text):
        return Skipped(seed.source, "empty file (only whitespace)")
    return text, hashlib.sha256(data).hexdigest()


def _too_large(size: int, limit: int, *, grew: bool = False) -> str:
    size_text = f"more than {limit:,}" if grew else f"{size:,}"
    return f"file is {size_text} bytes, over the limit of {limit:,} bytes (MAX_FILE_BYTES)"


def _parse(source: str, text: str, sha256: str) -> Article:
    """Split headline and dateline off the body, so that quotes are never cut from either."""
    start = _visible_from(text, 0)
    end = _line_end(text, start)
    title = text[start:end].strip()
    if source.lower().endswith(".md"):
        title = _MD_HEADING.sub("", title, count=1)
    dateline: str | None = None
    body = _visible_from(text, end)
    if body < len(text):
        line_end = _line_end(text, body)
        if match := _DATELINE_LINE.fullmatch(text, body, line_end):
            dateline, body = match.group(1), _visible_from(text, line_end)
        elif match := _DATELINE_PREFIX.match(text, body, line_end):
            dateline, body = match.group(1), match.end()
    return Article(source, title, dateline, text, sha256, body)


def _visible_from(text: str, position: int) -> int:
    """Offset of the first character at or after `position` that is not whitespace or a BOM."""
    match = _VISIBLE.search(text, position)
    return match.start() if match else len(text)


def _line_end(text: str, position: int) -> int:
    match = _LINE_END.search(text, position)
    return match.start() if match else len(text)
