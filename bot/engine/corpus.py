"""Read the seeds folder into `Article`s, refusing (and naming) every file that cannot be used.

Quotes are exact slices of `Article.text`, so the text is the file's bytes decoded as strict
UTF-8 and nothing else: no newline translation, and a BOM stays in place as one character.
One bad file never stops the others from being indexed; it becomes a `Skipped` with a reason
written for the person who has to fix it.

A file may open with front matter, `key: value` lines between `---` fences (or `key = value`
between `+++`): it is read into `Article.metadata` and never becomes headline or body.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from .models import Article, Skipped
from .sentences import RULE, is_markdown, layout

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
# An Arabic dateline: one or two Arabic words, an optional "(credit)", then a dash: "بغداد – ".
_DATELINE_PREFIX_AR = re.compile(r"([\u0621-\u064a]+(?: [\u0621-\u064a]+)?)(?: \([^()\n]{1,40}\))?(?: +-|\s*[–—])\s*(?=\S)")
# "By the Levant Review analysis desk": a short line of its own before the dateline, not news.
_BYLINE = re.compile(r"By \w[^.!?\n\r]{0,60}")
_HEADLINE_LINES = 3  # a hard-wrapped headline may take this many lines
_MD_HEADING = re.compile(r"\A#{1,6}\s+(?=\S)")  # "# Title" -> "Title"
_MD_HEADING_CLOSE = re.compile(r"\s+#+\Z")  # "# Title ##" -> "Title"
_FENCES = {"---": re.compile(r"([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*"),  # YAML-style
           "+++": re.compile(r"([A-Za-z_][\w.-]*)[ \t]*=[ \t]*(.*?)[ \t]*")}  # TOML-style
_FILE_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?!\d)")  # "2026-01-27_tigris-wire-....txt"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\S.*)?")


class FrontMatterError(ValueError):
    """A front-matter block that cannot be told apart from the article: the file is skipped."""


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The metadata block at the top of a file: its pairs, where the text after it starts, and
    the lines it could not read (nested YAML, TOML tables), kept for a warning."""

    pairs: tuple[tuple[str, str], ...] = ()
    end: int = 0
    ignored: tuple[int, ...] = ()  # 1-based line numbers


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


SeedStat = tuple[int, int, int, int, int, int]  # max_file_bytes, size, mtime, ctime, inode, device


def seed_hashes(seeds_dir: Path, *, max_file_bytes: int,
                known: dict[str, tuple[SeedStat, str | None]] | None = None) -> dict[str, str]:
    """source -> sha256 of exactly the files `load_articles` would index, without parsing them.

    Cheap enough for every start: it tells whether the saved index is stale. It stays quiet
    about skipped files; the rebuild that follows a change names them. With `known` (kept by the
    caller between calls, e.g. `/sources` asked again and again), a file whose size, times and
    inode are unchanged is not read again; `known` is pruned to the files listed now.
    """
    files, _ = _list_seed_files(seeds_dir)
    hashes: dict[str, str] = {}
    seen: dict[str, tuple[SeedStat, str | None]] = {}
    for seed in files:
        signature = _signature(seed, max_file_bytes) if known is not None else None
        remembered = known.get(seed.source) if known is not None else None
        if signature is not None and remembered is not None and remembered[0] == signature:
            digest = remembered[1]
        else:
            result = _read_seed(seed, max_file_bytes)
            digest = None if isinstance(result, Skipped) else result[1]
        if signature is not None:
            seen[seed.source] = (signature, digest)
        if digest is not None:
            hashes[seed.source] = digest
    if known is not None:
        known.clear()
        known.update(seen)
    return hashes


def _signature(seed: _SeedFile, max_file_bytes: int) -> SeedStat | None:
    """What changes whenever a file's bytes do (ctime moves on every write, even one that keeps the mtime)."""
    try:
        info = seed.path.stat()
    except OSError:
        return None
    return (max_file_bytes, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


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
    return check_seed_bytes(seed.source, data, max_file_bytes)


def check_seed_bytes(source: str, data: bytes, max_file_bytes: int) -> tuple[str, str] | Skipped:
    """(text, sha256) of a seeds file's bytes, or why they cannot be indexed: the one set of checks
    for files in the folder and for files uploaded from Discord (`library.add_article`)."""
    if len(data) > max_file_bytes:
        return Skipped(source, _too_large(len(data), max_file_bytes))
    if not data:
        return Skipped(source, "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Skipped(source, "UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        return Skipped(source, "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = f"0x{data[error.start]:02x}"
        return Skipped(source, f"not UTF-8 text: invalid byte {bad} at byte offset {error.start}")
    if _visible_from(text, 0) == len(text):
        return Skipped(source, "empty file (only whitespace)")
    try:
        parse_front_matter(text)  # here, not in _parse, so `fingerprint` skips the same files
    except FrontMatterError as error:
        return Skipped(source, str(error))
    return text, hashlib.sha256(data).hexdigest()


def _too_large(size: int, limit: int, *, grew: bool = False) -> str:
    size_text = f"more than {limit:,}" if grew else f"{size:,}"
    return f"file is {size_text} bytes, over the limit of {limit:,} bytes (MAX_FILE_BYTES)"


def _parse(source: str, text: str, sha256: str) -> Article:
    """Split front matter, headline and dateline off the body, so quotes are never cut from them."""
    front = parse_front_matter(text)
    if front.ignored:
        lines = ", ".join(map(str, front.ignored))
        log.warning("Seeds file %s: front matter line(s) %s ignored (only flat `key: value` lines are read)",
                    source, lines)
    start = _visible_from(text, front.end)
    while start < len(text) and RULE.match(text, start, _line_end(text, start)):
        start = _visible_from(text, _line_end(text, start))  # "---" above the headline
    end = _headline_end(source, text, start)
    title = " ".join(line.strip() for line in text[start:end].splitlines())
    if source.lower().endswith(".md") or _MD_HEADING.match(title):
        title = _MD_HEADING_CLOSE.sub("", _MD_HEADING.sub("", title, count=1))
    dateline: str | None = None
    body = _visible_from(text, end)
    line_end = _line_end(text, body)
    if _BYLINE.fullmatch(text, body, line_end) and _blank_after(text, line_end):  # then a dateline
        body = _visible_from(text, line_end)
        line_end = _line_end(text, body)
    if body < len(text):
        if match := _DATELINE_LINE.fullmatch(text, body, line_end):
            dateline, body = match.group(1), _visible_from(text, line_end)
        elif match := _DATELINE_PREFIX.match(text, body, line_end) or _DATELINE_PREFIX_AR.match(text, body, line_end):
            dateline, body = match.group(1), match.end()
    return Article(source, title, dateline, text, sha256, body, _published(source, front), front.pairs)


def parse_front_matter(text: str) -> FrontMatter:
    """The front matter opening `text` (after any BOM), or an empty one if there is none.

    Front matter is a `---` line, then `key: value` lines, then a closing `---` line (or the same
    with `+++` and `key = value`). Values are strings; surrounding quotes are dropped. Blank
    lines, `#` comments and indented or `[table]` lines are allowed and skipped. A first line
    `---` not followed by a pair is an ordinary line, not front matter. Raises
    `FrontMatterError` when a block is opened but not closed before a line that is neither a
    pair nor a fence: guessing where the metadata stops could quote it, or lose the headline.
    """
    position = 1 if text.startswith("\ufeff") else 0
    lines = text[position:].splitlines(keepends=True)
    fence = lines[0].strip() if lines else ""
    pattern = _FENCES.get(fence)
    if pattern is None or len(lines) < 2 or not pattern.fullmatch(lines[1].rstrip("\r\n")):
        return FrontMatter()
    position += len(lines[0])
    pairs: list[tuple[str, str]] = []
    ignored: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        position += len(line)
        content = line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        if content.strip() == fence:
            return FrontMatter(tuple(pairs), position, tuple(ignored))
        if match := pattern.fullmatch(content):
            pairs.append((match.group(1), _unquote(match.group(2) or "")))
        elif content[:1].isspace() and content.strip() or content.startswith("["):
            ignored.append(number)  # nested YAML or a TOML table: not read, but still metadata
        elif content.strip() and not content.lstrip().startswith("#"):
            raise FrontMatterError(
                f"front matter opened by '{fence}' on line 1 is not closed: line {number} is "
                f"neither `key{':' if fence == '---' else ' ='} value` nor a closing '{fence}'"
            )
    raise FrontMatterError(f"front matter opened by '{fence}' on line 1 is never closed with '{fence}'")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _published(source: str, front: FrontMatter) -> str | None:
    """The publication date as YYYY-MM-DD: front matter `published` (or `date`) if valid, else a
    date opening the file name. A date that is not a real one is ignored, with a warning."""
    values = dict(front.pairs)
    key = "published" if "published" in values else "date"
    if key in values:
        if (day := _iso_day(values[key])) is not None:
            return day
        log.warning("Seeds file %s: front matter %s %r is not a YYYY-MM-DD date; ignored", source, key, values[key])
    name = source.rsplit("/", 1)[-1]
    if match := _FILE_DATE.match(name):
        if (day := _iso_day(match.group(1))) is not None:
            return day
        log.warning("Seeds file %s: file name date %r is not a real date; ignored", source, match.group(1))
    return None


def _iso_day(value: str) -> str | None:
    """`value`'s date as YYYY-MM-DD if it is an ISO date (optionally with a time), else None."""
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return (date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()).isoformat()
    except ValueError:
        return None


def _visible_from(text: str, position: int) -> int:
    """Offset of the first character at or after `position` that is not whitespace or a BOM."""
    match = _VISIBLE.search(text, position)
    return match.start() if match else len(text)


def _headline_end(source: str, text: str, start: int) -> int:
    """The end of the headline: its line, or in a hard-wrapped file its block of up to three
    wrapped lines (a longer block is the headline run into the first paragraph)."""
    end = _line_end(text, start)
    units = layout(text, start, markdown=is_markdown(source, text, start)).units
    if units and units[0].end > end and units[0].kind == "text":
        if len(text[units[0].line_start : units[0].end].splitlines()) <= _HEADLINE_LINES:
            return units[0].end
    return end


def _blank_after(text: str, line_end: int) -> bool:
    """Whether the line ending at `line_end` is followed by a blank line (so it stands alone)."""
    rest = _LINE_END.match(text, line_end)
    if rest is None:
        return False
    after = line_end + (2 if text.startswith("\r\n", line_end) else 1)
    next_end = _line_end(text, after)
    return not text[after:next_end].strip()


def _line_end(text: str, position: int) -> int:
    match = _LINE_END.search(text, position)
    return match.start() if match else len(text)
