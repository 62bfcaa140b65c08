"""The ONNX int8 backend: exported once, offline, into a folder beside the index, then reused.

onnxruntime and optimum-onnx are project dependencies (the default backend needs them), so these
tests never skip: an install without them fails here, as it would fail for users.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bot.config import DEFAULT_MODEL, MODELS_DIR, load_settings
from bot.engine.embedding import (
    EmbeddingError,
    OnnxInt8Embedder,
    SentenceTransformerEmbedder,
    make_embedder,
    onnx_cache_folder,
)

TEXTS = [
    "Mohammed Shia al-Sudani met the Coordination Framework on Sunday.",
    "Parliament failed to elect a speaker for the third time.",
    "Diffusion tensor imaging of newborn white matter.",
]


@pytest.fixture(scope="module")
def onnx_available():
    """The default backend's packages: imported, not skipped when missing (they are dependencies)."""
    import onnxruntime  # noqa: F401
    import optimum.onnxruntime  # noqa: F401


@pytest.fixture(scope="module")
def exported(onnx_available, tmp_path_factory):
    """One real export of the bundled model into a temporary cache folder."""
    cache = tmp_path_factory.mktemp("models")
    embedder = OnnxInt8Embedder(cache_dir=cache)
    embedder.encode(["warm up"])
    return embedder


def test_settings_choose_the_backend_int8_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ONNX_CACHE_DIR")  # set for the test run by conftest
    onnx_embedder = make_embedder(load_settings(index_dir=tmp_path))
    torch_embedder = make_embedder(load_settings(index_dir=tmp_path, embedding_backend="torch"))
    model = load_settings().embedding_model  # DEFAULT_MODEL, unless EMBEDDING_MODEL is set for the run
    assert type(torch_embedder) is SentenceTransformerEmbedder and torch_embedder.name == model
    assert isinstance(onnx_embedder, OnnxInt8Embedder)
    assert onnx_embedder.name == model + "+onnx-int8"  # vectors differ: so must cache keys
    default_folder = model.removeprefix("bundled:") + "-onnx-int8"
    assert onnx_embedder.folder == tmp_path / MODELS_DIR / default_folder
    elsewhere = make_embedder(load_settings(index_dir=tmp_path, onnx_cache_dir=tmp_path / "cache"))
    assert elsewhere.folder == tmp_path / "cache" / default_folder


def test_distinct_local_models_get_distinct_folders(tmp_path):
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    a.mkdir(parents=True), b.mkdir(parents=True)
    assert onnx_cache_folder(str(a), tmp_path) != onnx_cache_folder(str(b), tmp_path)


def test_missing_onnxruntime_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(EmbeddingError, match="EMBEDDING_BACKEND=torch"):
        OnnxInt8Embedder(cache_dir=tmp_path).encode(["x"])
    assert not (tmp_path / "all-MiniLM-L6-v2-onnx-int8").exists()


@pytest.mark.slow
def test_export_writes_only_the_int8_model_and_a_marker(exported):
    folder = exported.folder
    marker = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert (folder / marker["file"]).is_file() and marker["file"].startswith("onnx/model_")
    assert "int8" in marker["file"] and marker["model"] == DEFAULT_MODEL
    assert not (folder / "model.safetensors").exists() and not (folder / "onnx" / "model.onnx").exists()
    assert "site-packages" not in str(folder)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    assert marker["probe_cosine"] > 0.97


@pytest.mark.slow
def test_int8_vectors_agree_with_torch(exported, torch_embedder):
    assert exported.dimension == torch_embedder.dimension == 384
    assert exported.count_tokens(TEXTS[0]) == torch_embedder.count_tokens(TEXTS[0])
    int8, reference = exported.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert int8.dtype == np.float32 and int8.shape == (3, 384) and int8.flags.c_contiguous
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    assert np.sum(int8 * reference, axis=1).min() > 0.97
    assert exported.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_second_embedder_reuses_the_export(exported, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(OnnxInt8Embedder, "_export", refuse)
    again = OnnxInt8Embedder(cache_dir=exported.folder.parent)
    assert np.allclose(again.encode(TEXTS), exported.encode(TEXTS), atol=1e-5)


@pytest.mark.slow
def test_a_failed_export_is_an_embedding_error_and_leaves_nothing(onnx_available, tmp_path, monkeypatch):
    import sentence_transformers

    def broken(*args, **kwargs):
        raise RuntimeError("quantiser exploded")

    monkeypatch.setattr(sentence_transformers, "export_dynamic_quantized_onnx_model", broken)
    with pytest.raises(EmbeddingError, match="quantiser exploded"):
        OnnxInt8Embedder(cache_dir=tmp_path).encode(["x"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_stale_export_is_replaced(exported, tmp_path):
    import shutil

    copy = tmp_path / "models"
    shutil.copytree(exported.folder.parent, copy)
    embedder = OnnxInt8Embedder(cache_dir=copy)
    marker_path = embedder.folder / "export.json"
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    stale = {**marker, "fingerprint": "from an older model", "source_stat": [["model.safetensors", 1, 1]]}
    marker_path.write_text(json.dumps(stale), encoding="utf-8")
    embedder.encode(["x"])
    assert json.loads(marker_path.read_text(encoding="utf-8"))["fingerprint"] == marker["fingerprint"]
    assert sorted(p.name for p in copy.iterdir()) == [embedder.folder.name]


def _damage(folder, how: str) -> None:
    """Truncate the int8 graph, or overwrite a few weights keeping its size and times (a bad disk block:
    the graph still loads, its vectors are wrong)."""
    import os

    [graph] = sorted((folder / "onnx").glob("model_*int8_*.onnx"))  # qint8 or quint8: the CPU's preset
    info = graph.stat()
    if how == "truncated":
        with graph.open("r+b") as handle:
            handle.truncate(info.st_size // 2)
    else:
        with graph.open("r+b") as handle:
            handle.seek(info.st_size // 2)
            handle.write(bytes([0x7F]) * 200_000)
        os.utime(graph, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated", "same-size"])
def test_a_damaged_export_is_detected_and_made_again(exported, tmp_path, how, caplog):
    """The export is a cache: a damaged int8 graph is re-exported and the vectors are right again, never an error."""
    import shutil

    copy = tmp_path / "models"
    shutil.copytree(exported.folder.parent, copy)
    embedder = OnnxInt8Embedder(cache_dir=copy)
    _damage(embedder.folder, how)
    vectors = embedder.encode(TEXTS)
    assert np.sum(vectors * exported.encode(TEXTS), axis=1).min() > 0.999
    assert "exporting again" in caplog.text
    again = OnnxInt8Embedder(cache_dir=copy)  # and the repaired export is trusted from then on
    assert np.allclose(again.encode(TEXTS), vectors, atol=1e-5)
