"""The engine's side of issue 14, on the real model and index: follow-up context steers retrieval,
one article can be searched alone, "More quotes" pages one ranking, paragraphs are exact slices."""

from __future__ import annotations

from bot.engine.reading import article_key

A000, A001, A003 = "000_389047a5565d4974.txt", "001_d007a2e75fab5d5c.txt", "003_42fc9fe0a8eacdba.txt"


def test_context_changes_which_article_is_quoted_first(engine):
    alone = engine.ask("What about Iran?")
    after_trump = engine.ask("What about Iran?", context=("What did Trump threaten about Maliki?",))
    after_harris = engine.ask("What about Iran?", context=("What did the US charge d'affaires Harris say?",))
    assert not alone.answered  # on its own the follow-up is too vague to answer
    # Steered by the thread: after Trump's threat, an article reporting it (000 and 001 both do; which
    # one ranks first moved when passage vectors came to be pooled); after Harris, the article reporting
    # what he said (003).
    assert after_trump.quotes[0].source in (A000, A001)
    assert after_harris.quotes[0].source == A003


def test_context_never_reaches_the_reply(engine):
    context = ("What did the US charge d'affaires Harris say?",)
    answer = engine.ask("What about Iran?", context=context)
    assert answer.question == "What about Iran?"
    for quote in answer.quotes:
        assert engine.index.articles[quote.source].text[quote.start : quote.end] == quote.text


def test_one_article_is_searched_not_post_filtered(engine):
    question = "Why does Washington see Maliki as a problem?"
    best = engine.ask(question, k=6)
    assert A003 not in {quote.source for quote in best.quotes}  # a post-filter to 003 would leave nothing
    # abstain off: 003 does not say why, so whether it answers sits at the decline margin (its best
    # cosine 0.54 on an AVX2 machine's int8 vectors, against 0.55 for answering on words alone)
    held = engine.ask(question, article=A003, abstain=False)
    assert len(held.quotes) == 3
    assert {quote.source for quote in held.quotes} == {A003}


def test_an_unknown_article_is_declined(engine):
    assert not engine.ask("Why does Washington see Maliki as a problem?", article="nope.txt").answered


def test_more_quotes_pages_one_ranking_without_repeats(engine):
    question = "What did Maliki say?"
    pages = [engine.ask(question, k=3, offset=3 * page).quotes for page in range(3)]
    whole = engine.ask(question, k=9).quotes
    spans = [(q.source, q.start, q.end) for page in pages for q in page]
    assert spans == [(q.source, q.start, q.end) for q in whole]
    assert len(set(spans)) == len(spans) == 9


def test_full_paragraph_is_an_exact_slice_holding_the_quote(engine):
    answer = engine.ask("What did Trump write about Maliki?")
    quote = answer.quotes[0]
    article = engine.index.articles[quote.source]
    [key] = engine.article_keys((quote.source,)).values()
    paragraph = engine.paragraph(key, quote.paragraph)
    assert paragraph is not None
    assert article.text[paragraph.start : paragraph.end] == paragraph.text
    assert paragraph.start <= quote.start < paragraph.end
    assert article.paragraph_at(paragraph.start) == quote.paragraph
    assert engine.paragraph(key, 10_000) is None
    assert engine.paragraph("0" * 16, 1) is None  # an article that changed or left the index


def test_headline_autocomplete_and_resolution(engine):
    choices = engine.article_choices("maliki")
    assert choices and all("maliki" in title.casefold() for title, _ in choices)
    assert len(engine.article_choices("")) == 3
    title, key = engine.article_choices("counter Iran")[0]
    assert engine.resolve_article(key) == A003
    assert engine.resolve_article(title) == A003
    assert engine.resolve_article("no such headline anywhere") is None
    assert engine.article_keys((A000, "gone.txt")) == {A000: article_key(engine.index.articles[A000].sha256), "gone.txt": None}


def test_newest_published_is_the_latest_dated_article(engine):
    dates = [meta.published for meta in engine.index.articles.metas if meta.published]
    assert engine.newest_published() == (max(dates) if dates else None)


def test_both_retrievers_search_inside_the_article_when_candidates_are_few(engine):
    """With 2 candidates per retriever, the global top never reaches 003; the restricted search does."""
    from bot.engine.retrieval import FusionParams, Retriever, find_sentences
    from bot.engine.steering import RowRange

    index = engine.index
    question = "Why does Washington see Maliki as a problem?"
    vector = engine.embedder.encode_queries([question])[0]
    retriever = Retriever(index.vectors, index.dense, index.lexical, FusionParams(candidates=2))
    meta = index.articles.metas[index.articles.position[A003]]
    inside = RowRange(*meta.passage_rows)
    assert all(not inside.first <= hit.row < inside.last for hit in retriever.search(question, vector))
    held = retriever.search(question, vector, rows=inside)
    assert held and all(inside.first <= hit.row < inside.last for hit in held)
    assert any(hit.dense_rank for hit in held) and any(hit.lexical_rank for hit in held)
    sentences = RowRange(*meta.sentence_rows)
    found = find_sentences(question, vector, index.sentences.dense, index.sentences.lexical, index.sentence_vectors,
                           2, rows=sentences)
    assert found and all(sentences.first <= hit.row < sentences.last for hit in found)


def test_newest_published_reads_the_latest_date():
    from bot.engine.reading import newest_published
    from bot.engine.tables import ArticleMeta, ArticleTable

    def meta(source: str, published: str | None) -> ArticleMeta:
        return ArticleMeta(source, source, None, "0" * 64, 0, "", 0, 0, (0, 0), (0, 0), published)

    table = ArticleTable([meta("a", "2026-01-28"), meta("b", None), meta("c", "2026-02-27")], b"")
    assert newest_published(table) == "2026-02-27"
    assert newest_published(ArticleTable([meta("b", None)], b"")) is None
