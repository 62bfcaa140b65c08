"""Reading the live build: every file checked against its recorded hash, then loaded for search.

Also whether an index still matches the seeds folder and the settings (`staleness`), which the
engine asks at every start and `sources` asks without loading anything but the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ann import KINDS, VectorIndex
from ..corpus import seed_hashes
from ..diskarray import open_array
from ..fingerprints import Fingerprints
from ..lexical import LexicalIndex
from ..models import IndexedArticle
from ..tables import ArticleMeta, ArticleTable, PassageTable, SentenceRows, StructureArrays
from .layout import BUILDS, CURRENT, FORMAT_VERSION, BuildParams, sha256_file
from .sentence_search import SentenceSearch


class IndexUnavailable(Exception):
    """There is no usable index: missing, or failing its checks. The message says which."""


@dataclass(slots=True)
class LoadedIndex:
    """A verified build, ready to search; its large arrays stay on disk, read by rows on demand (see `diskarray`)."""

    path: Path
    manifest: dict  # the manifest less its per-article list (the article table holds that)
    articles: ArticleTable
    passages: PassageTable
    vectors: np.ndarray  # float32, one row per passage
    sentence_vectors: np.ndarray  # float16, one row per distinct sentence
    fingerprints: Fingerprints  # hashed words, one row per distinct sentence
    dense: VectorIndex
    lexical: LexicalIndex
    sentences: SentenceSearch  # every distinct sentence, searched on its own

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
            IndexedArticle(m.source, m.title, m.passage_rows[1] - m.passage_rows[0], m.sha256, m.indexed_at,
                           m.published, dict(m.metadata).get("outlet"), dict(m.metadata).get("url"))
            for m in self.articles.metas
        )


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


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
            if path.stat().st_size != expected["bytes"] or sha256_file(path) != expected["sha256"]:
                raise IndexUnavailable(f"index file {name} is truncated or was changed")
    return folder, manifest


def load(index_dir: Path) -> LoadedIndex:
    """Load and verify the live build; raises IndexUnavailable with a message people can act on."""
    folder, manifest = read_manifest(index_dir, verify=True)
    try:
        metas = [
            ArticleMeta(**{**row, "passage_rows": tuple(row["passage_rows"]), "sentence_rows": tuple(row["sentence_rows"]),
                           "metadata": tuple(tuple(pair) for pair in row.get("metadata", ()))})
            for row in _read_jsonl(folder / "articles.jsonl")
        ]
        texts = open_array(folder / "texts.npy")
        articles = ArticleTable(metas, texts, structures=StructureArrays.load(folder, len(metas)))
        passages = PassageTable(
            articles,
            np.load(folder / "passages.npy"),
            np.load(folder / "sentence_ptr.npy"),
            open_array(folder / "sentence_spans.npy"),
        )
        vectors = open_array(folder / "vectors.npy")
        sentence_vectors = open_array(folder / "sentences.npy")
        fingerprints = Fingerprints.load(folder)
        kind = KINDS[manifest["index_kind"]]
        dense = kind.load(folder / "dense.faiss") if kind.persisted else kind.build(np.asarray(vectors))
        lexical = LexicalIndex.load(folder / "bm25", len(passages))
        sentences = SentenceSearch.load(folder, manifest["sentence_index_kind"], sentence_vectors)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IndexUnavailable(f"the index in {folder} cannot be read ({error})") from None
    counts = manifest["counts"]
    if not (len(passages) == counts["passages"] == vectors.shape[0] and len(articles) == counts["articles"]
            and sentence_vectors.shape[0] == counts["sentences"] == len(fingerprints) == len(sentences.table)):
        raise IndexUnavailable(f"the index in {folder} has inconsistent counts")
    manifest = {key: value for key, value in manifest.items() if key != "articles"}
    return LoadedIndex(folder, manifest, articles, passages, vectors, sentence_vectors, fingerprints, dense, lexical,
                       sentences)


def staleness(manifest: dict, indexed: dict[str, str], seeds_dir: Path, params: BuildParams, *,
              max_file_bytes: int, known: dict | None = None) -> str | None:
    """Why the index no longer matches the seeds or settings, or None when it is current.

    `indexed` maps each indexed source to its sha256 (`LoadedIndex.article_hashes()`, or the
    manifest's article list when the index is not loaded); `known` is `seed_hashes`'s memory of
    unchanged files, for a caller that asks often.
    """
    if manifest["params"] != params.to_dict():
        changed = [k for k, v in params.to_dict().items() if manifest["params"].get(k) != v]
        return "settings changed: " + ", ".join(changed)
    if indexed != seed_hashes(seeds_dir, max_file_bytes=max_file_bytes, known=known):
        return "the seeds folder changed"
    return None


def manifest_hashes(manifest: dict) -> dict[str, str]:
    return {row["source"]: row["sha256"] for row in manifest["articles"]}
