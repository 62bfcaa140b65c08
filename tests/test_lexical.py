"""BM25 scoring: our accumulation must give bm25s's own scores, on the real launch index."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings as hypothesis_settings, strategies as st

from bot.engine.lexical import LexicalIndex, top_rows

from conftest import DEV_QA


def test_bm25_scores_match_bm25s_for_every_dev_question(engine):
    lexical = engine._live.index.lexical
    for row in map(json.loads, DEV_QA.read_text(encoding="utf-8").splitlines()):
        terms = lexical.query_ids(row["question"])
        ours = lexical.scores(row["question"])
        if not terms:
            assert ours is None
            continue
        theirs = lexical._retriever.get_scores(terms)
        assert np.allclose(ours, theirs, atol=1e-5), row["question"]


def test_top_rows_are_the_best_positive_scores_best_first_ties_by_row():
    scores = np.array([0.0, 2.0, 5.0, 2.0, 0.0, 7.0, -1.0], dtype=np.float32)
    values, rows = top_rows(scores, 3)
    assert rows.tolist() == [5, 2, 1] and values.tolist() == [7.0, 5.0, 2.0]
    assert top_rows(scores, 50)[1].tolist() == [5, 2, 1, 3]  # never a passage without a matching word
    assert top_rows(np.zeros(4, dtype=np.float32), 3)[1].tolist() == []
    assert top_rows(None, 3)[1].tolist() == []


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["the", "Talks", "talked", "Oman's", "U.S.", "Iran", "2nd", "46", "of", "was", "i",
                                 "naïve", "Maliki", "مرحبا", "ab_cd", "don't", "THE", "-", ",", "x"]), max_size=12))
def test_a_questions_term_ids_are_what_the_bm25s_tokenizer_gives(words):
    """Our lookup (cached stems, no bm25s call) must match what the passages were tokenised with."""
    index = LexicalIndex.build(["The talks in Oman were the 2nd round, Maliki's bloc won 46 seats.",
                                "Iran talked of naïve hopes; the U.S. said ab_cd, don't."])
    question = " ".join(words)
    ids = index._tokenizer.tokenize([question], return_as="ids", update_vocab=False, show_progress=False)[0]
    unknown = index._tokenizer.get_vocab_dict().get("")
    assert index.query_ids(question) == [i for i in ids if i != unknown]
