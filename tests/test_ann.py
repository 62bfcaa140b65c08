"""Dense index types: whichever one the size picks, people get the same quotes as with exact search.

Real model, real FAISS: the vectors are the launch articles' own passage and sentence embeddings and
the queries are the dev questions, embedded by the bundled model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.engine.ann import KINDS, FlatIndex, HNSWIndex, IVFFastScanIndex, IVFIndex, choose_kind, closest
from bot.engine.engine import Engine
from bot.engine.store import loading

from conftest import DEV_QA, SEEDS


def _questions() -> list[str]:
    rows = [json.loads(line) for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in rows]


@pytest.fixture(scope="module")
def real_vectors(embedder) -> np.ndarray:
    """About 6,500 real-text embeddings: every 6-, 8-, 10-, 13- and 16-word window of the launch articles.

    Enough vectors that IVF has more lists than it probes, so the test measures a real approximation.
    """
    words = " ".join(path.read_text(encoding="utf-8") for path in sorted(SEEDS.iterdir())).split()
    windows = [" ".join(words[i : i + n]) for n in (6, 8, 10, 13, 16) for i in range(0, len(words) - n)]
    return embedder.encode(windows)


def _served_top(index, vectors: np.ndarray, queries: np.ndarray, k: int = 10, candidates: int = 50) -> list[list[int]]:
    """What the retriever does: the index proposes candidates (`closest`), exact cosines order them."""
    tops = []
    for query in queries:
        ids = closest(index, vectors, query, candidates)
        assert len(ids) == min(candidates, len(vectors))  # as many candidates from every index type
        tops.append(ids[np.argsort(-(vectors[ids] @ query), kind="stable")][:k].tolist())
    return tops


def _recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


@pytest.mark.parametrize("kind", [IVFFastScanIndex, IVFIndex])
def test_the_inverted_list_indexes_saved_and_loaded_find_what_exact_search_finds(kind, real_vectors, embedder, tmp_path):
    """The issue's bar: recall@10 against exact search of at least 0.97 on real-text embeddings."""
    queries = embedder.encode_queries(_questions())
    built = kind.build(real_vectors)
    lists = kind.lists_for(len(real_vectors))
    assert lists > kind.probes_for(lists)  # not an exhaustive scan in disguise
    built.save(tmp_path / "dense.faiss")
    loaded = kind.load(tmp_path / "dense.faiss")  # nprobe must survive the trip
    assert type(loaded) is kind and KINDS[kind.kind] is kind
    exact = _served_top(FlatIndex.build(real_vectors), real_vectors, queries)
    assert _recall(_served_top(loaded, real_vectors, queries), exact) >= 0.97
    assert _served_top(loaded, real_vectors, queries) == _served_top(built, real_vectors, queries)


def test_hnsw_saved_and_loaded_searches_like_the_one_built(real_vectors, embedder, tmp_path):
    """HNSW stays selectable (ANN_KIND=hnsw) but not the default: on these overlapping windows, near
    duplicates of each other like replicated news, its recall@10 is about 0.96 (0.70 in the 100k benchmark)."""
    queries = embedder.encode_queries(_questions())
    built = HNSWIndex.build(real_vectors)
    built.save(tmp_path / "dense.faiss")
    loaded = HNSWIndex.load(tmp_path / "dense.faiss")
    assert _served_top(loaded, real_vectors, queries) == _served_top(built, real_vectors, queries)
    exact = _served_top(FlatIndex.build(real_vectors), real_vectors, queries)
    assert _recall(_served_top(loaded, real_vectors, queries), exact) >= 0.9


def test_ivf_trains_on_enough_points_per_list_at_any_size():
    for count in (1, 39, 100, 3_000, 100_000, 1_000_000):
        lists = IVFIndex.lists_for(count)
        assert lists >= 1 and (count < IVFIndex.sample_per_list or count >= lists * IVFIndex.sample_per_list)
    assert IVFIndex.lists_for(1_000_000) == 4096


def test_fast_scan_hands_over_the_exact_best_of_four_times_the_candidates(real_vectors, embedder, monkeypatch):
    """Its 4-bit codes order candidates coarsely: the retriever gets as many as it asked for, chosen by
    exact cosine among four times as many, and so finds at least what the codes' own order gives."""
    queries = embedder.encode_queries(_questions())
    index = IVFFastScanIndex.build(real_vectors)
    for query in queries:
        _, found = index.search(query[None, :], 80)
        ids = found[0][found[0] >= 0]
        best = ids[np.lexsort((ids, -(real_vectors[ids] @ query)))][:20]
        assert closest(index, real_vectors, query, 20).tolist() == best.tolist()
    exact = _served_top(FlatIndex.build(real_vectors), real_vectors, queries)
    oversampled = _recall(_served_top(index, real_vectors, queries, candidates=20), exact)
    monkeypatch.setattr(IVFFastScanIndex, "oversample", 1)
    assert oversampled >= _recall(_served_top(index, real_vectors, queries, candidates=20), exact)


def test_the_default_approximate_index_is_fast_scan():
    from bot.config import Settings

    assert KINDS[Settings.model_fields["ann_kind"].default] is IVFFastScanIndex


def test_the_size_picks_the_index_type():
    assert choose_kind(9_999, 10_000, "ivf-sq8") == FlatIndex.kind
    assert choose_kind(10_000, 10_000, "ivf-sq8") == IVFIndex.kind
    assert choose_kind(10_000, 10_000, "hnsw") == HNSWIndex.kind
    assert choose_kind(10_000, 10_000, "ivf-pq4fs") == IVFFastScanIndex.kind
    assert set(KINDS) == {"flat", "hnsw", "ivf-sq8", "ivf-pq4fs"}
    with pytest.raises(ValueError):
        choose_kind(10, 1, "flat")


@pytest.fixture
def wider_settings(fresh_settings):
    """The launch articles and ten of the dev corpus's: enough passages and sentences for several IVF lists."""
    import shutil

    from conftest import DATA

    for path in sorted((DATA / "corpus" / "articles").iterdir())[:10]:
        shutil.copy(path, fresh_settings.seeds_dir / path.name)
    return fresh_settings


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hnsw", "ivf-sq8", "ivf-pq4fs"])
def test_every_index_type_gives_the_same_answers(kind, wider_settings, embedder, monkeypatch):
    """An index past a threshold must not change what anybody reads.

    IVF probes 128 lists, and a small index has fewer than that (one, at 22 passages): its search would
    be exhaustive and this test could not fail. So here lists are trained on 10 points each rather
    than 40 and only half of them are probed, as at 10,000 passages (128 of 250)."""
    monkeypatch.setattr(IVFIndex, "sample_per_list", 10)
    monkeypatch.setattr(IVFIndex, "probes_for", classmethod(lambda cls, lists: max(1, lists // 2)))
    settings = wider_settings.model_copy(update={"ann_threshold": 1, "ann_kind": kind})
    other = Engine.open(settings, embedder=embedder)
    loaded = loading.load(settings.index_dir)
    assert loaded.manifest["index_kind"] == kind
    if kind.startswith("ivf"):
        import faiss

        for dense in (loaded.dense, loaded.sentences.dense):
            ivf = faiss.extract_index_ivf(dense._index)
            assert ivf.nlist > ivf.nprobe, (ivf.nlist, ivf.nprobe)  # not an exhaustive scan in disguise
    exact = Engine.open(wider_settings, embedder=embedder)  # same folder: rebuilt exact, reusing every vector
    assert exact.index.manifest["index_kind"] == "flat"
    questions = _questions() + [json.loads(line)["question"] for line in
                                (SEEDS.parent / "tests" / "data" / "corpus" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:40]
                                if line.strip()]
    changed = []
    for question in questions:
        mine, theirs = other.ask(question), exact.ask(question)
        assert mine.answered == theirs.answered, question
        assert [q.text for q in mine.quotes][:1] == [q.text for q in theirs.quotes][:1], question
        if [q.text for q in mine.quotes] != [q.text for q in theirs.quotes]:
            changed.append(question)
    # Measured 2026-12-01: HNSW 0 of 54; IVF at half its lists 1 of 54 (a second quote missed), and 2 of
    # 54 once a quote takes in the sentence beside it: that sentence joins only if the (approximate)
    # sentence search found it, and in one question here it did not. 3 of 54 since a sentence giving a
    # quote's figure in other words is folded into it (7950cec): which candidates the approximate search
    # hands over then also decides what is folded, so second and third quotes (all three here) come in
    # another order or from another candidate. First quotes never differ.
    assert len(changed) <= len(questions) // 18, changed
