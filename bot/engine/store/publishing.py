"""Making a build live without risking the live one: write beside it, fsync, swap one pointer.

One builder at a time holds the folder's lock (`build_lock`). A build is written into a hidden
staging folder, fsynced, renamed into `builds/`, and only then published by atomically replacing
CURRENT (`_publish`, the one step that changes what readers see); old builds and the leftovers of
killed builds are removed after that (`_collect_garbage`), except builds another process still
serves (`leases`). A failure at any point before the swap
leaves the previous index exactly as it was.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..ann import KINDS, VectorIndex, choose_kind
from ..fingerprints import Fingerprints
from ..lexical import LexicalIndex
from ..tables import StructureArrays
from .sentence_search import SentenceSearch
from ..models import Progress, Skipped
from .assembly import Assembly
from .layout import BUILDS, CURRENT, FORMAT_VERSION, LOCK, BuildParams, fsync_dir, sha256_file, timestamp
from .leases import leased_builds
from .loading import LoadedIndex, load


class BuildLocked(Exception):
    """Another process is building into the same index folder."""


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


def write_index(index_dir: Path, out: Assembly, vectors: np.ndarray, sentence_vectors: np.ndarray,
                params: BuildParams, skipped: list[Skipped], progress: Progress | None = None) -> LoadedIndex:
    """Index the assembled rows, write them beside the live build, publish, and load what was written."""
    if progress:
        progress("writing", 0, 1)
    dense = KINDS[choose_kind(len(out.spans), params.ann_threshold, params.ann_kind)].build(vectors)
    lexical = LexicalIndex.build(out.embed_texts)
    count = len(sentence_vectors)
    sentences = SentenceSearch.build(out.sentence_table(count), out.sentence_texts(count), sentence_vectors, params)
    builds = index_dir / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    name = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
    staging = builds / f".tmp-{name}"
    try:
        _write_build(staging, out, vectors, sentence_vectors, dense, lexical, sentences, params, skipped)
        _fsync_tree(staging)
        os.rename(staging, builds / name)
        fsync_dir(builds)
        _publish(index_dir, name, builds / name / "manifest.json")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _collect_garbage(index_dir, keep=name)
    if progress:
        progress("writing", 1, 1)
    return load(index_dir)


def _write_build(folder: Path, out: Assembly, vectors: np.ndarray, sentence_vectors: np.ndarray,
                 dense: VectorIndex, lexical: LexicalIndex, sentences: "SentenceSearch", params: BuildParams,
                 skipped: list[Skipped]) -> None:
    folder.mkdir(parents=True)
    _write_jsonl(folder / "articles.jsonl", [asdict(meta) for meta in out.metas])
    np.save(folder / "texts.npy", np.frombuffer(bytes(out.texts), dtype=np.uint8))
    StructureArrays.compute(out.metas, out.texts).save(folder)
    np.save(folder / "passages.npy", np.array(out.spans, dtype=np.int64).reshape(-1, 3))
    np.save(folder / "sentence_ptr.npy", np.array([0, *out.sentence_ptr], dtype=np.int64))
    np.save(folder / "sentence_spans.npy", np.array(out.sentence_spans, dtype=np.int64).reshape(-1, 3))
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "sentences.npy", sentence_vectors)
    Fingerprints.compute(sentences.texts).save(folder)
    if dense.persisted:
        dense.save(folder / "dense.faiss")
    lexical.save(folder / "bm25")
    sentences.save(folder)
    files = {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "built_at": timestamp(),
        "params": params.to_dict(),
        "dimension": int(vectors.shape[1]),
        "index_kind": dense.kind,
        "sentence_index_kind": sentences.dense.kind,
        "counts": {"articles": len(out.metas), "passages": len(out.spans), "sentences": len(sentence_vectors)},
        "articles": [
            {"source": m.source, "title": m.title, "sha256": m.sha256,
             "passages": m.passage_rows[1] - m.passage_rows[0], "indexed_at": m.indexed_at,
             "published": m.published, "outlet": dict(m.metadata).get("outlet"), "url": dict(m.metadata).get("url")}
            for m in out.metas
        ],
        "skipped": [asdict(s) for s in skipped],
        "files": files,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")


def _write_jsonl(path: Path, rows: Iterator[dict] | list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb+") as handle:
                os.fsync(handle.fileno())
    for path in sorted([folder, *[p for p in folder.rglob("*") if p.is_dir()]], reverse=True):
        fsync_dir(path)


def _publish(index_dir: Path, name: str, manifest_path: Path) -> None:
    """The one atomic step: CURRENT names the new build only once every byte of it is on disk."""
    pointer = {"build": name, "manifest_sha256": sha256_file(manifest_path)}
    temporary = index_dir / f".{CURRENT}.{secrets.token_hex(4)}"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(pointer, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, index_dir / CURRENT)
    fsync_dir(index_dir)


def _collect_garbage(index_dir: Path, keep: str) -> None:
    """Old builds and leftovers of killed builds; the live one and any build a live process leases are never touched."""
    leased = leased_builds(index_dir)
    for path in (index_dir / BUILDS).iterdir():
        if path.name != keep and path.name not in leased:
            shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT}.*"):
        path.unlink(missing_ok=True)
