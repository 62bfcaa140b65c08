"""Sentences and passages: exact slices, sensible boundaries, and no text left unsearchable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.corpus import load_articles
from bot.engine.models import Article
from bot.engine.passages import estimate_tokens, make_passages
from bot.engine.sentences import layout, split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def article(text: str, body_start: int = 0, source: str = "a.txt") -> Article:
    return Article(source, "Title", None, text, "0" * 64, body_start)


@pytest.fixture(scope="module")
def seeds() -> dict[str, Article]:
    articles, skipped = load_articles(SEEDS, max_file_bytes=5_000_000)
    assert skipped == []
    return {a.source[:3]: a for a in articles}


def seed_sentences(seed: Article) -> list[str]:
    return [seed.text[s:e] for s, e in split_sentences(seed.text, seed.body_start)]


# --- the real seeds --------------------------------------------------------------------------


def test_abbreviations_in_the_seeds_do_not_end_sentences(seeds: dict[str, Article]) -> None:
    assert seed_sentences(seeds["001"])[0] == (
        "Former Iraqi Prime Minister Nouri al-Maliki expressed defiance on Jan. 28 after U.S. "
        "President Donald Trump threatened to withdraw Washington’s support for Iraq if he "
        "returns to power."
    )
    assert (
        "“In his meeting with Dr. Al-Musawi, #CDA Harris discussed the importance of a strong "
        "US-Iraq partnership that delivers tangible benefits for Americans and Iraqis as we work "
        "to advance our shared interests - safeguarding Iraqi sovereignty, bolstering regional "
        "stability, and strengthening economic ties,” the embassy said."
    ) in seed_sentences(seeds["003"])


def test_quotation_with_inner_commas_is_one_sentence(seeds: dict[str, Article]) -> None:
    assert (
        "Trump in a social media post on Jan. 27 wrote, “Last time Maliki was in power, the "
        "Country descended into poverty and total chaos,” adding, “Because of his insane "
        "policies and ideologies, if elected, the United States of America will no longer help "
        "Iraq and, if we are not there to help, Iraq has ZERO chance of Success, Prosperity, or "
        "Freedom.”"
    ) in seed_sentences(seeds["001"])


def test_bracketed_full_stops_in_the_seeds(seeds: dict[str, Article]) -> None:
    found = seed_sentences(seeds["000"])
    # "(ISIS.)" ends a paragraph; the next paragraph is a sentence of its own.
    isis = next(i for i, s in enumerate(found) if s.endswith("rise of the Islamic State (ISIS.)"))
    assert found[isis + 1].startswith("The Coordination Framework, a powerful Shiite bloc")
    # "(HRANA.) The government’s" is a real boundary inside one paragraph.
    hrana = next(i for i, s in enumerate(found) if s.endswith("News Agency (HRANA.)"))
    assert found[hrana].startswith("Trump this week has ratched up pressure on Iran")
    assert found[hrana + 1] == (
        "The government’s telecommunications blackouts and a lack of transparency have made "
        "figures difficult to verify."
    )


def test_full_stop_inside_a_quotation_followed_by_capitals_is_a_boundary(seeds: dict[str, Article]) -> None:
    found = seed_sentences(seeds["003"])
    assert "MAKE IRAQ GREAT AGAIN!”" in found
    assert any(s.endswith("ZERO chance of Success, Prosperity, or Freedom.") for s in found)


def test_no_seed_sentence_starts_with_the_dateline_or_headline(seeds: dict[str, Article]) -> None:
    for seed in seeds.values():
        first = seed_sentences(seed)[0]
        assert not first.startswith(("ERBIL", "BAGHDAD", seed.title))


def test_seed_passages_are_exact_slices_with_overlap(seeds: dict[str, Article]) -> None:
    for seed in seeds.values():
        passages = make_passages(seed, max_tokens=80, overlap_sentences=1)
        assert len(passages) > 2
        for passage in passages:
            assert passage.source == seed.source
            assert passage.text == seed.text[passage.start : passage.end]
            assert passage.start >= seed.body_start
            assert (passage.start, passage.end) == (passage.sentences[0][0], passage.sentences[-1][1])
            tokens = [estimate_tokens(seed.text[s:e]) for s, e in passage.sentences]
            assert len(tokens) == 1 or sum(tokens) <= 80
        for before, after in zip(passages, passages[1:]):
            shared = before.sentences[-1]
            new = next(span for span in after.sentences if span[0] > before.end)
            if estimate_tokens(seed.text[slice(*shared)]) + estimate_tokens(seed.text[slice(*new)]) <= 80:
                assert after.sentences[0] == shared  # the overlap, whenever it fits
            else:
                assert after.sentences[0][0] > shared[1]  # dropped only to make room
            assert after.sentences[-1][1] > before.sentences[-1][1]


# --- sentence rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith met Dr. Jones and Gen. Allen on Sept. 3 at St. Mary's.",
        "The U.N. Security Council and the E.U. Commission met.",
        "Donald J. Trump spoke.",
        "Acme Inc. Ltd. Co. Corp. merged, e.g. Acme, i.e. Acme etc. Acme.",
        "Results (Fig. 2) agree with Smith et al. (2019) and No. 5 on the list.",
        '"Stop." he said, and left.',
        "“It is over.” she wrote.",
        "Wait... and then it ended.",
        "He counted... 5 more.",
        "The rate was 3.5 percent.",
        "2. Patients were enrolled in 2019.",
        'They were termed "granules. "',
        "Proc. Natl. Acad. Sci. USA 93, 15174.",
    ],
)
def test_not_a_sentence_boundary(text: str) -> None:
    assert sentences_of(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", ["One.", "Two."]),
        ("Really? Yes! Fine.", ["Really?", "Yes!", "Fine."]),
        ("It ended in 2014. 2015 was worse.", ["It ended in 2014.", "2015 was worse."]),
        ('He left. "Why?" she asked.', ["He left.", '"Why?" she asked.']),
        ("He left. (Nobody knew.) Then rain.", ["He left.", "(Nobody knew.)", "Then rain."]),
        ("It was late... Then it ended.", ["It was late...", "Then it ended."]),
        ("It was late… Then it ended.", ["It was late…", "Then it ended."]),
        ("Was it the U.S.? Yes.", ["Was it the U.S.?", "Yes."]),
        ("قال الوزير. وأضاف أنه", ["قال الوزير.", "وأضاف أنه"]),
        ("Cells died. 3. We now find more.", ["Cells died.", "3. We now find more."]),
        ("Table 1. Results follow.", ["Table 1.", "Results follow."]),
    ],
)
def test_sentence_boundary(text: str, expected: list[str]) -> None:
    assert sentences_of(text) == expected


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028"])
def test_a_line_break_always_ends_a_sentence(newline: str) -> None:
    text = f"  First line without a stop{newline}{newline}second line, lowercase.  {newline}"
    assert sentences_of(text) == ["First line without a stop", "second line, lowercase."]


def test_spans_are_absolute_and_respect_start_and_end() -> None:
    text = "Skip this. Keep one. Keep two. Not this."
    start, end = text.index("Keep one"), text.index(" Not this")
    spans = split_sentences(text, start, end)
    assert [text[s:e] for s, e in spans] == ["Keep one.", "Keep two."]
    assert spans[0][0] == start


def test_crlf_and_bom_offsets_are_exact() -> None:
    text = "\ufeffHeadline\r\n\r\nOne sentence. Two sentence.\r\nThird line.\r\n"
    body = text.index("One")
    spans = split_sentences(text, body)
    assert [text[s:e] for s, e in spans] == ["One sentence.", "Two sentence.", "Third line."]
    assert spans[0] == (body, body + len("One sentence."))
    passages = make_passages(article(text, body), max_tokens=100, overlap_sentences=0)
    assert [p.text for p in passages] == ["One sentence. Two sentence.\r\nThird line."]
    assert passages[0].text == text[passages[0].start : passages[0].end]


# --- passages ------------------------------------------------------------------------------------


def numbered(count: int) -> str:
    return " ".join(f"Sentence number {i} is here." for i in range(count))


def test_passages_respect_the_token_budget_and_overlap() -> None:
    text = numbered(20)  # each sentence: 5 words + a full stop = ceil(6 * 1.3) = 8 tokens
    passages = make_passages(article(text), max_tokens=32, overlap_sentences=2)
    assert all(len(p.sentences) == 4 for p in passages[:-1])  # 4 * 8 = 32 fits, 5 would not
    for before, after in zip(passages, passages[1:]):
        assert after.sentences[:2] == before.sentences[-2:]
    assert passages[-1].sentences[-1][1] == len(text)


def test_overlap_never_repeats_a_passage_or_stalls() -> None:
    # Sentences of very different sizes and an overlap larger than most passages.
    long = "A much longer sentence " + "word " * 20 + "ends."
    text = " ".join("Short one." if i % 3 else long for i in range(15))
    passages = make_passages(article(text), max_tokens=25, overlap_sentences=5)
    seen_ends = [p.sentences[-1] for p in passages]
    assert len(seen_ends) == len(set(seen_ends))  # every passage brings a new last sentence
    for before, after in zip(passages, passages[1:]):
        assert after.start > before.start
        assert after.end > before.end


def test_a_sentence_over_the_budget_is_a_passage_of_its_own() -> None:
    long = "This sentence is " + "quite " * 30 + "long."
    text = f"Short first. {long} Short last."
    passages = make_passages(article(text), max_tokens=40, overlap_sentences=1)
    assert long in [p.text for p in passages]
    assert all(p.text.startswith(("Short", "This")) for p in passages)


def test_count_tokens_is_called_once_per_sentence() -> None:
    calls: list[str] = []

    def counter(sentence: str) -> int:
        calls.append(sentence)
        return 10

    text = numbered(12)
    make_passages(article(text), max_tokens=35, overlap_sentences=1, count_tokens=counter)
    assert sorted(calls) == sorted(sentences_of(text))


def test_giant_unpunctuated_line_is_cut_at_whitespace() -> None:
    words = [f"w{i % 997}" for i in range(20_000)]  # ~100,000 characters, no full stop
    text = "Head line\n" + " ".join(words) + "\nA normal sentence."
    body = text.index("w0")
    passages = make_passages(article(text, body), max_tokens=64, overlap_sentences=0)
    assert len(passages) > 100
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert estimate_tokens(passage.text) <= 64 * 1.5
        assert text[passage.start - 1].isspace()  # never cut mid-word
        assert passage.end == len(text) or text[passage.end].isspace()
    covered = " ".join(p.text for p in passages).split()  # overlap 0: each word exactly once
    assert covered == words + ["A", "normal", "sentence."]


def test_giant_line_without_any_whitespace_is_still_covered() -> None:
    text = "x" * 50_000
    passages = make_passages(article(text), max_tokens=16, overlap_sentences=0)
    assert max(len(p.text) for p in passages) <= 16 * 10  # small enough for the model to read
    assert "".join(p.text for p in passages) == text  # pieces tile the line exactly


def test_headline_only_article_has_no_passages() -> None:
    text = "Only a headline\n"
    assert make_passages(article(text, len(text)), max_tokens=50, overlap_sentences=1) == []


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        make_passages(article("One."), max_tokens=0, overlap_sentences=0)
    with pytest.raises(ValueError, match="overlap_sentences"):
        make_passages(article("One."), max_tokens=10, overlap_sentences=-1)


def test_estimate_tokens_counts_words_and_punctuation() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello, world.") == math.ceil(4 * 1.3)


# --- properties ------------------------------------------------------------------------------------

AWKWARD = list(
    ".!?…؟,;:\"'“”‘’()[]  \t\r\n\r\n\x0b\x0c\x1c\x85\u2028\u2029\u200b\u200d\ufeff\x00\x07"
    "AZaz09éÉßمرحباالعالم😀👍🏽中文"
) + ["Mr.", "U.S.", "J.", "...", ".”", ",”", "\r\n", "e.g.", "  "]
texts = st.lists(st.one_of(st.sampled_from(AWKWARD), st.characters()), max_size=120).map("".join)


def non_space_offsets(text: str, start: int, end: int) -> set[int]:
    return {i for i in range(start, end) if not text[i].isspace()}


def markup_offsets(text: str, start: int, end: int) -> set[int]:
    """What sentences may leave out of plain text: list bullets and unpaired emphasis markers."""
    markup = {i for i in range(start, end) if text[i] in "*_"}
    for unit in layout(text, start, end).units:
        markup.update(range(unit.line_start, unit.start))  # indentation and "- "
    return markup


@settings(max_examples=300, deadline=None)
@given(text=texts, data=st.data())
def test_sentence_spans_are_trimmed_ordered_and_cover_the_text(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.one_of(st.none(), st.integers(start, len(text))))
    stop = len(text) if end is None else end
    spans = split_sentences(text, start, end)
    covered: set[int] = set()
    previous_end = start
    for s, e in spans:
        assert previous_end <= s < e <= stop
        assert not text[s].isspace() and not text[e - 1].isspace()
        covered.update(range(s, e))
        previous_end = e
    assert non_space_offsets(text, start, stop) - markup_offsets(text, start, stop) <= covered


@settings(max_examples=300, deadline=None)
@given(
    text=texts,
    data=st.data(),
    max_tokens=st.integers(1, 40),
    overlap=st.integers(0, 5),
)
def test_passages_are_exact_slices_covering_the_body(
    text: str, data: st.DataObject, max_tokens: int, overlap: int
) -> None:
    body = data.draw(st.integers(0, len(text)))
    seed = article(text, body)
    passages = make_passages(seed, max_tokens=max_tokens, overlap_sentences=overlap)
    covered: set[int] = set()
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert body <= passage.start < passage.end <= len(text)
        assert (passage.start, passage.end) == (passage.sentences[0][0], passage.sentences[-1][1])
        for s, e in passage.sentences:
            assert passage.start <= s < e <= passage.end
            covered.update(range(s, e))
    for before, after in zip(passages, passages[1:]):
        assert after.start > before.start and after.end > before.end
    assert non_space_offsets(text, body, len(text)) - markup_offsets(text, body, len(text)) <= covered
