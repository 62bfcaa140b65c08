"""What `bench` measures against: the words encoded once (the build's floor), the texts a build
embeds, and an index its model built."""

from __future__ import annotations

import pytest

from bot.tools.bench import WINDOW_WORDS, _embedded_texts, _word_windows


def test_the_floor_encodes_every_word_of_every_article_once_in_windows_of_at_most_150(tmp_path):
    (tmp_path / "a.txt").write_text("Headline one\n\n" + " ".join(f"w{i}" for i in range(320)) + "\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Short\n\nOnly a few words.\n", encoding="utf-8")
    windows = _word_windows(tmp_path)
    words = [word for window in windows for word in window.split()]
    expected = [word for name in ("a.txt", "b.md") for word in (tmp_path / name).read_text(encoding="utf-8").split()]
    assert words == expected  # each word once, in order, none dropped or repeated
    assert all(len(window.split()) <= WINDOW_WORDS for window in windows)
    assert len(windows) == 3 + 1  # 322 words: 150 + 150 + 22, and the short article alone


def test_the_scifact_probe_uses_eval_beirs_index_only_if_these_settings_built_it(engine, settings, tmp_path):
    """`eval beir` keeps one index per corpus, for whichever model last ran it: probing it with
    another model (or other build settings) would time questions against vectors this build never makes."""
    from bot.config import BUNDLED_E5
    from bot.tools.bench import scifact_index

    corpus, home = tmp_path / "scifact", tmp_path / "index"
    corpus.mkdir()
    (home / "eval-scifact").mkdir(parents=True)
    (home / "eval-scifact" / "index").symlink_to(settings.index_dir)  # built by `engine`, with the default model
    mine = settings.model_copy(update={"index_dir": home})
    assert scifact_index(mine, corpus) == (home / "eval-scifact" / "index", "")
    folder, why = scifact_index(mine.model_copy(update={"embedding_model": BUNDLED_E5}), corpus)
    assert folder is None and f"built with {engine.embedder.name}" in why and "eval beir" in why
    folder, why = scifact_index(mine.model_copy(update={"passage_vectors": "encoded"}), corpus)
    assert folder is None and "other settings (passage_vectors)" in why
    folder, why = scifact_index(mine, tmp_path / "elsewhere")
    assert folder is None and "once to build its index" in why


@pytest.mark.parametrize("mode", ["sentences", "encoded"])
def test_the_build_is_timed_against_the_texts_it_really_embeds(fresh_settings, mode):
    """A pooled build embeds headlines and sentences, an encoded one passages and sentences: the
    build's baseline must encode the same texts, or the ratio hides half the work (or invents it)."""
    from bot.engine.engine import build_params
    from bot.engine.store import building
    from test_passage_vectors import Recording
    from test_seeds_hardening import HashEmbedder

    settings = fresh_settings.model_copy(update={"passage_vectors": mode})
    embedder = Recording(HashEmbedder())
    index, _ = building.build(settings.index_dir, settings.seeds_dir, embedder, build_params(settings),
                              max_file_bytes=settings.max_file_bytes)
    texts, label = _embedded_texts(index)
    assert sorted(texts) == sorted(embedder.texts)
    assert ("passages pooled" in label) == (mode == "sentences")


@pytest.mark.slow
def test_each_question_is_timed_against_the_models_it_really_ran(fresh_settings, onnx_cache):
    """With the default pair an English question runs MiniLM, and e5 only if it is answered; one in
    Arabic runs e5 alone. A baseline of both encodes for every question would understate the ratio."""
    from bot.config import BUNDLED_E5
    from bot.engine.engine import Engine
    from bot.tools.bench import timed_questions
    from test_other_languages import TALKS

    engine = Engine.open(fresh_settings.model_copy(update={"other_languages_model": BUNDLED_E5,
                                                          "onnx_cache_dir": onnx_cache}))
    minilm, e5 = engine.embedder, engine.other_languages.embedder
    questions = ["Where did US and Iranian officials hold indirect talks?", "Which team won the NBA finals last year?",
                 TALKS["ar"]]
    assert [engine.ask(q).answered for q in questions] == [True, False, True]
    asks, encodes, ran = timed_questions(engine.ask, [minilm, e5], questions)
    assert ran == [(minilm.name, e5.name), (minilm.name,), (e5.name,)]
    assert len(asks) == len(encodes) == 3 and all(seconds > 0 for seconds in encodes)
    assert "encode_queries" not in vars(minilm) and "encode_queries" not in vars(e5)  # the models are left as they were


@pytest.mark.slow
def test_synthetic_copies_are_near_duplicates_in_each_models_own_geometry(fresh_settings, onnx_cache):
    """The synthetic 100k and 1M indexes copy real vectors with noise. e5 puts every text in a narrow
    cone, so noise of one fixed size made its copies hardly nearer their originals than unrelated
    sentences are, and FAISS's lists collapsed around them: the pair's timings there measured an
    index no real corpus makes. A copy must stand as near its original, relative to how far apart
    the model puts unrelated texts, for both models."""
    import numpy as np

    from bot.config import BUNDLED_E5
    from bot.engine.engine import Engine
    from bot.tools.bench import _mean_vector, near_duplicates

    engine = Engine.open(fresh_settings.model_copy(update={"other_languages_model": BUNDLED_E5,
                                                          "onnx_cache_dir": onnx_cache}))
    closeness = {}
    for index in (engine.index, engine.other_languages.index):
        originals = np.asarray(index.sentence_vectors, dtype=np.float32)
        copies = near_duplicates(originals, _mean_vector(index.sentence_vectors), np.random.default_rng(0))
        assert np.allclose(np.linalg.norm(copies, axis=1), 1.0, atol=1e-5)
        cosines = copies @ originals.T
        own = np.diag(cosines)
        unrelated = (originals @ originals.T)[~np.eye(len(originals), dtype=bool)].mean()
        closeness[index.manifest["params"]["model"]] = (own.mean() - unrelated) / (1 - unrelated)
        assert (cosines.argmax(axis=1) == np.arange(len(originals))).mean() >= 0.95  # nearest to its own original
    assert all(0.75 <= value <= 0.95 for value in closeness.values()), closeness
    assert max(closeness.values()) - min(closeness.values()) <= 0.1, closeness
