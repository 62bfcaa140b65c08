"""Answer quality on the development corpus's held-back half, with the real model and index.

The issue's targets (first quote 0.80, first three 0.92, declined 0.90) are not reached yet; these
floors are today's measured figures less a question or two, so a change that loses ground on
questions nobody tuned on fails here. Raise them as quality improves; never tune on this half.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.tools import qa
from conftest import nomic_installed

DATA = Path(__file__).resolve().parent / "data"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _held_back_verdicts(seeds: Path, index_dir: Path, embedder=None, *, grown: bool = False,
                        **settings) -> list[qa.Verdict]:
    """Every held-back question asked of the dev corpus beside the launch articles, and judged;
    `grown`: with 259 SciFact abstracts too, 300 articles in all."""
    from bot.config import load_settings
    from bot.engine.engine import Engine
    from bot.tools.evaluation import materialise_corpus

    for folder in (SEEDS, DATA / "corpus" / "articles"):
        for path in folder.iterdir():
            if path.suffix in (".txt", ".md"):
                shutil.copy(path, seeds / path.name)
    if grown:
        materialise_corpus(DATA / "filler", seeds)
    engine = Engine.open(load_settings(seeds_dir=seeds, index_dir=index_dir, **settings), embedder=embedder)
    assert len(engine.index.articles) == (300 if grown else 41)
    held = [q for q in qa.load_questions(DATA / "corpus" / "questions.jsonl") if q.half == "held-back"]
    found = []
    for question in held:
        answer = engine.ask(question.question, k=3)
        for quote in answer.quotes:  # every quote an exact slice, on every question
            assert quote.text == (seeds / quote.source).read_bytes().decode("utf-8")[quote.start:quote.end]
        quoted = [qa.Quoted(q.text, (q.source, *(c.source for c in q.also_in))) for q in answer.quotes]
        found.append(qa.judge(question, answer.answered, quoted))
    return found


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory, embedder):
    return _held_back_verdicts(tmp_path_factory.mktemp("corpus-seeds"), tmp_path_factory.mktemp("corpus-index"),
                               embedder)


@pytest.mark.slow
def test_held_back_english_questions_keep_their_answers(verdicts):
    english = qa.summarise("en", [v for v in verdicts if v.question.lang == "en"])
    assert english.answerable == 48
    assert english.first >= 18 and english.first_three >= 25  # measured 21 and 26 (18 and 26 with encoded passages)
    assert english.wrongly_declined <= 4  # measured 3


@pytest.mark.slow
def test_held_back_unanswerable_questions_are_declined_as_often_as_today(verdicts):
    none = qa.summarise("none", [v for v in verdicts if not v.question.answerable])
    assert none.unanswerable == 17 and none.declined >= 6  # measured 7


@pytest.mark.slow
def test_the_same_settings_decline_at_the_launch_size_too(engine):
    """Declining is set once for every corpus size: with the three launch articles alone, the
    held-back off-topic and near-miss questions must be declined at least as often as today.

    Measured 14/17 here against 7/17 at 41 articles: coverage of the question's words grows
    with the corpus, which is the drift the quality issue asks to remove (not done yet).
    """
    held = [q for q in qa.load_questions(DATA / "corpus" / "questions.jsonl")
            if q.half == "held-back" and not q.answerable]
    declined = sum(1 for q in held if not engine.ask(q.question).answered)
    assert len(held) == 17 and declined >= 13  # measured 14


@pytest.fixture(scope="module")
def grown_verdicts(tmp_path_factory, embedder):
    return _held_back_verdicts(tmp_path_factory.mktemp("grown-seeds"), tmp_path_factory.mktemp("grown-index"),
                               embedder, grown=True)


@pytest.mark.slow
def test_the_same_settings_decline_at_three_hundred_articles(grown_verdicts):
    """The other end of the issue's range: the dev corpus grown to 300 articles with 259 abstracts
    on other subjects (SciFact's), the settings unchanged. The held-back questions to decline are
    declined about as often as at 41 articles (measured 6/17 against 7/17: "hi" meets the word "hi"
    in an abstract), and the answerable ones are no more often declined (3/48 at both sizes)."""
    none = qa.summarise("none", [v for v in grown_verdicts if not v.question.answerable])
    assert none.unanswerable == 17 and none.declined >= 5  # measured 6
    english = qa.summarise("en", [v for v in grown_verdicts if v.question.lang == "en"])
    assert english.wrongly_declined <= 4 and english.first_three >= 24  # measured 3 and 27


@pytest.fixture(scope="module")
def default_verdicts(tmp_path_factory, onnx_cache):
    """The shipped defaults: MiniLM declines English questions, e5 quotes them and answers the rest."""
    from bot.config import BUNDLED_E5

    return _held_back_verdicts(tmp_path_factory.mktemp("default-corpus-seeds"),
                               tmp_path_factory.mktemp("default-corpus-index"),
                               other_languages_model=BUNDLED_E5, onnx_cache_dir=onnx_cache)


@pytest.mark.slow
def test_the_defaults_answer_held_back_arabic_persian_and_sorani_questions_from_english_articles(default_verdicts):
    """The issue's target for the community's other languages (0.70 of the first three) on the held-back
    half. It rests on ranking and declining such a question by meaning alone (`Engine.ask`): with
    word matching, the two Arabic articles took the first places and it read 4/7, one declined."""
    others = qa.summarise("other", [v for v in default_verdicts if v.question.lang != "en"])
    assert others.answerable == 7
    assert others.first_three >= 5 and others.wrongly_declined == 0  # measured 5 and 0 (first quote: 4)


@pytest.mark.slow
def test_the_defaults_quote_english_questions_from_e5_and_decline_them_with_minilm(default_verdicts):
    """ENGLISH_QUOTES=auto: against MiniLM alone (21, 26, 34 carriers cited) e5's quotes find more
    answers in the first three and cite more of the articles carrying them; MiniLM's declines (7) stay."""
    english = qa.summarise("en", [v for v in default_verdicts if v.question.lang == "en"])
    assert english.first >= 17 and english.first_three >= 29  # measured 19 and 31 (VNNI), 20 and 30 (AVX2)
    assert english.wrongly_declined <= 4  # measured 3
    # measured 49 with a VNNI CPU's int8 vectors, 44 with an AVX2 one's (bot.engine.model_cache.quantization_config)
    assert english.carriers_cited >= 42 and english.carriers == 64
    none = qa.summarise("none", [v for v in default_verdicts if not v.question.answerable])
    assert none.declined >= 6  # measured 7


@pytest.fixture(scope="module")
def nomic_verdicts(tmp_path_factory, onnx_cache):
    from bot.config import BUNDLED_NOMIC

    return _held_back_verdicts(tmp_path_factory.mktemp("nomic-corpus-seeds"),
                               tmp_path_factory.mktemp("nomic-corpus-index"),
                               embedding_model=BUNDLED_NOMIC, onnx_cache_dir=onnx_cache)


@pytest.mark.slow
@pytest.mark.skipif(not nomic_installed(), reason="gpt4all's slices are not installed (README)")
def test_nomic_finds_more_held_back_answers_than_minilm_and_declines_about_as_often(nomic_verdicts):
    """The README's model table rests on these: nomic-embed-text-v1.5 against MiniLM's 18 / 26 / 3 / 7."""
    english = qa.summarise("en", [v for v in nomic_verdicts if v.question.lang == "en"])
    assert english.first >= 22 and english.first_three >= 30  # measured 25 and 32 (int8, VNNI), 23 and 32 (AVX2)
    assert english.wrongly_declined <= 4  # measured 3: the price of its launch-size band (0 without it)
    none = qa.summarise("none", [v for v in nomic_verdicts if not v.question.answerable])
    assert none.declined >= 6  # measured 7
