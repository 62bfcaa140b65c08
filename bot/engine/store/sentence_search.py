"""The index's sentences searched on their own: every sentence of the corpus can be quoted, not
only those inside the best passages.

Written and read with the rest of a build: `sentence_table.npy` (where each distinct sentence
sits), `sentence_dense.faiss` (approximate kinds only; exact search is rebuilt from the stored
sentence vectors at load) and `sentence_bm25/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..ann import KINDS, VectorIndex, choose_kind
from ..diskarray import open_array
from ..lexical import LexicalIndex

if TYPE_CHECKING:
    from .layout import BuildParams

TABLE = "sentence_table.npy"
DENSE = "sentence_dense.faiss"
LEXICAL = "sentence_bm25"


@dataclass(slots=True)
class SentenceSearch:
    table: np.ndarray  # (S, 3) int64: article position, start, end of each distinct sentence row
    dense: VectorIndex
    lexical: LexicalIndex
    texts: list[str] = field(default_factory=list)  # only while building: fingerprints read them too

    @classmethod
    def build(cls, table: np.ndarray, texts: list[str], sentence_vectors: np.ndarray,
              params: "BuildParams") -> "SentenceSearch":
        count = len(sentence_vectors)
        kind = KINDS[choose_kind(count, params.ann_threshold, params.ann_kind)]
        dense = kind.build(np.asarray(sentence_vectors, dtype=np.float32))
        return cls(table, dense, LexicalIndex.build(texts), texts)

    def save(self, folder: Path) -> None:
        np.save(folder / TABLE, self.table)
        if self.dense.persisted:
            self.dense.save(folder / DENSE)
        self.lexical.save(folder / LEXICAL)

    @classmethod
    def load(cls, folder: Path, kind: str, sentence_vectors: np.ndarray) -> "SentenceSearch":
        index_type = KINDS[kind]
        dense = index_type.load(folder / DENSE) if index_type.persisted else index_type.build(
            np.asarray(sentence_vectors, dtype=np.float32))
        return cls(open_array(folder / TABLE), dense, LexicalIndex.load(folder / LEXICAL, len(sentence_vectors)))
