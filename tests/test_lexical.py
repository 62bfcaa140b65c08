"""BM25 scoring: our accumulation must give bm25s's own scores, on the real launch index."""

from __future__ import annotations

import json

import numpy as np

from bot.engine.lexical import top_rows

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
