"""`python -m bot bench`: speed and memory, each figure beside a baseline measured in the same run.

The embedding model is the floor; the question is how much the rest of the pipeline adds on top.

- build: a full index build (model already loaded) against raw `encode` of exactly the texts the
  build embeds (its sentences, and its passages or, pooled, its headlines), in the same batches,
  and against raw `encode` of the corpus's words once, in 150-word windows (the floor a build that
  embedded nothing twice would meet); when English questions run two models, both indexes' builds
  against both models' encodes;
- incremental: one changed article among 300, against the full build of the same 300;
- with the ONNX backend, the same build against torch's raw encode of the same texts;
- per question: what `ask --json -` does for each line (question in, JSON quotes out) against raw
  single-question encode by the model(s) that question ran, p50 and p99, at 3 articles (the dev
  and extra questions), the dev corpus beside them (its own questions; `--dev`), SciFact and
  synthetic 10k / 100k / 1M passages (SciFact test queries; real SciFact passages and their real
  embeddings, replicated with noise), with the default pair again at each (at SciFact only when
  `eval beir` built both of its indexes: bench never builds e5's SciFact index); each scale
  is loaded and served by a fresh child process so its memory (peak RSS), load time and disk size
  are its own; the dense side's recall@10 against exact search is measured after the timings (its
  exact scan reads every vector).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import REPO_ROOT, Settings

SCIFACT = REPO_ROOT.parent / "shared" / "bench" / "scifact"  # the default --corpus, where this workplace keeps it
DEV_CORPUS = REPO_ROOT / "tests" / "data" / "corpus"  # the default --dev: articles/ and questions.jsonl
NOISE = 0.6  # a replica keeps ~0.86 of the way from an unrelated vector to its original: a near-duplicate
PROBE_QUESTIONS = 200
RECALL_QUESTIONS = 100
INCREMENTAL_RUNS = 3
WINDOW_WORDS = 150  # the build's floor: the corpus's words encoded once, in windows of this many
SECOND_BUILD = "second-build-index"  # in the work folder: the pair's second index, built by `bench_build`


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _questions(corpus: Path, limit: int = PROBE_QUESTIONS) -> tuple[list[str], list[str]]:
    """(questions about the launch articles, SciFact test queries): each index is asked about its own domain."""
    from .qa import load_questions

    seeds_questions = [q.question for path in (REPO_ROOT / "tests" / "data" / "extra_qa.jsonl",
                                               REPO_ROOT / "tests" / "data" / "dev.jsonl")
                       for q in load_questions(path)]
    scifact = [json.loads(line)["text"] for line in (corpus / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return seeds_questions[:limit], scifact[:limit]


# --- serving probe (runs in a child process) ----------------------------------------------------


def _probe(settings: Settings, questions: list[str], queue: "multiprocessing.Queue") -> None:
    """Load, answer, and report: fresh process, so RSS and load time belong to this index alone."""
    from .. import render
    from ..engine.embedding import make_embedder
    from ..engine.engine import Engine
    from ..engine.store.loading import load

    embedder = make_embedder(settings)
    embedder.encode(["warm up"])
    other_settings = settings.for_other_languages()  # the default pair: English questions run both models
    other_embedder = make_embedder(other_settings) if other_settings is not None else None
    if other_embedder is not None:
        other_embedder.encode(["warm up"])
    rss_model = _rss_mb()
    started = time.perf_counter()
    index = load(settings.index_dir)
    other = None if other_settings is None else Engine(other_settings, other_embedder, load(other_settings.index_dir))
    load_seconds = time.perf_counter() - started
    engine = Engine(settings, embedder, index, other_languages=other)

    def answer_line(question: str) -> str:  # what `ask --json -` does for each line it reads
        return render.dumps(render.answer_json(engine.ask(question)))

    for question in questions[:10]:
        answer_line(question)
    models = [embedder] if other_embedder is None else [embedder, other_embedder]
    asks, encodes, _ = timed_questions(answer_line, models, questions)
    peak_rss = _peak_rss_mb()  # before the recall check, whose exact scan maps every vector
    queue.put({
        "load_seconds": load_seconds, "ask": _percentiles(asks), "encode": _percentiles(encodes),
        "peak_rss_mb": peak_rss, "model_rss_mb": rss_model, "passages": len(index.passages),
        "kind": index.manifest["index_kind"], "disk_mb": _disk_bytes(index.path) / 1e6,
        "recall": _dense_recall(index, embedder.encode_queries(questions[:RECALL_QUESTIONS]), engine.fusion.candidates),
    })


def timed_questions(
    answer: Callable[[str], object], models: list, questions: list[str]
) -> tuple[list[float], list[float], list[tuple[str, ...]]]:
    """Per question: seconds to answer it, seconds of the raw encode of the models it ran, and their names.

    Which models a question runs depends on the question: with the default pair, an English
    question MiniLM declines never reaches e5, and one in another language never reaches MiniLM.
    So the models' `encode_queries` calls are counted while it is answered, and its baseline is the
    raw encode of exactly those. Interleaved, so both timings see the same machine.
    """
    ran: list[int] = []
    originals = [model.encode_queries for model in models]

    def counting(position: int):
        def encode_queries(texts, *args, **kwargs):
            ran.append(position)
            return originals[position](texts, *args, **kwargs)
        return encode_queries

    asks, encodes, names = [], [], []
    for position, model in enumerate(models):
        model.encode_queries = counting(position)
    try:
        for question in questions:
            ran.clear()
            t = time.perf_counter()
            answer(question)
            asks.append(time.perf_counter() - t)
            used = list(dict.fromkeys(ran))
            t = time.perf_counter()
            for position in used:
                originals[position]([question])
            encodes.append(time.perf_counter() - t)
            names.append(tuple(models[position].name for position in used))
    finally:
        for model in models:
            del model.encode_queries  # the class's own method again
    return asks, encodes, names


def _dense_recall(index, queries: np.ndarray, candidates: int, k: int = 10) -> float:
    """Recall@k of the dense side as served (index candidates re-sorted by exact cosine) against exact search."""
    exact = np.zeros((len(queries), 0), dtype=np.float32)
    rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(index.vectors), 100_000):  # exact scan, a slice at a time
        block = np.asarray(index.vectors[start : start + 100_000], dtype=np.float32) @ queries.T
        exact = np.concatenate([exact, block.T], axis=1)
        rows = np.concatenate([rows, np.broadcast_to(np.arange(start, start + len(block)), (len(queries), len(block)))], axis=1)
        best = np.argsort(-exact, axis=1)[:, :k]
        exact, rows = np.take_along_axis(exact, best, 1), np.take_along_axis(rows, best, 1)
    _, found = index.dense.search(queries, candidates * index.dense.oversample)  # as `ann.closest` asks
    hits = []
    for query, truth, ids in zip(queries, rows, found):
        ids = ids[ids >= 0]
        served = ids[np.argsort(-(np.asarray(index.vectors[ids], dtype=np.float32) @ query), kind="stable")][:k]
        hits.append(len(set(served.tolist()) & set(truth.tolist())) / min(k, len(truth)))
    return float(np.mean(hits)) if hits else float("nan")


def probe(settings: Settings, questions: list[str]) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_probe, args=(settings, questions, queue))
    child.start()
    result = queue.get(timeout=3600)
    child.join()
    return result


# --- building blocks ------------------------------------------------------------------------------


def _scifact_seeds(corpus: Path, folder: Path, documents: int) -> Path:
    from .evaluation import materialise_corpus

    seeds = folder / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    materialise_corpus(corpus, seeds, limit=documents)
    return seeds


def _embedded_texts(index) -> tuple[list[str], str]:
    """Exactly what a build embeds, and a label saying so: each distinct sentence, and each passage
    with its headline (`PASSAGE_VECTORS=encoded`) or each headline once (pooled passages)."""
    from ..engine.store.assembly import embed_text

    pooled = index.params.get("passage_vectors") == "sentences"
    # pooled: each headline of an article with passages, once; encoded: each passage (added below)
    texts = [meta.title for meta in index.articles.metas if pooled and meta.passage_rows[1] > meta.passage_rows[0]]
    seen: dict[int, str] = {}
    for row in range(len(index.passages)):
        passage = index.passages[row]
        article = index.articles[passage.source]
        if not pooled:
            texts.append(embed_text(article, passage))
        for (start, end), sentence_row in zip(passage.sentences, index.passages.sentence_rows(row)):
            seen.setdefault(sentence_row, article.text[start:end])
    first = len(texts)
    label = (f"{first} headlines + {len(seen)} sentences ({len(index.passages)} passages pooled)" if pooled
             else f"{first} passages + {len(seen)} sentences")
    return texts + [seen[row] for row in sorted(seen)], label


def _word_windows(seeds: Path) -> list[str]:
    """The corpus's words once each, in consecutive windows of WINDOW_WORDS: the least any build must
    encode (the build itself embeds overlapping passages, each with its headline, and every sentence
    again on its own)."""
    windows = []
    for file in sorted(seeds.iterdir()):
        words = file.read_text(encoding="utf-8").split()
        windows += [" ".join(words[i : i + WINDOW_WORDS]) for i in range(0, len(words), WINDOW_WORDS)]
    return windows


def _encode_seconds(embedder, texts: list[str], batch_size: int) -> float:
    """Raw `encode` of `texts`, in the chunks and batches a build uses."""
    from ..engine.store.assembly import EMBED_CHUNK

    t = time.perf_counter()
    for begin in range(0, len(texts), EMBED_CHUNK):
        embedder.encode(texts[begin : begin + EMBED_CHUNK], batch_size=batch_size)
    return time.perf_counter() - t


def bench_build(settings: Settings, embedder, corpus: Path, work: Path, documents: int,
                repeat: int = 1, pair: tuple[Settings, object] | None = None) -> list[list[str]]:
    """Full build against raw encode of the same texts, and of the corpus's words once; with `pair`
    (the second index's settings and embedder), both builds against both models' raw encodes; then
    one changed article re-indexed."""
    from ..engine.engine import build_params
    from ..engine.store.building import build
    from ..engine.store.loading import load

    seeds = _scifact_seeds(corpus, work / "build", documents)
    params = build_params(settings)
    batch = settings.embedding_batch_size
    builds, raws = [], []
    index = None
    for attempt in range(repeat):
        folder = work / f"build-index-{attempt}"
        t = time.perf_counter()
        index, report = build(folder, seeds, embedder, params, max_file_bytes=settings.max_file_bytes,
                              batch_size=batch)
        builds.append(time.perf_counter() - t)
        texts, label = _embedded_texts(index)
        raws.append(_encode_seconds(embedder, texts, batch))
    passages = len(index.passages)
    build_s, raw_s = min(builds), min(raws)
    windows = _word_windows(seeds)
    words_s = _encode_seconds(embedder, windows, batch)
    once = f"{len(windows)} windows of {WINDOW_WORDS} words"

    def against_both_floors(what: str, embedded: str, windows: str, pipeline: str, seconds: float, raw: float,
                            words: float, models: str) -> list[list[str]]:
        """A build against the raw encode of the texts it embeds, and of the corpus's words once."""
        return [[what, embedded, pipeline, f"{raw:.1f} s raw encode ({models})", f"{seconds / raw:.2f}x"],
                [what, windows, f"{seconds:.1f} s", f"{words:.1f} s raw encode of the words once ({models})",
                 f"{seconds / words:.2f}x"]]

    rows = against_both_floors(f"full build, {documents} articles", label, once,
                               f"{build_s:.1f} s ({passages / build_s:.1f} passages/s)", build_s, raw_s, words_s,
                               embedder.name)
    if pair is not None:  # the default build runs both models, one index after the other
        other_settings, other_embedder = pair
        other_embedder.encode(["warm up"])
        t = time.perf_counter()
        other_index, _ = build(work / SECOND_BUILD, seeds, other_embedder, build_params(other_settings),
                               max_file_bytes=settings.max_file_bytes, batch_size=batch)
        other_s = time.perf_counter() - t
        other_texts, other_label = _embedded_texts(other_index)
        rows += against_both_floors(
            f"full build, {documents} articles, both indexes", f"{label}, then {other_label}", once + ", each",
            f"{build_s + other_s:.1f} s ({build_s:.1f} + {other_s:.1f})", build_s + other_s,
            raw_s + _encode_seconds(other_embedder, other_texts, batch),
            words_s + _encode_seconds(other_embedder, windows, batch), f"{embedder.name} + {other_embedder.name}")
    if settings.embedding_backend != "torch":  # the build against the torch model it replaces
        from ..engine.embedding import make_embedder

        torch_embedder = make_embedder(settings.model_copy(update={"embedding_backend": "torch"}))  # any model
        torch_embedder.encode(["warm up"])
        torch_s = _encode_seconds(torch_embedder, texts, batch)
        rows.append([f"full build, {documents} articles", label, f"{build_s:.1f} s ({settings.embedding_backend})",
                     f"{torch_s:.1f} s raw encode (torch)", f"{build_s / torch_s:.2f}x ({torch_s / build_s:.1f}x faster)"])
    # one article changed among `documents`, three times (a different one each time): a one-second
    # build is at the mercy of the disk's fsyncs, so the fastest and the median are both shown
    folder = work / f"build-index-{repeat - 1}"
    incremental, embedded = [], 0
    for attempt in range(INCREMENTAL_RUNS):
        victim = sorted(seeds.iterdir())[(documents // 2 + attempt) % documents]
        victim.write_text(victim.read_text(encoding="utf-8") + "\nOne more sentence added by the benchmark.\n",
                          encoding="utf-8")
        t = time.perf_counter()
        _, report = build(folder, seeds, embedder, params, max_file_bytes=settings.max_file_bytes,
                          previous=load(folder), batch_size=settings.embedding_batch_size)
        incremental.append(time.perf_counter() - t)
        embedded = report.embedded
    fastest, median = min(incremental), statistics.median(incremental)
    rows.append([f"1 changed article of {documents}", f"{embedded} passage{'' if embedded == 1 else 's'} re-embedded",
                 f"{fastest:.2f} s (median of {INCREMENTAL_RUNS} {median:.2f} s)", f"{build_s:.1f} s full build",
                 f"{fastest / build_s:.3f}x (median {median / build_s:.3f}x)"])
    return rows


def near_duplicates(vectors: np.ndarray, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors each as close to its original as a near-duplicate is, in this model's own geometry.

    The noise is added around the corpus's mean vector, scaled by each vector's distance from it:
    e5 puts every text in a narrow cone (unrelated sentences at cosine ~0.81), so noise of a fixed
    size would throw its copies out of the cone, hardly nearer their originals than unrelated
    sentences (0.86) and unlike any real text, and FAISS's lists collapse around them (the copies of
    real e5 vectors probed 37% of the index instead of 6%; MiniLM's vectors, spread wide, hardly move).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    offsets = vectors - mean
    scale = np.linalg.norm(offsets, axis=1, keepdims=True) * (NOISE / np.sqrt(vectors.shape[1]))
    noisy = vectors + rng.standard_normal(vectors.shape, dtype=np.float32) * scale
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def _mean_vector(vectors) -> np.ndarray:
    total = np.zeros(vectors.shape[1], dtype=np.float64)
    for start in range(0, len(vectors), 100_000):
        total += np.asarray(vectors[start : start + 100_000], dtype=np.float64).sum(axis=0)
    return (total / max(len(vectors), 1)).astype(np.float32)


def _replicate(source_index, target: Path, passages: int, settings: Settings) -> None:
    """A synthetic index of about `passages` rows: real articles and embeddings, copied as near-duplicates."""
    from ..engine.engine import build_params
    from ..engine.store.assembly import Assembly
    from ..engine.store.publishing import write_index

    rng = np.random.default_rng(0)
    metas = source_index.articles.metas
    out = Assembly()
    copy = 0
    dimension = source_index.vectors.shape[1]
    means = (_mean_vector(source_index.vectors), _mean_vector(source_index.sentence_vectors))
    while len(out.spans) < passages:
        for position, meta in enumerate(metas):
            if len(out.spans) >= passages:
                break
            article = source_index.articles.at(position)
            suffix = f" (copy {copy})" if copy else ""
            renamed = type(article)(f"copy{copy}/{meta.source}", article.title + suffix, article.dateline,
                                    article.text, article.sha256, article.body_start)
            out.add_unchanged(source_index, position, renamed, meta.indexed_at)
            if copy:
                for block, mean in zip((out.vectors, out.sentence_vectors), means):
                    block[-1] = near_duplicates(block[-1], mean, rng).astype(block[-1].dtype)
        copy += 1
    vectors, sentence_vectors = out.stack(dimension)
    write_index(target, out, vectors, sentence_vectors, build_params(settings), [])


# Settings that force each dense index type, whatever the size.
KIND_THRESHOLDS = {
    "flat": {"ann_threshold": 10**12},
    "hnsw": {"ann_threshold": 1, "ann_kind": "hnsw"},
    "ivf-sq8": {"ann_threshold": 1, "ann_kind": "ivf-sq8"},
    "ivf-pq4fs": {"ann_threshold": 1, "ann_kind": "ivf-pq4fs"},
}


def kinds_for(scale: int, every_kind: bool) -> list[str]:
    """Every index type where the comparison is cheap; at a million, the default one alone (HNSW's
    build takes long: opt in)."""
    return list(KIND_THRESHOLDS) if every_kind or scale <= 100_000 else [Settings.model_fields["ann_kind"].default]


def _is_dev_corpus(folder: Path) -> bool:
    return (folder / "articles").is_dir() and (folder / "questions.jsonl").is_file()


def _dev_corpus(settings: Settings, folder: Path) -> tuple[Settings, list[str]] | None:
    """Settings over the seeds plus a dev corpus's articles (the index `eval qa --with` builds), and its questions."""
    from .evaluation import combined_seeds
    from .qa import load_questions

    if not _is_dev_corpus(folder):
        return None
    asked = [q.question for q in load_questions(folder / "questions.jsonl")]
    return combined_seeds(settings, [folder / "articles"]), asked[:PROBE_QUESTIONS]


def bench_serving(settings: Settings, corpus: Path, work: Path, scales: list[int], scifact_index: Path | None,
                  every_kind: bool = False, dev: Path | None = None, pair: Settings | None = None,
                  scifact_pair: Path | None = None) -> list[list[str]]:
    """Every probe with `settings`' one model; `pair` (English questions quoted from the second index)
    adds its own rows at 3 articles, at the dev corpus, at SciFact (`scifact_pair`, if `eval beir`
    built both indexes there) and at each synthetic scale (both indexes replicated, each of the kind
    it gets by default); each question's baseline is the raw encode of the models it ran
    (`timed_questions`)."""
    from ..engine.ann import choose_kind
    from ..engine.engine import Engine
    from ..engine.store.loading import load

    seeds_questions, scifact_queries = _questions(corpus)
    rows = []

    def row(label: str, result: dict) -> list[str]:
        (a50, a99), (e50, e99) = result["ask"], result["encode"]
        return [label, f"{result['passages']:,} passages, {result['kind']}",
                f"p50 {a50:.1f} ms, p99 {a99:.1f} ms", f"encode p50 {e50:.1f} ms, p99 {e99:.1f} ms",
                f"{a50 / e50:.2f}x / {a99 / e99:.2f}x", f"{result['recall']:.3f}",
                f"{result['peak_rss_mb']:.0f} MB (model {result['model_rss_mb']:.0f})",
                f"{result['disk_mb']:.1f} MB", f"{result['load_seconds']:.2f} s"]

    def add(label: str, result: dict) -> None:
        rows.append(row(label, result))
        print("measured: " + " | ".join(rows[-1]), file=sys.stderr, flush=True)  # the table comes at the end

    both = "" if pair is None else f", {pair.for_other_languages().embedding_model.split(':')[-1]} quoting"
    add("3 articles (seeds/)", probe(settings, seeds_questions))
    if pair is not None:
        Engine.open(pair)
        add(f"3 articles (seeds/){both}", probe(pair, seeds_questions))
    if dev is not None and (found := _dev_corpus(settings, dev)) is not None:
        dev_settings, dev_questions = found
        Engine.open(dev_settings)  # built (or brought up to date) here, so the probe only loads it
        add(f"dev corpus ({dev.name}/ + seeds/)", probe(dev_settings, dev_questions))
        if pair is not None:  # the same combined seeds and first index, with the second one beside it
            dev_pair = dev_settings.model_copy(update={"other_languages_model": pair.other_languages_model})
            Engine.open(dev_pair)
            add(f"dev corpus ({dev.name}/ + seeds/){both}", probe(dev_pair, dev_questions))
    if scifact_index is not None:
        add("SciFact corpus", probe(settings.model_copy(update={"index_dir": scifact_index}), scifact_queries))
    if scifact_pair is not None:
        add(f"SciFact corpus{both}", probe(pair.model_copy(update={"index_dir": scifact_pair}), scifact_queries))
    source = load(next(work.glob("build-index-*")))
    second = work / SECOND_BUILD  # replicated beside the first index's build
    second_source = load(second) if pair is not None and second.is_dir() else None
    for scale in scales:
        for kind in kinds_for(scale, every_kind):
            target = work / f"synthetic-{scale}-{kind}"
            scaled = settings.model_copy(update={"index_dir": target, **KIND_THRESHOLDS[kind]})
            t = time.perf_counter()
            _replicate(source, target, scale, scaled)
            built = time.perf_counter() - t
            result = probe(scaled, scifact_queries)  # the replicas are SciFact passages
            add(f"synthetic {scale:,} (written in {built:.0f} s)", result)
            if second_source is not None and kind == choose_kind(scale, settings.ann_threshold, settings.ann_kind):
                # The default pair at this size: both indexes replicated alike, the index kind each
                # would get by default.
                scaled_pair = pair.model_copy(update={"index_dir": target})
                other = scaled_pair.for_other_languages()
                _replicate(second_source, other.index_dir, scale, other)
                add(f"synthetic {scale:,}{both}", probe(scaled_pair, scifact_queries))
            shutil.rmtree(target, ignore_errors=True)
    return rows


def scifact_index(settings: Settings, corpus: Path) -> tuple[Path | None, str]:
    """(the index `eval beir` built for `corpus`, or None with the reason its row is skipped).

    `eval beir` keeps one index per corpus, rebuilt for whichever model it last ran with: probed
    with another model, its vectors would answer questions encoded by a model that never made them,
    and with other build settings the index timed is not the one this build makes.
    """
    folder = settings.index_dir / f"eval-{corpus.resolve().name}" / "index"
    why = _not_built_by(settings, folder, "SciFact row", corpus)
    return (None, why) if why else (folder, "")


def scifact_pair_index(pair: Settings, folder: Path, corpus: Path) -> tuple[Path | None, str]:
    """(`folder` again, if `eval beir` with the default pair on also built the second index beside it,
    or None with the reason the pair's SciFact row is skipped): the pair's row needs both indexes, and
    the second takes long to build (e5's SciFact index took 36 minutes), so bench never builds it."""
    second = pair.model_copy(update={"index_dir": folder}).for_other_languages()
    assert second is not None  # `pair` quotes English questions from its second index
    why = _not_built_by(second, second.index_dir, "SciFact row of the default pair", corpus)
    return (None, why) if why else (folder, "")


def _not_built_by(settings: Settings, folder: Path, row: str, corpus: Path) -> str:
    """Why `row` is skipped, or "" if `settings` built the index in `folder`."""
    from ..engine.engine import build_params
    from ..engine.store.loading import IndexUnavailable, read_manifest

    rebuild = f"run `python -m bot eval beir {corpus}`"
    try:
        _, manifest = read_manifest(folder, verify=False)
    except (IndexUnavailable, OSError):
        return f"({row} skipped: {rebuild} once to build its index)"
    built, wanted = manifest["params"], build_params(settings).to_dict()
    if built.get("model") != wanted["model"]:
        return f"({row} skipped: its index was built with {built.get('model')}, not {wanted['model']}; {rebuild} to rebuild it)"
    if built != wanted:
        changed = ", ".join(sorted(key for key in wanted if built.get(key) != wanted[key]))
        return f"({row} skipped: its index was built with other settings ({changed}); {rebuild} to rebuild it)"
    return ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from ..engine.embedding import make_embedder
    from ..engine.engine import Engine

    corpus = args.corpus or SCIFACT
    missing = [name for name in ("corpus.jsonl", "queries.jsonl") if not (corpus / name).is_file()]
    if missing:
        print(f"error: {corpus} is not a BEIR folder (no {', '.join(missing)}); "
              "pass one with --corpus DIR, such as BEIR's SciFact", file=sys.stderr)
        return 2
    if args.dev is not None and not _is_dev_corpus(args.dev):
        print(f"error: {args.dev} is not a dev corpus (it needs articles/ and questions.jsonl, "
              "as tests/data/corpus has)", file=sys.stderr)
        return 2
    from ..config import NO_MODEL

    # Every probe below has its own index folder: they share one ONNX export rather than each making one.
    # Each figure is one model's, but for the pair's own rows: the index for questions in other languages
    # is the same pipeline under its own model, measured by running bench with EMBEDDING_MODEL set to it.
    settings = settings.model_copy(update={"onnx_cache_dir": settings.model_cache_dir})
    # English questions that run two models (ENGLISH_QUOTES) get rows of their own as well.
    pair = settings if settings.quotes_english_from_other_languages_model else None
    settings = settings.model_copy(update={"other_languages_model": NO_MODEL})
    scales = [10_000] if args.quick else [int(s) for s in args.scales.split(",") if s.strip() and int(s) > 3]
    documents = 60 if args.quick else 300
    Engine.open(settings)  # the seeds index the 3-article probe serves
    embedder = make_embedder(settings)
    embedder.encode(["warm up"])
    scifact, skipped = scifact_index(settings, corpus)
    scifact_pair, pair_skipped = (None, "") if pair is None or scifact is None else scifact_pair_index(pair, scifact, corpus)
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as scratch:
        work = Path(scratch)
        print(f"cores: {os.cpu_count()}; model: {embedder.name}", flush=True)
        second = None
        if pair is not None:
            second_settings = pair.for_other_languages()
            second = (second_settings, make_embedder(second_settings))
        build_rows = bench_build(settings, embedder, corpus, work, documents, repeat=args.repeat, pair=second)
        print(_table(["build", "texts", "pipeline", "baseline", "ratio"], build_rows), flush=True)
        print(flush=True)
        serve_rows = bench_serving(settings, corpus, work, scales, scifact, every_kind=args.every_kind,
                                   dev=args.dev or DEV_CORPUS, pair=pair, scifact_pair=scifact_pair)
        print(_table(["per question", "index", "ask --json (question -> quotes)", "raw single encode", "ratio p50 / p99",
                      "dense recall@10", "peak RSS", "on disk", "load"], serve_rows), flush=True)
    for reason in (skipped, pair_skipped):
        if reason:
            print(reason)
    return 0
