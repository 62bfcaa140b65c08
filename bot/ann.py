"""Dense vector search: one interface, one class per FAISS index type.

Exact search while the index is small (it is both fastest to build and exact); HNSW beyond a size
where exact search stops fitting the per-question budget. Vectors are normalised, so inner
product is cosine similarity.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Iterator

import faiss
import numpy as np

_threads_lock = threading.Lock()


@contextmanager
def faiss_threads(count: int) -> Iterator[None]:
    """FAISS uses one global OpenMP pool; builds want every core, single queries want one."""
    with _threads_lock:
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        with _threads_lock:
            faiss.omp_set_num_threads(before)


def serve_single_threaded() -> None:
    """One question at a time is faster on one OpenMP thread than on two (measured: 6 vs 14 ms at 100k)."""
    faiss.omp_set_num_threads(1)


class VectorIndex(ABC):
    """Search normalised vectors by inner product; ids are row numbers of the vectors given."""

    kind: ClassVar[str]
    #: whether `save` must write a FAISS file (exact indexes are rebuilt from the vectors instantly)
    persisted: ClassVar[bool] = True

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    @abstractmethod
    def build(cls, vectors: np.ndarray) -> "VectorIndex": ...

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each shaped (len(queries), k); missing hits have id -1."""
        k = max(1, min(k, len(self))) if len(self) else 1
        if not len(self):
            empty = np.full((len(queries), k), -1, dtype=np.int64)
            return np.zeros((len(queries), k), dtype=np.float32), empty
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        return cls(faiss.read_index(str(path)))


class FlatIndex(VectorIndex):
    """Exact search: a brute-force scan, fastest below about a hundred thousand vectors."""

    kind = "flat"
    persisted = False

    @classmethod
    def build(cls, vectors: np.ndarray) -> "FlatIndex":
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)


class HNSWIndex(VectorIndex):
    """Graph search: near-constant query time at a million vectors, at a slower build."""

    kind = "hnsw"
    neighbours = 32
    ef_construction = 80
    ef_search = 128

    @classmethod
    def build(cls, vectors: np.ndarray) -> "HNSWIndex":
        index = faiss.IndexHNSWFlat(vectors.shape[1], cls.neighbours, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cls.ef_construction
        index.hnsw.efSearch = cls.ef_search
        with faiss_threads(os.cpu_count() or 1):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> "HNSWIndex":
        index = faiss.read_index(str(path))
        faiss.downcast_index(index).hnsw.efSearch = cls.ef_search
        return cls(index)


KINDS: dict[str, type[VectorIndex]] = {cls.kind: cls for cls in (FlatIndex, HNSWIndex)}


def choose_kind(count: int, hnsw_threshold: int) -> str:
    """Exact below the threshold, HNSW at or above it (the benchmark justifies the number)."""
    return HNSWIndex.kind if count >= hnsw_threshold else FlatIndex.kind
