"""Large index arrays read by rows with `pread`, so that serving a big index costs no resident memory.

A memory map looks free, but every page a question touches (and the kernel's read-around of it)
stays mapped into the process and counts as its resident memory: over a few hundred questions
a million-passage index maps in gigabytes of vectors. Reading the few rows a question needs with
`pread` leaves them in the kernel's page cache, shared and reclaimable, and out of the process.
Small files are still memory-mapped: there, mapping all of them costs little and is faster.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

MMAP_BELOW = 256 * 1024 * 1024  # bytes: under this a file is simply memory-mapped


def open_array(path: Path, mmap_below: int | None = None) -> "np.ndarray | DiskArray":
    """The .npy file at `path`: memory-mapped when small, a `DiskArray` when large."""
    if path.stat().st_size < (MMAP_BELOW if mmap_below is None else mmap_below):
        try:
            # A plain ndarray over the mapping: slicing a np.memmap builds a memmap per slice, and
            # answering a question takes a few hundred slices.
            return np.load(path, mmap_mode="r").view(np.ndarray)
        except ValueError:  # an empty array cannot be mapped
            return np.load(path)
    return DiskArray(path)


def csr_gather(ptr: Any, values: Any, rows: Any) -> tuple[np.ndarray, np.ndarray]:
    """(the values of every row in `rows`, end to end; which of `rows` each value belongs to), for
    data in CSR form (`values[ptr[r]:ptr[r + 1]]` is row r): one read for many rows, not one each."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    lo, hi = np.asarray(ptr[rows], dtype=np.int64), np.asarray(ptr[rows + 1], dtype=np.int64)
    return np.asarray(values[ranges(lo, hi)]), np.repeat(np.arange(len(rows)), hi - lo)


def ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Every index of `[lo[i], hi[i])` for each i, end to end, without a Python loop."""
    counts = hi - lo
    starts = np.cumsum(counts) - counts  # where each range begins in the output
    total = int(starts[-1] + counts[-1]) if len(counts) else 0
    return np.repeat(lo - starts, counts) + np.arange(total)


class DiskArray:
    """A read-only C-ordered .npy array whose rows are read on demand; supports what the index asks of it:
    `a[i]`, `a[i:j]`, `a[rows]` (any order, repeats allowed), `a[i:j, cols]`, `len`, `shape`, `np.asarray(a)`.
    """

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(handle)
            self._offset = handle.tell()
        if fortran_order or not shape:
            raise ValueError(f"{path} is not a C-ordered array of rows")
        self.path = path
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._row_shape = self.shape[1:]
        self._row_bytes = self.dtype.itemsize * int(np.prod(self._row_shape, dtype=np.int64))
        self._fd = os.open(path, os.O_RDONLY)
        self._closed = threading.Lock()  # guards close against a concurrent __del__

    ndim = property(lambda self: len(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, start: int, count: int) -> np.ndarray:
        size = count * self._row_bytes
        data = os.pread(self._fd, size, self._offset + start * self._row_bytes) if size else b""
        if len(data) != size:
            raise OSError(f"{self.path} is shorter than its header says")
        return np.frombuffer(data, dtype=self.dtype).reshape((count, *self._row_shape))

    def _rows(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(key)
            return self._read(index, 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self._rows(np.arange(start, stop, step))
            return self._read(start, max(0, stop - start))
        rows = np.asarray(key, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(key)
        rows = np.where(rows < 0, rows + len(self), rows)
        out = np.empty((len(rows), *self._row_shape), dtype=self.dtype)
        order = np.argsort(rows, kind="stable")
        position = 0
        while position < len(order):  # one read per run of consecutive rows
            first = end = int(rows[order[position]])
            run = [order[position]]
            position += 1
            while position < len(order) and int(rows[order[position]]) in (end, end + 1):
                end = int(rows[order[position]])
                run.append(order[position])
                position += 1
            block = self._read(first, end - first + 1)
            for target in run:
                out[target] = block[int(rows[target]) - first]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            rows = self._rows(key[0])
            rest = key[1:]
            return rows[rest] if isinstance(key[0], (int, np.integer)) else rows[(slice(None), *rest)]
        return self._rows(key)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._read(0, len(self))
        return whole.astype(dtype) if dtype is not None and np.dtype(dtype) != self.dtype else whole

    def close(self) -> None:
        with self._closed:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
