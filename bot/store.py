"""Build, save, load and verify the index folder; swap builds atomically.

Layout of the index folder:

    index/CURRENT            {"build": NAME, "manifest_sha256": ...}, replaced with os.replace
    index/builds/NAME/       manifest.json, articles.jsonl, passages.jsonl, vectors.npy,
                             sentences.npy (one float16 vector per distinct sentence, for quoting),
                             dense.faiss (graph indexes only), bm25/ (bm25s files)
    index/.lock              held (flock) while a build runs, so two builders never race

A build is written into a hidden sibling folder, fsynced, renamed into place, and only then made
live by replacing CURRENT. A killed or failed build therefore leaves the previous index exactly as
it was, and a reader sees either the old build or the new one, never a mix. Every file's size and
sha256 are in the manifest, and the manifest's own hash is in CURRENT, so a truncated or edited
file is detected at load instead of producing a wrong answer.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .ann import KINDS, VectorIndex, choose_kind
from .corpus import fingerprint, load_articles
from .embedding import Embedder
from .lexical import LexicalIndex
from .models import Article, IndexedArticle, Passage, ReindexReport, Skipped
from .passages import make_passages

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
CURRENT = "CURRENT"
BUILDS = "builds"
LOCK = ".lock"
EMBED_CHUNK = 256  # texts per progress step while embedding

Progress = Callable[[str, int, int], None]


class IndexUnavailable(Exception):
    """There is no usable index: missing, or failing its checks. The message says which."""


class BuildLocked(Exception):
    """Another process is building into the same index folder."""


@dataclass(frozen=True, slots=True)
class BuildParams:
    """Everything that, when changed, makes an existing index stale."""

    model: str
    passage_max_tokens: int
    passage_overlap_sentences: int
    hnsw_threshold: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(slots=True)
class LoadedIndex:
    """A verified build, in memory, ready to search."""

    path: Path
    manifest: dict
    articles: dict[str, Article]
    indexed_at: dict[str, str]
    passages: list[Passage]
    keys: list[str]  # embedding-cache key of each passage
    vectors: np.ndarray
    dense: VectorIndex
    lexical: LexicalIndex
    sentence_rows: list[tuple[int, ...]]  # per passage: its sentences' rows in sentence_vectors
    sentence_vectors: np.ndarray  # float16: quoting needs no model call at question time

    @property
    def params(self) -> dict:
        return self.manifest["params"]

    def article_list(self) -> tuple[IndexedArticle, ...]:
        counts: dict[str, int] = {}
        for passage in self.passages:
            counts[passage.source] = counts.get(passage.source, 0) + 1
        return tuple(
            IndexedArticle(a.source, a.title, counts.get(a.source, 0), a.sha256, self.indexed_at[a.source])
            for a in self.articles.values()
        )


# --- small file helpers ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb+") as handle:
                os.fsync(handle.fileno())
    for path in sorted([folder, *[p for p in folder.rglob("*") if p.is_dir()]], reverse=True):
        _fsync_dir(path)


def _write_jsonl(path: Path, rows: Iterator[dict] | list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def embed_text(article: Article, passage: Passage) -> str:
    """The headline travels with every passage: it names the story the passage belongs to."""
    return f"{article.title}\n{passage.text}"


def cache_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8")).hexdigest()


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One builder per index folder, across processes; released even when the builder is killed."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(f"another build is running in {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- loading and checking ------------------------------------------------------------------------


def current_build(index_dir: Path) -> tuple[Path, str] | None:
    """The live build folder and the manifest hash it was published with, or None."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
        return index_dir / BUILDS / str(data["build"]), str(data["manifest_sha256"])
    except (ValueError, KeyError, TypeError) as error:
        raise IndexUnavailable(f"{pointer} is not a valid pointer ({error})") from None


def read_manifest(index_dir: Path, *, verify: bool = True) -> tuple[Path, dict]:
    """The live build's manifest; with verify, every file is checked against its recorded hash."""
    found = current_build(index_dir)
    if found is None:
        raise IndexUnavailable(f"no index has been built in {index_dir}")
    folder, manifest_hash = found
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise IndexUnavailable(f"the index build {folder.name} has no manifest")
    raw = manifest_path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != manifest_hash:
        raise IndexUnavailable(f"{manifest_path} does not match the hash it was published with")
    manifest = json.loads(raw)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexUnavailable(
            f"index format {manifest.get('format_version')} is not the supported {FORMAT_VERSION}"
        )
    if verify:
        for name, expected in manifest["files"].items():
            path = folder / name
            if not path.is_file():
                raise IndexUnavailable(f"index file {name} is missing")
            if path.stat().st_size != expected["bytes"] or _sha256_file(path) != expected["sha256"]:
                raise IndexUnavailable(f"index file {name} is truncated or was changed")
    return folder, manifest


def load(index_dir: Path) -> LoadedIndex:
    """Load and verify the live build; raises IndexUnavailable with a message people can act on."""
    folder, manifest = read_manifest(index_dir, verify=True)
    try:
        article_rows = _read_jsonl(folder / "articles.jsonl")
        articles = {
            row["source"]: Article(
                row["source"], row["title"], row["dateline"], row["text"], row["sha256"], row["body_start"]
            )
            for row in article_rows
        }
        indexed_at = {row["source"]: row["indexed_at"] for row in article_rows}
        passages, keys, sentence_rows = [], [], []
        for row in _read_jsonl(folder / "passages.jsonl"):
            text = articles[row["source"]].text
            passages.append(
                Passage(
                    row["source"], row["start"], row["end"], text[row["start"] : row["end"]],
                    tuple((s, e) for s, e in row["sentences"]),
                )
            )
            keys.append(row["key"])
            sentence_rows.append(tuple(row["sentence_rows"]))
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        sentence_vectors = np.load(folder / "sentences.npy", mmap_mode="r")
        kind = KINDS[manifest["index_kind"]]
        dense = kind.load(folder / "dense.faiss") if kind.persisted else kind.build(np.asarray(vectors))
        lexical = LexicalIndex.load(folder / "bm25", len(passages))
    except (OSError, ValueError, KeyError) as error:
        raise IndexUnavailable(f"the index in {folder} cannot be read ({error})") from None
    if len(passages) != manifest["counts"]["passages"] or vectors.shape[0] != len(passages):
        raise IndexUnavailable(f"the index in {folder} has inconsistent counts")
    if any(r >= sentence_vectors.shape[0] for rows in sentence_rows for r in rows[-1:]):
        raise IndexUnavailable(f"the index in {folder} has inconsistent sentence rows")
    return LoadedIndex(
        folder, manifest, articles, indexed_at, passages, keys, vectors, dense, lexical, sentence_rows, sentence_vectors
    )


def staleness(manifest: dict, seeds_dir: Path, params: BuildParams, *, max_file_bytes: int) -> str | None:
    """Why the index no longer matches the seeds or settings, or None when it is current."""
    if manifest["params"] != params.to_dict():
        changed = [k for k, v in params.to_dict().items() if manifest["params"].get(k) != v]
        return "settings changed: " + ", ".join(changed)
    indexed = {row["source"]: row["sha256"] for row in manifest["articles"]}
    on_disk = fingerprint(seeds_dir, max_file_bytes=max_file_bytes)
    if indexed != on_disk:
        return "the seeds folder changed"
    return None


# --- building ---------------------------------------------------------------------------------------


def _embed_missing(
    texts: list[str], keys: list[str], embedder: Embedder, cache: dict[str, np.ndarray],
    batch_size: int, progress: Progress | None,
) -> tuple[np.ndarray, list[int]]:
    """Vectors for every text, reusing cached ones; returns (vectors, rows that were embedded)."""
    missing = [i for i, key in enumerate(keys) if key not in cache]
    fresh: dict[int, np.ndarray] = {}
    for begin in range(0, len(missing), EMBED_CHUNK):
        chunk = missing[begin : begin + EMBED_CHUNK]
        encoded = embedder.encode([texts[i] for i in chunk], batch_size=batch_size)
        fresh.update(zip(chunk, encoded))
        if progress:
            progress("embedding", min(begin + EMBED_CHUNK, len(missing)), len(missing))
    dimension = embedder.dimension
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        vectors[i] = fresh[i] if i in fresh else cache[key]
    return vectors, missing


def _previous_cache(previous: LoadedIndex | None, model: str) -> dict[str, np.ndarray]:
    """The live build doubles as the embedding cache: unchanged texts are never re-embedded."""
    if previous is None or previous.params.get("model") != model:
        return {}
    cache = {key: previous.vectors[row] for row, key in enumerate(previous.keys)}
    for passage, rows in zip(previous.passages, previous.sentence_rows):
        text = previous.articles[passage.source].text
        for (start, end), row in zip(passage.sentences, rows):
            cache[cache_key(model, text[start:end])] = previous.sentence_vectors[row]
    return cache


def _distinct_sentences(
    articles: dict[str, Article], passages: list[Passage]
) -> tuple[list[str], list[tuple[int, ...]]]:
    """Each sentence once (overlapping passages share some), and each passage's rows among them."""
    row_of: dict[tuple[str, int, int], int] = {}
    texts: list[str] = []
    rows: list[tuple[int, ...]] = []
    for passage in passages:
        own = []
        for start, end in passage.sentences:
            key = (passage.source, start, end)
            if key not in row_of:
                row_of[key] = len(texts)
                texts.append(articles[passage.source].text[start:end])
            own.append(row_of[key])
        rows.append(tuple(own))
    return texts, rows


def _write_build(
    folder: Path, articles: list[Article], indexed_at: dict[str, str], passages: list[Passage],
    keys: list[str], vectors: np.ndarray, dense: VectorIndex, lexical: LexicalIndex,
    sentence_rows: list[tuple[int, ...]], sentence_vectors: np.ndarray,
    params: BuildParams, dimension: int, skipped: list[Skipped],
) -> dict:
    folder.mkdir(parents=True)
    counts: dict[str, int] = {}
    for passage in passages:
        counts[passage.source] = counts.get(passage.source, 0) + 1
    _write_jsonl(
        folder / "articles.jsonl",
        [{**asdict(article), "indexed_at": indexed_at[article.source]} for article in articles],
    )
    _write_jsonl(
        folder / "passages.jsonl",
        [
            {"source": p.source, "start": p.start, "end": p.end, "sentences": p.sentences, "key": key,
             "sentence_rows": rows}
            for p, key, rows in zip(passages, keys, sentence_rows)
        ],
    )
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "sentences.npy", sentence_vectors)
    if dense.persisted:
        dense.save(folder / "dense.faiss")
    lexical.save(folder / "bm25")
    files = {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": _sha256_file(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "built_at": _now(),
        "params": params.to_dict(),
        "dimension": dimension,
        "index_kind": dense.kind,
        "counts": {"articles": len(articles), "passages": len(passages), "sentences": len(sentence_vectors)},
        "articles": [
            {
                "source": a.source, "title": a.title, "sha256": a.sha256,
                "passages": counts.get(a.source, 0), "indexed_at": indexed_at[a.source],
            }
            for a in articles
        ],
        "skipped": [asdict(s) for s in skipped],
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def _publish(index_dir: Path, name: str, manifest_path: Path) -> None:
    """The one atomic step: CURRENT names the new build only once every byte of it is on disk."""
    pointer = {"build": name, "manifest_sha256": _sha256_file(manifest_path)}
    temporary = index_dir / f".{CURRENT}.{secrets.token_hex(4)}"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(pointer, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, index_dir / CURRENT)
    _fsync_dir(index_dir)


def _collect_garbage(index_dir: Path, keep: str) -> None:
    """Old builds and leftovers of killed builds; the live one is never touched."""
    for path in (index_dir / BUILDS).iterdir():
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT}.*"):
        path.unlink(missing_ok=True)


def build(
    index_dir: Path, seeds_dir: Path, embedder: Embedder, params: BuildParams, *,
    max_file_bytes: int, batch_size: int = 32, previous: LoadedIndex | None = None,
    progress: Progress | None = None,
) -> tuple[LoadedIndex, ReindexReport]:
    """Build a new index from the seeds folder and make it live; the old one stays until then."""
    started = time.perf_counter()
    with build_lock(index_dir):
        if progress:
            progress("reading", 0, 1)
        articles, skipped = load_articles(seeds_dir, max_file_bytes=max_file_bytes)
        passages: list[Passage] = []
        texts: list[str] = []
        for article in articles:
            for passage in make_passages(
                article, max_tokens=params.passage_max_tokens,
                overlap_sentences=params.passage_overlap_sentences, count_tokens=embedder.count_tokens,
            ):
                passages.append(passage)
                texts.append(embed_text(article, passage))
        if progress:
            progress("reading", 1, 1)
        by_source = {article.source: article for article in articles}
        sentence_texts, sentence_rows = _distinct_sentences(by_source, passages)
        all_texts = texts + sentence_texts
        keys = [cache_key(params.model, text) for text in all_texts]
        all_vectors, missing = _embed_missing(
            all_texts, keys, embedder, _previous_cache(previous, params.model), batch_size, progress
        )
        vectors, sentence_vectors = all_vectors[: len(texts)], all_vectors[len(texts) :].astype(np.float16)
        keys = keys[: len(texts)]
        embedded = sum(1 for row in missing if row < len(texts))  # passages; their sentences come along
        if progress:
            progress("writing", 0, 1)
        kind = KINDS[choose_kind(len(passages), params.hnsw_threshold)]
        dense = kind.build(vectors)
        lexical = LexicalIndex.build(texts)
        old = {a.source: (a.sha256, previous.indexed_at[a.source]) for a in previous.articles.values()} if previous else {}
        now = _now()
        indexed_at = {
            a.source: old[a.source][1] if old.get(a.source, ("",))[0] == a.sha256 else now for a in articles
        }

        builds = index_dir / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
        staging = builds / f".tmp-{name}"
        try:
            manifest = _write_build(
                staging, articles, indexed_at, passages, keys, vectors, dense, lexical,
                sentence_rows, sentence_vectors, params, embedder.dimension, skipped,
            )
            _fsync_tree(staging)
            os.rename(staging, builds / name)
            _fsync_dir(builds)
            _publish(index_dir, name, builds / name / "manifest.json")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _collect_garbage(index_dir, keep=name)
        if progress:
            progress("writing", 1, 1)

    loaded = LoadedIndex(
        builds / name, manifest, by_source, indexed_at, passages, keys,
        vectors, dense, lexical, sentence_rows, sentence_vectors,
    )
    before = {a.source: a.sha256 for a in previous.articles.values()} if previous else {}
    after = {a.source: a.sha256 for a in articles}
    report = ReindexReport(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(s for s in after if s in before and before[s] != after[s])),
        unchanged=sum(1 for s in after if before.get(s) == after[s]),
        passages_before=len(previous.passages) if previous else 0,
        passages_after=len(passages),
        embedded=embedded,
        seconds=time.perf_counter() - started,
        skipped=tuple(skipped),
    )
    return loaded, report
