"""From the seeds folder to a live index: read, assemble, embed what is new, publish, report.

The previous build, when it used the same model and passage settings, lends every vector it
already holds (see `assembly`), so re-indexing after a small change embeds only that change.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..corpus import load_articles
from ..embedding import Embedder
from ..models import Progress, ReindexReport
from ..passages import make_passages
from .assembly import Assembly, previous_vectors, reusable
from .layout import BuildParams, timestamp
from .loading import LoadedIndex
from .publishing import build_lock, write_index


def build(
    index_dir: Path, seeds_dir: Path, embedder: Embedder, params: BuildParams, *,
    max_file_bytes: int, batch_size: int = 32, previous: LoadedIndex | None = None,
    progress: Progress | None = None,
) -> tuple[LoadedIndex, ReindexReport]:
    """Build a new index from the seeds folder and make it live; the old one stays until then."""
    started = time.perf_counter()
    with build_lock(index_dir):
        if progress:
            progress("reading", 0, 1)
        articles, skipped = load_articles(seeds_dir, max_file_bytes=max_file_bytes)
        lender = reusable(previous, params)
        dimension = lender.vectors.shape[1] if lender is not None else embedder.dimension
        out = Assembly()
        now = timestamp()
        for article in articles:
            position = lender.articles.position.get(article.source) if lender else None
            old = lender.articles.metas[position] if lender and position is not None else None
            if old is not None and old.sha256 == article.sha256:
                out.add_unchanged(lender, position, article, old.indexed_at)
                continue
            passages = make_passages(
                article, max_tokens=params.passage_max_tokens,
                overlap_sentences=params.passage_overlap_sentences, count_tokens=embedder.count_tokens,
            )
            cache = previous_vectors(lender, position, params.model)
            out.add_fresh(article, passages, now, cache, params.model, dimension,
                          pool=params.passage_vectors == "sentences")
        if progress:
            progress("reading", 1, 1)
        vectors, sentence_vectors = out.stack(dimension)
        out.embed_pending(vectors, sentence_vectors, embedder, batch_size, progress)
        loaded = write_index(index_dir, out, vectors, sentence_vectors, params, skipped, progress)

    before = previous.article_hashes() if previous else {}
    after = {a.source: a.sha256 for a in articles}
    report = ReindexReport(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(s for s in after if s in before and before[s] != after[s])),
        unchanged=sum(1 for s in after if before.get(s) == after[s]),
        passages_before=len(previous.passages) if previous else 0,
        passages_after=len(loaded.passages),
        embedded=out.passages_embedded,
        seconds=time.perf_counter() - started,
        skipped=tuple(skipped),
    )
    return loaded, report
