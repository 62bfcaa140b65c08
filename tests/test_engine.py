"""The engine end to end on the launch articles, with the real model: what a user asking sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import DEV_QA, EXTRA_QA


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _holds(text: str, answers: list[str]) -> bool:
    return any(answer.lower() in text.lower() for answer in answers)


def _file_text(settings, source: str) -> str:
    return (settings.seeds_dir / source).read_bytes().decode("utf-8")


def test_oman_question_is_answered_from_the_article_that_says_it(engine):
    answer = engine.ask("Where did US and Iranian officials hold talks?")
    assert answer.answered
    first = answer.quotes[0]
    assert "Oman" in first.text
    assert first.source == "003_42fc9fe0a8eacdba.txt"


@pytest.mark.parametrize("row", [r for r in _rows(DEV_QA) if r["answerable"]], ids=lambda r: r["question"][:40])
def test_dev_answerable_questions_quote_an_answer_in_the_first_three(engine, row):
    answer = engine.ask(row["question"])
    assert answer.answered, answer.diagnostics
    assert any(_holds(q.text, row["answers"]) for q in answer.quotes[:3]), [q.text for q in answer.quotes]


def test_dev_first_quote_holds_the_answer_for_nine_of_ten(engine):
    rows = [r for r in _rows(DEV_QA) if r["answerable"]]
    first = sum(_holds(engine.ask(r["question"]).quotes[0].text, r["answers"]) for r in rows)
    assert first >= 9


@pytest.mark.parametrize("row", [r for r in _rows(DEV_QA) + _rows(EXTRA_QA) if not r["answerable"]],
                         ids=lambda r: r["question"][:40])
def test_off_topic_questions_are_declined_with_no_quotes(engine, row):
    answer = engine.ask(row["question"])
    assert not answer.answered
    assert answer.quotes == ()
    assert answer.reason == "declined"


def test_unseen_questions_keep_their_quotes(engine):
    """Questions written apart from the dev set: the rules were not tuned on them."""
    rows = [r for r in _rows(EXTRA_QA) if r["answerable"]]
    answers = [engine.ask(r["question"]) for r in rows]
    assert all(a.answered for a in answers), [a.question for a in answers if not a.answered]
    in_three = sum(any(_holds(q.text, r["answers"]) for q in a.quotes) for r, a in zip(rows, answers))
    assert in_three >= 0.85 * len(rows)


def test_statement_carried_by_all_three_articles_is_quoted_once_citing_the_others(engine):
    answer = engine.ask("What did Trump say would happen if Maliki returns to power?")
    carrying = [q for q in answer.quotes if "no longer help Iraq" in q.text]
    assert len(carrying) == 1
    cited = {carrying[0].source, *(c.source for c in carrying[0].also_in)}
    assert cited == {"000_389047a5565d4974.txt", "001_d007a2e75fab5d5c.txt", "003_42fc9fe0a8eacdba.txt"}


def test_also_in_citations_point_at_the_statement_in_the_other_files(engine, settings):
    """Each citation of the quote carrying Trump's words spans those words in its own file (other
    quotes may cite other statements: the lead "Maliki defied Trump's threat" is in two files)."""
    answer = engine.ask("What did Trump say would happen if Maliki returns to power?")
    carrying = [quote for quote in answer.quotes if "no longer help Iraq" in quote.text]
    assert carrying and carrying[0].also_in
    for citation in carrying[0].also_in:
        assert "no longer help Iraq" in _file_text(settings, citation.source)[citation.start : citation.end]


FIGURES = {  # one fact in two wordings, and the same figure in a different fact
    "a_seats.txt": "Sudani's list tops the vote\n\nSudani's coalition won 46 seats in the November election, "
                   "ahead of Maliki's State of Law. Turnout was reported at 56 percent.\n",
    "b_seats.txt": "Results are certified\n\nWith 46 seats, the coalition of caretaker prime minister Sudani came "
                   "first in November's election, the commission said on Sunday.\n",
    "c_schools.txt": "Basra schools reopen\n\nThe ministry said 46 schools in Basra reopened on Monday after the "
                     "floods, and that the coalition of aid groups would help rebuild the rest.\n",
}


@pytest.mark.slow
def test_one_fact_in_other_words_is_cited_as_also_in_when_it_gives_the_same_figure(tmp_path, embedder):
    """"Won 46 seats" and "with 46 seats ... came first" share a figure and the words around it, so
    the second article is cited under the first's quote; a sentence sharing only the number is not."""
    from bot.config import load_settings
    from bot.engine.engine import Engine

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in FIGURES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    engine = Engine.open(load_settings(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=embedder)
    answer = engine.ask("How many seats did Sudani's coalition win?", abstain=False)
    first = answer.quotes[0]
    assert "46 seats" in first.text and first.source in ("a_seats.txt", "b_seats.txt")
    assert {c.source for c in first.also_in} == {"a_seats.txt", "b_seats.txt"} - {first.source}
    assert all("46 schools" not in quote.text or not quote.also_in for quote in answer.quotes)


def test_quotes_are_a_sentence_or_two_not_whole_passages(engine):
    from bot.engine.sentences import split_sentences

    rows = [r for r in _rows(DEV_QA) + _rows(EXTRA_QA) if r["answerable"]]
    counts = sorted(len(split_sentences(q.text)) for r in rows for q in engine.ask(r["question"]).quotes)
    assert counts[len(counts) // 2] <= 2
    assert max(counts) <= 2


def test_a_sentence_that_leans_on_the_previous_one_is_quoted_with_it(engine):
    answer = engine.ask("Did any militias support Maliki?")
    quote = next(q for q in answer.quotes if "voiced their support" in q.text)
    assert not quote.text.startswith("Some of those militias")  # "those" needs the sentence before


def test_empty_question_is_not_searched(engine):
    for question in ["", "   ", "\n\t"]:
        answer = engine.ask(question)
        assert not answer.answered and answer.reason == "empty" and answer.quotes == ()


def test_no_abstain_returns_quotes_but_still_says_it_would_decline(engine):
    answer = engine.ask("How do I bake sourdough bread?", k=2, abstain=False)
    assert not answer.answered
    assert len(answer.quotes) == 2


ODD_QUESTIONS = [
    "", "?", "x" * 10_000, "Maliki " * 2_000, "🇮🇶🔥 Maliki 🤔?", "ما هو موقف المالكي من تهديدات ترامب؟",
    "Maliki\x00\x07\x1b[31m third term", "**Trump** _said_ `what` about [Iraq](http://evil.example)?",
    "@everyone what did Trump say?", "<@123456789> <@&987654321> Oman talks", "\u202eOman\u202c talks?",
    "Ma\u200bli\u200bki", "```\nDROP TABLE passages;\n```", "\r\n\r\nOman\r\n",
]


@pytest.mark.parametrize("question", ODD_QUESTIONS, ids=range(len(ODD_QUESTIONS)))
def test_every_quote_is_an_exact_slice_of_its_file_for_odd_questions(engine, settings, question):
    answer = engine.ask(question, k=5, abstain=False)
    for quote in answer.quotes:
        assert quote.text == _file_text(settings, quote.source)[quote.start : quote.end]
        assert quote.text.strip() == quote.text and quote.text


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(min_size=0, max_size=300))
def test_every_quote_is_an_exact_slice_for_generated_questions(engine, settings, question):
    answer = engine.ask(question, k=3, abstain=False)
    for quote in answer.quotes:
        assert quote.text == _file_text(settings, quote.source)[quote.start : quote.end]


def test_opening_loads_the_model_so_the_first_question_is_answered_at_once(engine, settings):
    """The bot connects after Engine.open: the model must be in memory by then, not loaded by the first /ask."""
    from bot.engine.embedding import make_embedder
    from bot.engine.engine import Engine

    fresh = make_embedder(settings)
    assert "model" not in vars(fresh)  # lazy until asked for
    Engine.open(settings, embedder=fresh)
    assert "model" in vars(fresh)


def test_a_shared_stock_phrase_is_not_the_same_statement_but_a_repeated_quote_is(tmp_path, embedder):
    """Six words in a row make one statement only when the sentences also mean the same thing."""
    from bot.config import load_settings
    from bot.engine.engine import Engine

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    stock = "according to people familiar with the matter"
    quote = "\"We will not accept a prime minister imposed from outside,\" the cleric said on Sunday."
    (seeds / "a.txt").write_text(
        f"Cleric rejects outside pressure\n\n{quote}\n\nThe oil ministry will raise exports in March, {stock}.\n",
        encoding="utf-8")
    (seeds / "b.txt").write_text(
        f"Militia statement\n\nA militia leader repeated the line. {quote}\n\n"
        f"A new football stadium will open in Basra next year, {stock}.\n", encoding="utf-8")
    (seeds / "c.txt").write_text(
        f"Harvest report\n\nFarmers in Diyala expect a large wheat harvest, {stock}.\n", encoding="utf-8")
    engine = Engine.open(load_settings(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=embedder)

    answer = engine.ask("Will the oil ministry raise exports in March?")
    first = answer.quotes[0]
    assert "oil ministry" in first.text and first.source == "a.txt"
    assert first.also_in == ()  # the stadium and the harvest share six words with it, not its meaning

    answer = engine.ask("What did the cleric say about a prime minister imposed from outside?")
    carrying = [q for q in answer.quotes if "imposed from outside" in q.text]
    assert len(carrying) == 1  # quoted once...
    assert {carrying[0].source, *(c.source for c in carrying[0].also_in)} == {"a.txt", "b.txt"}  # ...citing both


def test_k_means_k_quotes_ranked_as_the_product_ranks_them(engine, settings):
    """`-k N` returns the N best (or every distinct statement there is), not what a few passages hold."""
    total = len(engine.index.sentence_vectors)
    answer = engine.ask("What did Trump say about Maliki?", k=20, abstain=False)
    assert len(answer.quotes) == 20 and total > 40  # more than the top passages hold
    assert len({(q.source, q.start) for q in answer.quotes}) == 20
    for quote in answer.quotes:
        assert quote.text == (settings.seeds_dir / quote.source).read_text(encoding="utf-8")[quote.start:quote.end]
    everything = engine.ask("What did Trump say about Maliki?", k=1000, abstain=False)
    assert 20 < len(everything.quotes) <= total
    spans = sorted((q.source, q.start, q.end) for q in everything.quotes)
    assert all(a[0] != b[0] or a[2] <= b[1] for a, b in zip(spans, spans[1:]))  # no sentence quoted twice
    assert [q.text for q in everything.quotes[:20]] == [q.text for q in answer.quotes]


@pytest.mark.slow
def test_no_earlier_index_stays_reachable_after_rebuilds(fresh_settings, embedder, monkeypatch):
    """After N rebuilds only the live index is held: not the first one's table (its metas, decoded
    texts and the mapping of a deleted texts.npy), with the heap frozen as the running bot freezes it."""
    import gc
    import sys
    import weakref

    from bot.engine.engine import Engine
    from bot.engine.store import assembly, building

    built: list[weakref.ref] = []

    class Tracked(assembly.Assembly):  # a plain subclass carries __weakref__, the slotted dataclass does not
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(weakref.ref(self))

    monkeypatch.setattr(building, "Assembly", Tracked)
    engine = Engine.open(fresh_settings, embedder=embedder)
    gc.collect()
    gc.freeze()  # what QuoteBot.setup_hook does once the model and index are loaded
    old_texts: list[str] = []  # the only holder of the first index's decoded texts, once it is gone
    try:
        tables = [weakref.ref(engine.index.articles)]
        article = fresh_settings.seeds_dir / "001_d007a2e75fab5d5c.txt"
        for position in range(len(engine.index.articles)):
            old_texts.append(engine.index.articles.text(position))
            engine.index.articles.at(position).paragraph_at(0)  # paragraph numbers are worked out and cached
        for edition in range(3):
            engine.ask("Why does Washington see Maliki as a problem?")  # fills the decoded-text cache
            with article.open("a", encoding="utf-8") as handle:
                handle.write(f"\nEdition {edition}: the talks resumed in Muscat on Monday.\n")
            engine.reindex()
            tables.append(weakref.ref(engine.index.articles))
        engine.ask("Where did US and Iranian officials hold talks?")
        gc.collect()
        assert [ref() is None for ref in tables] == [True, True, True, False]
        assert built and all(ref() is None for ref in built)  # no build's assembled rows either
    finally:
        gc.unfreeze()
    gc.collect()
    # no cache anywhere (a module-wide one, say) still holds them: the list and the call's argument only
    assert [sys.getrefcount(old_texts[i]) for i in range(len(old_texts))] == [2] * len(old_texts)



DELAY = "The finance ministry in Baghdad delayed public salaries in the Kurdistan Region for a third month on Sunday."
UNRELATED = ("A new football stadium will open in Basra next year, the sports ministry said.\n\n"
             "Farmers in Diyala expect a large wheat harvest after heavy winter rain.\n")


def _salaries_engine(tmp_path, embedder, body: str):
    from bot.config import load_settings
    from bot.engine.engine import Engine

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "salaries.md").write_text(f"# Kurdistan salaries delayed again\n\n{body}\n\n{UNRELATED}", encoding="utf-8")
    return Engine.open(load_settings(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=embedder)


def test_an_answer_split_over_two_sentences_is_quoted_whole(tmp_path, embedder):
    """The delay and its reason sit in two sentences: the one quote asked for holds both."""
    from dataclasses import replace

    reason = "It blamed the missing 2026 budget law, which caps what the ministry may spend each month."
    engine = _salaries_engine(tmp_path, embedder, f"{DELAY} {reason}")
    assert engine.ask("Why were Kurdistan salaries delayed?", k=1).quotes[0].text == f"{DELAY} {reason}"
    engine.quote_params = replace(engine.quote_params, neighbour_share=2.0)  # no neighbour scores that high
    assert engine.ask("Why were Kurdistan salaries delayed?", k=1).quotes[0].text == DELAY


def test_a_neighbour_never_joins_a_quote_across_a_section_heading(tmp_path, embedder):
    from dataclasses import replace

    reason = "Kurdistan salaries were delayed because the 2026 budget law is still missing."
    engine = _salaries_engine(tmp_path, embedder, f"{DELAY}\n\n## Why\n\n{reason}")
    assert engine.ask("Why were Kurdistan salaries delayed?", k=1).quotes[0].text == reason
    engine.quote_params = replace(engine.quote_params, neighbour_share=0.5)  # close enough to join but for the heading
    assert engine.ask("Why were Kurdistan salaries delayed?", k=1).quotes[0].text == reason
