"""What is where in the index folder, and the settings that an index depends on.

    index/CURRENT            {"build": NAME, "manifest_sha256": ...}, replaced with os.replace
    index/builds/NAME/       manifest.json; articles.jsonl (metadata) and texts.npy (the texts,
                             concatenated UTF-8); passages.npy, sentence_ptr.npy, sentence_spans.npy
                             (offsets); vectors.npy (float32 per passage); sentences.npy (float16
                             per distinct sentence, for quoting); term_ptr/terms/run_ptr/runs/
                             leans_back.npy (each sentence's hashed words, see engine/fingerprints.py);
                             dense.faiss (graph indexes only); bm25/ (bm25s files);
                             sentence_table.npy, sentence_dense.faiss, sentence_bm25/ (every
                             sentence searched on its own, see store/sentence_search.py)
    index/.lock              held (flock) while a build runs, so two builders never race
    index/leases/PID-X.json  the builds a serving process still answers from (`leases`): cleanup keeps them
    index/models/            model exports and conversions (`ONNX_CACHE_DIR`'s default), shared by both indexes
    index/other-languages/   a second index of the same seeds in this same layout, built with
                             OTHER_LANGUAGES_MODEL, for questions not in English (`Engine`)

A build is written into a hidden sibling folder, fsynced, renamed into place, and only then made
live by replacing CURRENT (`publishing`). A killed or failed build therefore leaves the previous
index exactly as it was, and a reader sees either the old build or the new one, never a mix. Every
file's size and sha256 are in the manifest, and the manifest's own hash is in CURRENT, so a
truncated or edited file is detected at load (`loading`) instead of producing a wrong answer.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

FORMAT_VERSION = 5
CURRENT = "CURRENT"
BUILDS = "builds"
LOCK = ".lock"
LEASES = "leases"


@dataclass(frozen=True, slots=True)
class BuildParams:
    """Everything that, when changed, makes an existing index stale."""

    model: str
    passage_max_tokens: int
    passage_overlap_sentences: int
    ann_threshold: int
    ann_kind: str
    passage_vectors: str  # "encoded", or "sentences": pooled from its sentences' and headline's (`assembly`)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def timestamp() -> str:
    """Now, as the manifest records build and indexing times (UTC, to the second)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable: a file's fsync does not cover its folder entry."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
