"""Each sentence's hashed words, as stored at build time, against the plain definitions they replace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings as hypothesis_settings, strategies as st

from bot.engine.fingerprints import Fingerprints, coverage, leans_back, question_term_keys, term_keys
from bot.engine.lexical import stem_terms


def _shares_six_words(a: str, b: str) -> bool:
    """The definition: six consecutive words (case-insensitive) found in both."""
    import re

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return set(zip(*(words[i:] for i in range(6))))

    return bool(runs(a) & runs(b))


SENTENCES = [
    "Trump said the United States will no longer help Iraq if Maliki returns.",
    "In a post, the president wrote that the United States Will No Longer Help Iraq.",
    "US and Iranian officials held talks in Oman.",
    "Some of those militias backed him.",
    "Short one.",
    "",
    "Talks, talks, talks: officials met officials in Muscat, Oman's capital, on Friday.",
]


def test_terms_are_the_stemmed_content_words_bm25_sees():
    prints = Fingerprints.compute(SENTENCES)
    for row, sentence in enumerate(SENTENCES):
        assert prints.terms_of(row) == term_keys(sentence)
        assert len(prints.terms_of(row)) == len(set(stem_terms(sentence)))


def test_question_coverage_counts_shared_stems():
    prints = Fingerprints.compute(SENTENCES)
    # "talks" and "talk" share a stem; "held" and "Oman" are there; "Qatar" and "Friday" are not.
    assert coverage(term_keys("The talk held in Oman or Qatar on Friday?"), prints.terms_of(2)) == 3 / 5
    assert coverage(term_keys("the of and"), prints.terms_of(2)) == 0.0  # only stopwords: nothing to cover


def test_a_questions_framing_words_do_not_count_as_what_it_is_about():
    """A sentence holding "what" and "did" covers nothing of "what did Maliki say about the US?";
    the US is kept though it lowercases to a pronoun."""
    question = "What did Maliki's party say about the US?"
    assert question_term_keys(question) == term_keys("Maliki party say about US")
    said = Fingerprints.compute(["What did they do?", "Maliki's party spoke about the US."])
    assert coverage(question_term_keys(question), said.terms_of(0)) == 0.0
    assert coverage(question_term_keys(question), said.terms_of(1)) > coverage(term_keys(question), said.terms_of(1))
    assert question_term_keys("who’s she?") == frozenset()  # a curly apostrophe splits as a straight one


def test_a_shared_six_word_run_is_found_whatever_the_case_and_punctuation():
    prints = Fingerprints.compute(SENTENCES)
    assert not prints.runs_of(0).isdisjoint(prints.runs_of(1))  # "will no longer help Iraq ..." in both
    assert prints.runs_of(0).isdisjoint(prints.runs_of(2))
    assert prints.runs_of(4) == frozenset()  # fewer than six words: no run at all


def test_runs_never_span_two_sentences():
    # The last five words of one sentence and the first of the next are not a run of either.
    prints = Fingerprints.compute(["one two three four five", "six seven eight nine ten eleven"])
    across = Fingerprints.compute(["one two three four five six"])
    assert prints.runs_of(0) == frozenset()
    assert across.runs_of(0).isdisjoint(prints.runs_of(1))
    assert len(prints.runs_of(1)) == 1


def test_the_same_words_in_another_order_are_not_the_same_run():
    prints = Fingerprints.compute([
        "Maliki will not return as prime minister", "He said Maliki will not return as prime minister.",
        "prime as return not will Maliki",  # the words of its first run, reversed
    ])
    assert not prints.runs_of(0).isdisjoint(prints.runs_of(1))
    assert prints.runs_of(0).isdisjoint(prints.runs_of(2))


def test_lean_back_flags_match_the_rule():
    prints = Fingerprints.compute(SENTENCES)
    assert [prints.leans_back(row) for row in range(len(SENTENCES))] == [leans_back(s) for s in SENTENCES]
    assert prints.leans_back(3) and prints.leans_back(4) and not prints.leans_back(2)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab cd ef gh. ,ÉÀ"), max_size=60), min_size=2, max_size=6))
def test_shared_runs_agree_with_the_definition_on_generated_text(texts):
    prints = Fingerprints.compute(texts)
    for i in range(len(texts)):
        for j in range(len(texts)):
            shared = not prints.runs_of(i).isdisjoint(prints.runs_of(j))
            assert shared == _shares_six_words(texts[i], texts[j])


def test_saved_fingerprints_load_identical(tmp_path):
    prints = Fingerprints.compute(SENTENCES)
    prints.save(tmp_path)
    loaded = Fingerprints.load(tmp_path)
    assert len(loaded) == len(SENTENCES)
    for row in range(len(SENTENCES)):
        assert loaded.terms_of(row) == prints.terms_of(row)
        assert loaded.runs_of(row) == prints.runs_of(row)
    assert np.array_equal(loaded.leans, prints.leans)


def test_hashing_in_blocks_gives_the_same_arrays_as_one_pass(monkeypatch):
    import bot.engine.fingerprints as fingerprints

    whole = Fingerprints.compute(SENTENCES * 3)
    monkeypatch.setattr(fingerprints, "BLOCK", 2)  # blocks end mid-list, runs must not leak across them
    blocked = Fingerprints.compute(SENTENCES * 3)
    for name in ("term_ptr", "terms", "run_ptr", "runs", "leans"):
        assert np.array_equal(getattr(whole, name), getattr(blocked, name)), name
    assert len(Fingerprints.compute([])) == 0


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab cd ef gh. ,ÉÀ"), max_size=60), min_size=2, max_size=6),
       st.data())
def test_a_run_lookup_finds_exactly_the_sentences_sharing_six_words(texts, data):
    """Quoting asks one sorted lookup per question instead of comparing every pair's runs."""
    prints = Fingerprints.compute(texts)
    looked_up = data.draw(st.lists(st.integers(0, len(texts) - 1), min_size=1, unique=True))
    asked = data.draw(st.lists(st.integers(0, len(texts) - 1), min_size=1, max_size=2, unique=True))
    found = prints.run_lookup(np.array(looked_up)).sharing(asked)
    assert found == {row for row in looked_up if any(_shares_six_words(texts[row], texts[a]) for a in asked)}


def test_holding_counts_the_question_terms_each_sentence_holds():
    prints = Fingerprints.compute(SENTENCES)
    question = term_keys("Will the United States help Iraq, Trump asked in Oman?")
    rows = [2, 0, 5, 1, 0]  # any order, repeats allowed
    expected = [round(coverage(question, prints.terms_of(row)) * len(question)) for row in rows]
    assert prints.holding([(row,) for row in rows], question).tolist() == expected
    assert expected[1] >= 4 and expected[2] == 0


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab cd ef gh 46 7."), max_size=40), min_size=1, max_size=6),
       st.data())
def test_holding_counts_the_terms_a_quote_of_one_or_two_sentences_holds_once_each(texts, data):
    """What the figure rule reads, for every candidate at once: a term in both of a quote's sentences counts once."""
    prints = Fingerprints.compute(texts)
    rows = st.integers(0, len(texts) - 1)
    groups = data.draw(st.lists(st.lists(rows, min_size=1, max_size=2, unique=True), max_size=5))
    terms = term_keys(data.draw(st.sampled_from(texts + ["ab 46 cd", ""])))
    expected = [len(terms & frozenset().union(*(prints.terms_of(row) for row in group))) for group in groups]
    assert prints.holding(groups, terms).tolist() == expected


def test_a_run_lookup_finds_every_sentence_repeating_a_run_not_only_the_first():
    prints = Fingerprints.compute(SENTENCES)  # 0 and 1 both hold "the united states will no longer help"
    lookup = prints.run_lookup(np.array([1, 2, 0, 6]))
    assert lookup.sharing([0]) == lookup.sharing([1]) == {0, 1}
    assert lookup.sharing([2]) == {2} and lookup.sharing([4]) == set()  # itself; a sentence of under six words
