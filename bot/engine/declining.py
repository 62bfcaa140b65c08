"""When to say nothing: off-topic questions get a decline, not the least-bad quotes.

One cosine cut-off is fragile (on the launch articles, off-topic questions reach 0.18 and on-topic
ones start at 0.37, as the README's "How declining works" measures; another corpus moves both), so
two independent signals must agree before the bot answers: the embedding's similarity, and whether
the best passages actually contain the question's content words. A question with a strong
semantic match answers on similarity alone (paraphrases share no words).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from .fingerprints import WORD, coverage, term_keys
from .retrieval import Hit

if TYPE_CHECKING:
    from .store.loading import LoadedIndex

EVIDENCE_PASSAGES = 3  # term coverage is read from this many of the best passages
# A question its passages cannot share words with (another language) stands on its cosine alone; in
# the band between the cut-offs it must be at least this many words long. The shorter a text, the
# closer a model puts it to everything: a greeting scores with real questions there.
MIN_WORDS_ALONE = 3


@dataclass(frozen=True, slots=True)
class DeclineParams:
    min_dense: float  # below this cosine, always decline
    confident_dense: float  # at or above it, answer whatever the words say
    min_coverage: float  # in between, this share of the question's content words must appear...
    words_can_match: bool = True  # ...unless they cannot (another language): then MIN_WORDS_ALONE words


@dataclass(frozen=True, slots=True)
class Evidence:
    best_dense: float
    best_lexical: float
    coverage: float
    words: int = 0  # in the question

    @classmethod
    def of(cls, question: str, hits: Sequence[Hit], index: "LoadedIndex") -> "Evidence":
        words = len(WORD.findall(question))
        if not hits:
            return cls(-1.0, 0.0, 0.0, words)
        terms = term_keys(question)
        prints = index.fingerprints
        best_coverage = max(  # a passage's words are its sentences' words
            coverage(terms, frozenset().union(*(prints.terms_of(row) for row in index.sentence_rows[hit.row])))
            for hit in hits[:EVIDENCE_PASSAGES]
        )
        return cls(
            best_dense=max(hit.dense for hit in hits),
            best_lexical=max(hit.lexical for hit in hits),
            coverage=best_coverage,
            words=words,
        )

    def as_dict(self) -> dict[str, float]:
        return {"best_dense": round(self.best_dense, 4), "best_lexical": round(self.best_lexical, 4),
                "coverage": round(self.coverage, 4)}


def should_decline(evidence: Evidence, params: DeclineParams) -> bool:
    if evidence.best_dense < params.min_dense:
        return True
    if evidence.best_dense >= params.confident_dense:
        return False
    if not params.words_can_match:
        return evidence.words < MIN_WORDS_ALONE
    return evidence.coverage < params.min_coverage
