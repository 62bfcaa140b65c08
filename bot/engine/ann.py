"""Dense vector search: one interface, one class per FAISS index type.

Exact search while the index is small (it is exact, and fastest to build); an approximate index
from the size where an exact scan stops being small next to the question's own embedding
(ANN_THRESHOLD). IVF with 4-bit product-quantised codes scanned by SIMD ("fast scan") is the
default approximate index: the same lists probed as IVF with 8-bit codes, at half its memory and
under half its search time, with the same recall; it hands over four times the candidates
(`oversample`); HNSW's recall fell on near-duplicate passages (see `python -m bot
bench`). The approximate indexes only have to find the right candidates: the retriever ranks them
by exact cosine from the stored float vectors (`closest`). Vectors are normalised, so inner
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
    """Builds want every core, single queries want one. OpenMP's count is per OS thread: this sets the
    calling thread's for the block and puts it back after."""
    with _threads_lock:
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        with _threads_lock:
            faiss.omp_set_num_threads(before)


def serve_single_threaded() -> None:
    """One question at a time is faster on one OpenMP thread than on two (measured: 6 vs 14 ms at 100k).

    OpenMP keeps the thread count per OS thread, and questions run in whichever worker thread the
    front end picked (`asyncio.to_thread`), so this is called at the start of every question, in
    the thread that searches: a setting made once at start-up would reach only the main thread.
    It costs a call into FAISS when the count is already one.
    """
    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)


class VectorIndex(ABC):
    """Search normalised vectors by inner product; ids are row numbers of the vectors given."""

    kind: ClassVar[str]
    #: whether `save` must write a FAISS file (exact indexes are rebuilt from the vectors instantly)
    persisted: ClassVar[bool] = True
    #: how many times the wanted count of candidates to ask for: an index whose own scores are too
    #: coarse to cut at that count hands over more, and exact cosines pick among them (`closest`)
    oversample: ClassVar[int] = 1

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
    ef_search = 256

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


class IVFIndex(VectorIndex):
    """Inverted lists of 8-bit scalar-quantised vectors: 392 bytes a vector against HNSWFlat's ~1.8 kB,
    and a build in about a minute at a million vectors where HNSW takes many.
    """

    kind = "ivf-sq8"
    probes = 128  # lists scanned per question: a quarter at SciFact's 20k passages, 3% at a million

    @classmethod
    def probes_for(cls, lists: int) -> int:
        return min(lists, cls.probes)
    sample_per_list = 40  # k-means training points per list; FAISS warns below 39

    @staticmethod
    def lists_for(count: int) -> int:
        """About 4·√n lists, a power of two, each trained on enough points (a small index gets fewer lists)."""
        lists = 1 << round(np.log2(4 * np.sqrt(max(count, 1))))
        return max(1, min(lists, count // IVFIndex.sample_per_list))

    @classmethod
    def untrained(cls, dimension: int, lists: int) -> faiss.Index:
        """The empty FAISS index: what each kind of inverted-list index holds its vectors in."""
        return faiss.index_factory(dimension, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)

    @classmethod
    def build(cls, vectors: np.ndarray) -> "IVFIndex":
        count, dimension = vectors.shape
        lists = cls.lists_for(count)
        index = cls.untrained(dimension, lists)
        rng = np.random.default_rng(0)  # the same vectors always give the same index
        sample = np.sort(rng.choice(count, min(count, lists * cls.sample_per_list), replace=False))
        with faiss_threads(os.cpu_count() or 1):
            index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
            for start in range(0, count, 100_000):  # vectors may be memory-mapped: add them a slice at a time
                index.add(np.ascontiguousarray(vectors[start : start + 100_000], dtype=np.float32))
        faiss.extract_index_ivf(index).nprobe = cls.probes_for(lists)
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> "IVFIndex":
        index = faiss.read_index(str(path))
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = cls.probes_for(ivf.nlist)
        return cls(index)


class IVFFastScanIndex(IVFIndex):
    """The same inverted lists as `IVFIndex`, each dimension of a vector in a 4-bit code (192 bytes a
    vector at 384 dimensions against 384), scanned by SIMD a block of vectors at a time.

    Measured with the same lists probed (scratch, 2026-12-02): on real e5 and MiniLM sentence vectors
    of SciFact (30,000, queries its own) 0.22 ms a search against 0.44 and 0.37 ms, recall@10 against
    exact search the same (0.959 and 0.985); at a million replicated passages, where each passage has
    hundreds of near-copies, 1.09 ms against 2.73 ms, recall 1.000 both once four times the candidates
    are handed over (0.995 with none extra). Two dimensions a code halve the codes again but cost
    recall there (0.923 with the extra candidates).
    """

    kind = "ivf-pq4fs"
    oversample = 4

    @classmethod
    def untrained(cls, dimension: int, lists: int) -> faiss.Index:
        return faiss.index_factory(dimension, f"IVF{lists},PQ{dimension}x4fs", faiss.METRIC_INNER_PRODUCT)


KINDS: dict[str, type[VectorIndex]] = {
    cls.kind: cls for cls in (FlatIndex, HNSWIndex, IVFIndex, IVFFastScanIndex)
}


def closest(index: VectorIndex, vectors: np.ndarray, query_vector: np.ndarray, count: int) -> np.ndarray:
    """The rows of the `count` candidates `index` finds nearest the query: an index that oversamples is
    asked for more and cut here by exact cosine, so every index type hands over as many candidates
    (the others' rows come as found; the callers order them by exact cosine either way)."""
    _, found = index.search(query_vector[None, :], count * index.oversample)
    rows = found[0][found[0] >= 0]
    if index.oversample == 1:
        return rows
    cosines = np.asarray(vectors[rows], dtype=np.float32) @ query_vector
    return rows[np.lexsort((rows, -cosines))][:count]


def choose_kind(count: int, threshold: int, approximate: str) -> str:
    """Exact below the threshold, the approximate kind from it on (the benchmark justifies both)."""
    if approximate not in KINDS or approximate == FlatIndex.kind:
        raise ValueError(f"unknown approximate index kind {approximate!r}")
    return approximate if count >= threshold else FlatIndex.kind
