"""Passage vectors pooled from sentences (PASSAGE_VECTORS): a build encodes each word about once, and
a pooled passage still ranks like an encoded one for the questions users ask."""

from __future__ import annotations

import numpy as np
import pytest

from bot.config import BUNDLED_E5, BUNDLED_MINILM, load_settings
from bot.engine.engine import Engine, build_params
from bot.engine.store import building, loading
from bot.engine.store.assembly import HEADLINE_WEIGHT, embed_text
from bot.tools import qa
from test_seeds_hardening import HashEmbedder


class Recording:
    """Wraps an embedder and keeps every text it was asked to encode."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, []
        self.name, self.dimension = inner.name, inner.dimension

    def encode(self, texts, **kwargs):
        self.texts += list(texts)
        return self.inner.encode(texts, **kwargs)

    def encode_queries(self, texts, **kwargs):
        return self.inner.encode_queries(texts, **kwargs)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


def _build(settings, embedder, previous=None):
    return building.build(settings.index_dir, settings.seeds_dir, embedder, build_params(settings),
                          max_file_bytes=settings.max_file_bytes, previous=previous)


def test_each_model_gets_its_measured_default_and_an_explicit_setting_holds_for_both_indexes():
    default = load_settings(other_languages_model=BUNDLED_E5)  # the tests' environment turns it off
    assert default.embedding_model == BUNDLED_MINILM and default.passage_vectors_for_model == "sentences"
    assert default.for_other_languages().embedding_model == BUNDLED_E5
    assert default.for_other_languages().passage_vectors_for_model == "encoded"
    chosen = load_settings(other_languages_model=BUNDLED_E5, passage_vectors="sentences")
    assert chosen.for_other_languages().passage_vectors_for_model == "sentences"


def test_a_pooled_build_encodes_headlines_and_sentences_never_a_passage(fresh_settings):
    """The build's cost is its encode: pooled, each word of an article goes through the model once."""
    settings = fresh_settings.model_copy(update={"passage_vectors": "sentences"})
    embedder = Recording(HashEmbedder())
    index, _ = _build(settings, embedder)
    passages = {embed_text(index.articles[p.source], p) for p in index.passages}
    assert not passages & set(embedder.texts)
    titles = [meta.title for meta in index.articles.metas]
    assert sorted(embedder.texts) == sorted(titles + [
        index.articles.text(int(position))[int(start):int(end)] for position, start, end in index.sentences.table])
    encoded_words = sum(len(text.split()) for text in embedder.texts)
    article_words = sum(len(index.articles.text(p).split()) for p in range(len(index.articles)))
    assert encoded_words <= 1.02 * article_words


def test_a_pooled_passage_is_the_mean_of_its_sentences_and_its_headline(fresh_settings):
    settings = fresh_settings.model_copy(update={"passage_vectors": "sentences"})
    embedder = HashEmbedder()
    index, _ = _build(settings, embedder)
    for row in range(len(index.passages)):
        passage = index.passages[row]
        sentences = np.asarray(index.sentence_vectors[list(index.passages.sentence_rows(row))], dtype=np.float32)
        headline = embedder.encode([index.articles[passage.source].title])[0]
        expected = sentences.sum(axis=0) + HEADLINE_WEIGHT * headline
        np.testing.assert_allclose(index.vectors[row], expected / np.linalg.norm(expected), atol=1e-6)


def test_an_edited_article_encodes_only_its_new_sentences_and_its_headline(fresh_settings):
    settings = fresh_settings.model_copy(update={"passage_vectors": "sentences"})
    first, _ = _build(settings, HashEmbedder())
    path = settings.seeds_dir / "001_d007a2e75fab5d5c.txt"
    added = "A new paragraph about talks in Muscat, added after the first build."
    path.write_text(path.read_text(encoding="utf-8") + f"\n{added}\n", encoding="utf-8")
    embedder = Recording(HashEmbedder())
    second, report = _build(settings, embedder, previous=first)
    assert embedder.texts == [second.articles["001_d007a2e75fab5d5c.txt"].title, added]
    assert report.embedded == 1  # the one passage holding the new sentence
    # Every other passage's vector is the one the first build pooled.
    before = {(p.source, p.text): first.vectors[row] for row, p in enumerate(first.passages)}
    kept = [(before[(p.source, p.text)], second.vectors[row]) for row, p in enumerate(second.passages)
            if (p.source, p.text) in before and added not in p.text]
    assert kept and all(np.allclose(old, new, atol=1e-6) for old, new in kept)


def test_switching_passage_vectors_rebuilds_and_lends_no_pooled_vector_as_an_encoded_one(fresh_settings):
    pooled_settings = fresh_settings.model_copy(update={"passage_vectors": "sentences"})
    encoded_settings = fresh_settings.model_copy(update={"passage_vectors": "encoded"})
    pooled, _ = _build(pooled_settings, HashEmbedder())
    why = loading.staleness(pooled.manifest, pooled.article_hashes(), fresh_settings.seeds_dir,
                            build_params(encoded_settings), max_file_bytes=fresh_settings.max_file_bytes)
    assert why == "settings changed: passage_vectors"
    embedder = Recording(HashEmbedder())
    encoded, report = _build(encoded_settings, embedder, previous=pooled)
    assert report.embedded == len(encoded.passages)
    for row, passage in enumerate(encoded.passages):
        text = embed_text(encoded.articles[passage.source], passage)
        np.testing.assert_allclose(encoded.vectors[row], HashEmbedder().encode([text])[0], atol=1e-6)


@pytest.mark.slow
def test_pooled_passages_answer_and_decline_the_launch_questions_as_encoded_ones_do(fresh_settings, embedder, onnx_cache):
    """With the real model, MiniLM alone: dev.jsonl and the extra set read the same first quotes, first
    three and declines either way (measured: 29 and 30 of the 32 answerable both ways, all 16 off-topic
    questions declined)."""
    from conftest import DEV_QA, EXTRA_QA

    questions = [*qa.load_questions(DEV_QA), *qa.load_questions(EXTRA_QA)]
    summaries = {}
    for mode in ("encoded", "sentences"):
        settings = fresh_settings.model_copy(update={
            "passage_vectors": mode, "index_dir": fresh_settings.index_dir / mode,
            "other_languages_model": "none", "onnx_cache_dir": onnx_cache})
        engine = Engine.open(settings, embedder=embedder)
        assert engine.index.params["passage_vectors"] == mode
        verdicts = []
        for question in questions:
            answer = engine.ask(question.question, k=3)
            quoted = [qa.Quoted(q.text, (q.source, *(c.source for c in q.also_in))) for q in answer.quotes]
            verdicts.append(qa.judge(question, answer.answered, quoted))
        summary = qa.summarise(mode, verdicts)
        summaries[mode] = (summary.first, summary.first_three, summary.wrongly_declined, summary.declined)
    assert summaries["sentences"][:2] >= summaries["encoded"][:2]
    first, first_three, wrongly_declined, declined = summaries["sentences"]
    assert wrongly_declined == 0 and declined == 16  # every off-topic question of both sets
    assert first >= 28 and first_three >= 29  # measured 29 and 30 of 32
