"""DiskArray must read exactly what numpy reads from the same .npy file, for every key the index uses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bot.engine.diskarray import DiskArray, csr_gather, open_array


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    made = {
        "vectors": rng.standard_normal((97, 8)).astype(np.float32),
        "halves": rng.standard_normal((50, 4)).astype(np.float16),
        "spans": rng.integers(0, 1000, size=(40, 3), dtype=np.int64),
        "bytes": np.frombuffer("Maliki’s bid — نوري المالكي\n".encode("utf-8") * 5, dtype=np.uint8),
    }
    for name, array in made.items():
        np.save(folder / f"{name}.npy", array)
    return {name: (np.load(folder / f"{name}.npy"), DiskArray(folder / f"{name}.npy")) for name in made}


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_key_reads_what_numpy_reads(arrays, data):
    name = data.draw(st.sampled_from(sorted(arrays)))
    expected, disk = arrays[name]
    n = len(expected)
    kind = data.draw(st.sampled_from(["int", "slice", "rows", "tuple"]))
    if kind == "int":
        key = data.draw(st.integers(-n, n - 1))
    elif kind == "slice":
        key = slice(data.draw(st.integers(-n - 2, n + 2)), data.draw(st.integers(-n - 2, n + 2)),
                    data.draw(st.sampled_from([None, 1, 2, 3])))
    elif kind == "rows":
        key = data.draw(st.lists(st.integers(-n, n - 1), max_size=30))
        key = np.array(key, dtype=np.int64) if data.draw(st.booleans()) else key
    else:
        if expected.ndim == 1:
            return
        key = (slice(data.draw(st.integers(0, n)), data.draw(st.integers(0, n))),
               data.draw(st.sampled_from([2, slice(None, 2), slice(1, None)])))
    got, want = disk[key], expected[key]
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_csr_gather_reads_each_rows_values_end_to_end(arrays, data):
    """Many rows of CSR data in one read, from memory or from disk: the same as slicing row by row."""
    expected, disk = arrays["spans"]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(expected)), min_size=1, max_size=12)))
    ptr = np.array([0, *cuts, len(expected)], dtype=np.int64)
    rows = data.draw(st.lists(st.integers(0, len(ptr) - 2), max_size=10))
    want = [expected[ptr[r] : ptr[r + 1]] for r in rows]
    for values in (expected, disk):
        got, owners = csr_gather(ptr, values, rows)
        assert np.array_equal(got, np.concatenate(want) if want else expected[:0])
        assert owners.tolist() == [i for i, part in enumerate(want) for _ in range(len(part))]


def test_whole_array_length_and_errors(arrays):
    expected, disk = arrays["vectors"]
    assert len(disk) == len(expected) and disk.shape == expected.shape
    assert np.array_equal(np.asarray(disk), expected)
    assert np.asarray(disk, dtype=np.float64).dtype == np.float64
    with pytest.raises(IndexError):
        disk[len(expected)]
    with pytest.raises(IndexError):
        disk[[0, len(expected)]]


def test_small_files_are_memory_mapped_and_large_ones_read_by_rows(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((10, 4), dtype=np.float32))
    small = open_array(tmp_path / "a.npy")
    assert isinstance(small.base, np.memmap)  # mapped, not read into memory
    assert type(small[2:5]) is np.ndarray  # slices are plain arrays (a memmap per slice is slow)
    assert isinstance(open_array(tmp_path / "a.npy", mmap_below=0), DiskArray)


def test_a_truncated_file_is_an_error_not_garbage(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(100, dtype=np.float32).reshape(25, 4))
    path = tmp_path / "a.npy"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(OSError, match="shorter"):
        DiskArray(path)[24]


def test_an_index_read_by_rows_answers_exactly_like_a_memory_mapped_one(engine, settings, monkeypatch):
    """What a million-passage index does, on the launch articles: every large array read by rows."""
    import json

    from bot.engine import diskarray
    from bot.engine.engine import Engine
    from bot.engine.store import loading
    from conftest import DEV_QA

    monkeypatch.setattr(diskarray, "MMAP_BELOW", 0)
    index = loading.load(settings.index_dir)
    assert isinstance(index.vectors, DiskArray) and isinstance(index.sentence_vectors, DiskArray)
    by_rows = Engine(settings, engine.embedder, index)
    for row in map(json.loads, DEV_QA.read_text(encoding="utf-8").splitlines()):
        assert by_rows.ask(row["question"]) == engine.ask(row["question"])
