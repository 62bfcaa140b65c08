"""Build, save, load and verify the index folder; swap builds atomically.

Layout of the index folder:

    index/CURRENT            {"build": NAME, "manifest_sha256": ...}, replaced with os.replace
    index/builds/NAME/       manifest.json; articles.jsonl (metadata) and texts.bin (the texts,
                             concatenated UTF-8); passages.npy, sentence_ptr.npy, sentence_spans.npy
                             (offsets); vectors.npy (float32 per passage); sentences.npy (float16
                             per distinct sentence, for quoting); term_ptr/terms/run_ptr/runs/
                             leans_back.npy (each sentence's hashed words, see fingerprints);
                             dense.faiss (graph indexes only); bm25/ (bm25s files)
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .ann import KINDS, VectorIndex, choose_kind
from .diskarray import DiskArray, open_array
from .corpus import fingerprint, load_articles
from .embedding import Embedder
from .fingerprints import Fingerprints
from .lexical import LexicalIndex
from .models import Article, IndexedArticle, Passage, Progress, ReindexReport, Skipped
from .passages import make_passages
from .tables import ArticleMeta, ArticleTable, PassageTable, SentenceRows

log = logging.getLogger(__name__)

FORMAT_VERSION = 4
CURRENT = "CURRENT"
BUILDS = "builds"
LOCK = ".lock"
EMBED_CHUNK = 256  # texts per progress step while embedding


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
    ann_threshold: int
    ann_kind: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(slots=True)
class LoadedIndex:
    """A verified build, ready to search; large arrays stay memory-mapped on disk."""

    path: Path
    manifest: dict  # the manifest less its per-article list (the article table holds that)
    articles: ArticleTable
    passages: PassageTable
    vectors: np.ndarray  # float32, one row per passage
    sentence_vectors: np.ndarray  # float16, one row per distinct sentence
    fingerprints: Fingerprints  # hashed words, one row per distinct sentence
    dense: VectorIndex
    lexical: LexicalIndex

    @property
    def params(self) -> dict:
        return self.manifest["params"]

    @property
    def sentence_rows(self) -> SentenceRows:
        return SentenceRows(self.passages)

    @property
    def indexed_at(self) -> dict[str, str]:
        return {meta.source: meta.indexed_at for meta in self.articles.metas}

    def article_hashes(self) -> dict[str, str]:
        return {meta.source: meta.sha256 for meta in self.articles.metas}

    def article_list(self) -> tuple[IndexedArticle, ...]:
        return tuple(
            IndexedArticle(m.source, m.title, m.passage_rows[1] - m.passage_rows[0], m.sha256, m.indexed_at)
            for m in self.articles.metas
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


def _load_array(path: Path) -> "np.ndarray | DiskArray":
    """Large arrays are read by rows on demand, small ones memory-mapped: see `diskarray`."""
    return open_array(path)


def load(index_dir: Path) -> LoadedIndex:
    """Load and verify the live build; raises IndexUnavailable with a message people can act on."""
    folder, manifest = read_manifest(index_dir, verify=True)
    try:
        metas = [
            ArticleMeta(**{**row, "passage_rows": tuple(row["passage_rows"]), "sentence_rows": tuple(row["sentence_rows"])})
            for row in _read_jsonl(folder / "articles.jsonl")
        ]
        texts = _load_array(folder / "texts.npy")
        articles = ArticleTable(metas, texts)
        passages = PassageTable(
            articles,
            np.load(folder / "passages.npy"),
            np.load(folder / "sentence_ptr.npy"),
            _load_array(folder / "sentence_spans.npy"),
        )
        vectors = _load_array(folder / "vectors.npy")
        sentence_vectors = _load_array(folder / "sentences.npy")
        fingerprints = Fingerprints.load(folder)
        kind = KINDS[manifest["index_kind"]]
        dense = kind.load(folder / "dense.faiss") if kind.persisted else kind.build(np.asarray(vectors))
        lexical = LexicalIndex.load(folder / "bm25", len(passages))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexUnavailable(f"the index in {folder} cannot be read ({error})") from None
    counts = manifest["counts"]
    if not (len(passages) == counts["passages"] == vectors.shape[0] and len(articles) == counts["articles"]
            and sentence_vectors.shape[0] == counts["sentences"] == len(fingerprints)):
        raise IndexUnavailable(f"the index in {folder} has inconsistent counts")
    manifest = {key: value for key, value in manifest.items() if key != "articles"}
    return LoadedIndex(folder, manifest, articles, passages, vectors, sentence_vectors, fingerprints, dense, lexical)


def staleness(manifest: dict, indexed: dict[str, str], seeds_dir: Path, params: BuildParams, *,
              max_file_bytes: int) -> str | None:
    """Why the index no longer matches the seeds or settings, or None when it is current.

    `indexed` maps each indexed source to its sha256 (`LoadedIndex.article_hashes()`, or the
    manifest's article list when the index is not loaded).
    """
    if manifest["params"] != params.to_dict():
        changed = [k for k, v in params.to_dict().items() if manifest["params"].get(k) != v]
        return "settings changed: " + ", ".join(changed)
    if indexed != fingerprint(seeds_dir, max_file_bytes=max_file_bytes):
        return "the seeds folder changed"
    return None


def manifest_hashes(manifest: dict) -> dict[str, str]:
    return {row["source"]: row["sha256"] for row in manifest["articles"]}


# --- building ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Assembly:
    """The arrays of a new build, filled article by article."""

    metas: list[ArticleMeta]
    texts: bytearray
    spans: list[tuple[int, int, int]]
    sentence_ptr: list[int]
    sentence_spans: list[tuple[int, int, int]]
    vectors: list[np.ndarray]  # blocks, concatenated at the end
    sentence_vectors: list[np.ndarray]
    pending: list[tuple[str, bool, int]]  # (text, is_sentence, row) still to embed
    embed_texts: list[str]  # what BM25 indexes, per passage


def _reusable(previous: LoadedIndex | None, params: BuildParams) -> LoadedIndex | None:
    """The previous build can lend vectors only if it used the same model and passage settings."""
    if previous is None:
        return None
    keep = ("model", "passage_max_tokens", "passage_overlap_sentences")
    return previous if all(previous.params.get(k) == getattr(params, k) for k in keep) else None


def _sentences_so_far(out: _Assembly) -> int:
    """Rows of sentence vectors assembled so far (read off the last article: summing blocks is quadratic)."""
    return out.metas[-1].sentence_rows[1] if out.metas else 0


def _add_unchanged(out: _Assembly, previous: LoadedIndex, position: int, article: Article, indexed_at: str) -> None:
    """Same bytes, same settings, same passages: copy its rows wholesale, embed nothing."""
    meta = previous.articles.metas[position]
    (p0, p1), (s0, s1) = meta.passage_rows, meta.sentence_rows
    e0, e1 = int(previous.passages.sentence_ptr[p0]), int(previous.passages.sentence_ptr[p1])
    new_p, new_s, new_e = len(out.spans), _sentences_so_far(out), len(out.sentence_spans)
    encoded = article.text.encode("utf-8")
    out.metas.append(ArticleMeta(
        article.source, article.title, article.dateline, article.sha256, article.body_start, indexed_at,
        len(out.texts), len(encoded), (new_p, new_p + p1 - p0), (new_s, new_s + s1 - s0),
    ))
    out.texts += encoded
    article_position = len(out.metas) - 1
    for start, end in previous.passages.spans[p0:p1, 1:]:
        out.spans.append((article_position, int(start), int(end)))
    for ptr in previous.passages.sentence_ptr[p0 + 1 : p1 + 1]:
        out.sentence_ptr.append(new_e + int(ptr) - e0)
    for start, end, row in previous.passages.sentence_spans[e0:e1]:
        out.sentence_spans.append((int(start), int(end), new_s + int(row) - s0))
    out.vectors.append(np.asarray(previous.vectors[p0:p1], dtype=np.float32))
    out.sentence_vectors.append(np.asarray(previous.sentence_vectors[s0:s1], dtype=np.float16))
    for row in range(p0, p1):
        out.embed_texts.append(embed_text(article, previous.passages[row]))


def _previous_vectors(previous: LoadedIndex | None, position: int | None, model: str) -> dict[str, np.ndarray]:
    """An edited article's old vectors by text: only the passages whose text changed are embedded."""
    if previous is None or position is None:
        return {}
    meta = previous.articles.metas[position]
    old = previous.articles.at(position)
    cache: dict[str, np.ndarray] = {}
    for row in range(*meta.passage_rows):
        passage = previous.passages[row]
        cache[cache_key(model, embed_text(old, passage))] = previous.vectors[row]
        for (start, end), sentence_row in zip(passage.sentences, previous.passages.sentence_rows(row)):
            cache[cache_key(model, old.text[start:end])] = previous.sentence_vectors[sentence_row]
    return cache


def _add_fresh(out: _Assembly, article: Article, passages: list[Passage], indexed_at: str,
               cache: dict[str, np.ndarray], model: str, dimension: int) -> None:
    new_p, new_s = len(out.spans), _sentences_so_far(out)
    sentence_row: dict[tuple[int, int], int] = {}
    for passage in passages:
        for span in passage.sentences:
            sentence_row.setdefault(span, new_s + len(sentence_row))
    encoded = article.text.encode("utf-8")
    out.metas.append(ArticleMeta(
        article.source, article.title, article.dateline, article.sha256, article.body_start, indexed_at,
        len(out.texts), len(encoded), (new_p, new_p + len(passages)), (new_s, new_s + len(sentence_row)),
    ))
    out.texts += encoded
    vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    sentence_vectors = np.zeros((len(sentence_row), dimension), dtype=np.float16)
    for offset, passage in enumerate(passages):
        text = embed_text(article, passage)
        out.embed_texts.append(text)
        out.spans.append((len(out.metas) - 1, passage.start, passage.end))
        cached = cache.get(cache_key(model, text))
        if cached is None:
            out.pending.append((text, False, new_p + offset))
        else:
            vectors[offset] = cached
        for start, end in passage.sentences:
            out.sentence_spans.append((start, end, sentence_row[(start, end)]))
        out.sentence_ptr.append(len(out.sentence_spans))
    for (start, end), row in sentence_row.items():
        cached = cache.get(cache_key(model, article.text[start:end]))
        if cached is None:
            out.pending.append((article.text[start:end], True, row))
        else:
            sentence_vectors[row - new_s] = cached
    out.vectors.append(vectors)
    out.sentence_vectors.append(sentence_vectors)


def _embed_pending(out: _Assembly, vectors: np.ndarray, sentence_vectors: np.ndarray, embedder: Embedder,
                   batch_size: int, progress: Progress | None) -> None:
    """One stream of texts for the model, whatever article they came from: full batches, one progress bar."""
    for begin in range(0, len(out.pending), EMBED_CHUNK):
        chunk = out.pending[begin : begin + EMBED_CHUNK]
        encoded = embedder.encode([text for text, _, _ in chunk], batch_size=batch_size)
        for (_, is_sentence, row), vector in zip(chunk, encoded):
            (sentence_vectors if is_sentence else vectors)[row] = vector
        if progress:
            progress("embedding", min(begin + EMBED_CHUNK, len(out.pending)), len(out.pending))


def _stack(blocks: list[np.ndarray], dimension: int, dtype: type) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros((0, dimension), dtype=dtype)


def _sentence_texts(out: _Assembly, count: int) -> list[str]:
    """The text of every distinct sentence row, read off the assembled passages."""
    texts: list[str] = [""] * count
    ptr = [0, *out.sentence_ptr]
    article, text = -1, ""
    for passage, (position, _, _) in enumerate(out.spans):
        if position != article:  # an article's passages are consecutive: decode each text once
            meta = out.metas[position]
            article, text = position, bytes(out.texts[meta.text_offset : meta.text_offset + meta.text_bytes]).decode("utf-8")
        for start, end, row in out.sentence_spans[ptr[passage] : ptr[passage + 1]]:
            texts[row] = text[start:end]
    return texts


def _write_build(folder: Path, out: _Assembly, vectors: np.ndarray, sentence_vectors: np.ndarray,
                 dense: VectorIndex, lexical: LexicalIndex, params: BuildParams, skipped: list[Skipped]) -> None:
    folder.mkdir(parents=True)
    _write_jsonl(folder / "articles.jsonl", [asdict(meta) for meta in out.metas])
    np.save(folder / "texts.npy", np.frombuffer(bytes(out.texts), dtype=np.uint8))
    np.save(folder / "passages.npy", np.array(out.spans, dtype=np.int64).reshape(-1, 3))
    np.save(folder / "sentence_ptr.npy", np.array([0, *out.sentence_ptr], dtype=np.int64))
    np.save(folder / "sentence_spans.npy", np.array(out.sentence_spans, dtype=np.int64).reshape(-1, 3))
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "sentences.npy", sentence_vectors)
    Fingerprints.compute(_sentence_texts(out, len(sentence_vectors))).save(folder)
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
        "dimension": int(vectors.shape[1]),
        "index_kind": dense.kind,
        "counts": {"articles": len(out.metas), "passages": len(out.spans), "sentences": len(sentence_vectors)},
        "articles": [
            {"source": m.source, "title": m.title, "sha256": m.sha256,
             "passages": m.passage_rows[1] - m.passage_rows[0], "indexed_at": m.indexed_at}
            for m in out.metas
        ],
        "skipped": [asdict(s) for s in skipped],
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")


def write_index(index_dir: Path, out: _Assembly, vectors: np.ndarray, sentence_vectors: np.ndarray,
                params: BuildParams, skipped: list[Skipped], progress: Progress | None = None) -> LoadedIndex:
    """Index the assembled rows, write them beside the live build, publish, and load what was written."""
    if progress:
        progress("writing", 0, 1)
    dense = KINDS[choose_kind(len(out.spans), params.ann_threshold, params.ann_kind)].build(vectors)
    lexical = LexicalIndex.build(out.embed_texts)
    builds = index_dir / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
    staging = builds / f".tmp-{name}"
    try:
        _write_build(staging, out, vectors, sentence_vectors, dense, lexical, params, skipped)
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
    return load(index_dir)


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
        reusable = _reusable(previous, params)
        dimension = reusable.vectors.shape[1] if reusable is not None else embedder.dimension
        out = _Assembly([], bytearray(), [], [], [], [], [], [], [])
        now = _now()
        for article in articles:
            position = reusable.articles.position.get(article.source) if reusable else None
            old = reusable.articles.metas[position] if reusable and position is not None else None
            if old is not None and old.sha256 == article.sha256:
                _add_unchanged(out, reusable, position, article, old.indexed_at)
                continue
            passages = make_passages(
                article, max_tokens=params.passage_max_tokens,
                overlap_sentences=params.passage_overlap_sentences, count_tokens=embedder.count_tokens,
            )
            cache = _previous_vectors(reusable, position, params.model)
            _add_fresh(out, article, passages, now, cache, params.model, dimension)
        if progress:
            progress("reading", 1, 1)
        vectors = _stack(out.vectors, dimension, np.float32)
        sentence_vectors = _stack(out.sentence_vectors, dimension, np.float16)
        _embed_pending(out, vectors, sentence_vectors, embedder, batch_size, progress)
        loaded = write_index(index_dir, out, vectors, sentence_vectors, params, skipped, progress)

    before = previous.article_hashes() if previous else {}
    after = {a.source: a.sha256 for a in articles}
    report = ReindexReport(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(s for s in after if s in before and before[s] != after[s])),
        unchanged=sum(1 for s in after if before.get(s) == after[s]),
        passages_before=len(previous.passages) if previous else 0,
        passages_after=len(loaded.passages),
        embedded=sum(1 for _, is_sentence, _ in out.pending if not is_sentence),
        seconds=time.perf_counter() - started,
        skipped=tuple(skipped),
    )
    return loaded, report


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


