"""`eval qa` and `eval beir`: answer quality, with dense-only and BM25-only measured in the same run.

Both use the same engine and index as the bot. The baselines are read from the same search (its
candidate lists hold each retriever's own top passages, exactly scored), so the comparison is
between rankings, not between two differently built indexes.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import NO_MODEL, Settings
from ..engine.corpus import SUFFIXES
from . import qa
from ..engine.retrieval import FusionParams, Hit, rerank

if TYPE_CHECKING:
    from ..engine.engine import Engine

Ranker = Callable[[list[Hit]], list[Hit]]
SHIPPED = "hybrid (shipped)"


def rankers(shipped: FusionParams) -> dict[str, Ranker]:
    """Dense alone, BM25 alone, both fusions, and the configured one, all from the same candidates."""
    other = "rrf" if shipped.method == "score" else "score"
    return {
        "dense only": lambda hits: sorted((h for h in hits if h.dense_rank), key=lambda h: h.dense_rank),
        "bm25 only": lambda hits: sorted((h for h in hits if h.lexical_rank), key=lambda h: h.lexical_rank),
        f"hybrid {other}": lambda hits: rerank(hits, replace(shipped, method=other)),
        SHIPPED + f" {shipped.method}": lambda hits: hits,
    }


@dataclass
class QaRow:
    name: str
    hit1: float
    hit3: float
    mrr: float
    declined: str
    median_words: float
    median_sentences: float


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header]] + [[f"{c:.4f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _first_hit(texts: Sequence[str], answers: Sequence[str]) -> int:
    """1-based rank of the first text holding an answer string, 0 when none does."""
    for rank, text in enumerate(texts, start=1):
        if any(a.lower() in text.lower() for a in answers):
            return rank
    return 0


def load_qa(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error})") from None
    return rows


def qa_report(settings: Settings, rows: list[dict], engine=None) -> tuple[list[QaRow], list[dict]]:
    """Per-pipeline figures and per-question details (for tests and for reading the failures)."""
    from ..engine.engine import Engine
    from ..engine.sentences import split_sentences

    engine = engine or Engine.open(settings)
    index = engine.index  # the evaluation reads the same index the bot answers from
    k = 3
    ranking = rankers(engine.fusion)
    ranks: dict[str, list[int]] = {name: [] for name in [*ranking, "quotes (shipped)"]}
    declined: dict[str, list[bool]] = {name: [] for name in ranks}
    lengths: dict[str, list[tuple[int, int]]] = {name: [] for name in ranks}
    details = []
    for row in rows:
        question, answerable = row["question"], row.get("answerable", True)
        hits = engine.search(question)
        answer = engine.ask(question, k=k, abstain=False)
        texts_by = {name: [index.passages[h.row].text for h in rank(hits)[:k]] for name, rank in ranking.items()}
        texts_by["quotes (shipped)"] = [q.text for q in answer.quotes]
        refused = {name: not answer.answered for name in ranks}  # fusions share the shipped decline
        refused["dense only"] = max((h.dense for h in hits), default=-1.0) < settings.min_dense_score
        refused["bm25 only"] = not any(h.lexical > 0 for h in hits)
        for name, texts in texts_by.items():
            if answerable:
                ranks[name].append(_first_hit(texts, row["answers"]))
                for text in texts[:1]:
                    lengths[name].append((len(text.split()), len(split_sentences(text))))
            else:
                declined[name].append(refused[name])
        details.append({
            "question": question, "answerable": answerable, "answered": answer.answered,
            "rank": _first_hit(texts_by["quotes (shipped)"], row.get("answers", [])) if answerable else None,
            "quotes": texts_by["quotes (shipped)"], "diagnostics": answer.diagnostics,
        })
    table = []
    for name in ranks:
        found = ranks[name]
        n = max(len(found), 1)
        table.append(QaRow(
            name,
            sum(r == 1 for r in found) / n,
            sum(1 <= r <= 3 for r in found) / n,
            sum(1 / r for r in found if r) / n,
            f"{sum(declined[name])}/{len(declined[name])}",
            statistics.median(w for w, _ in lengths[name]) if lengths[name] else 0.0,
            statistics.median(s for _, s in lengths[name]) if lengths[name] else 0.0,
        ))
    return table, details


def run_qa(settings: Settings, path: Path, *, extra_seeds: Sequence[Path] = (), half: str | None = None,
           seed: int = qa.SPLIT_SEED) -> int:
    """Per half, kind and language: what a member asking these questions would have been given."""
    from ..engine.engine import Engine

    questions = qa.load_questions(path, seed=seed)
    if half is not None:
        questions = [q for q in questions if q.half == half]
    if extra_seeds:
        settings = combined_seeds(settings, extra_seeds)
    engine = Engine.open(settings)
    verdicts = [_verdict(engine, q) for q in questions]
    answerable = sum(q.answerable for q in questions)
    print(f"{path}: {answerable} answerable, {len(questions) - answerable} to decline, "
          f"{len(engine.index.articles)} articles; halves split with seed {seed}")
    print(qa.render_table(qa.report_rows(verdicts)))
    print()
    table, _ = qa_report(settings, [q.as_row() for q in questions], engine)
    print("passages alone, and the shipped quotes, judged on the first three (answer strings, any case):")
    print(_table(
        ["pipeline", "hit@1", "hit@3", "MRR", "declined (none)", "median words (1st)", "median sentences (1st)"],
        [[r.name, r.hit1, r.hit3, r.mrr, r.declined, r.median_words, r.median_sentences] for r in table],
    ))
    for line in qa.render_misses(verdicts):
        print(line, file=sys.stderr)
    return 0


def _verdict(engine: "Engine", question: qa.QaQuestion) -> qa.Verdict:
    answer = engine.ask(question.question, k=3)
    quoted = [qa.Quoted(q.text, (q.source, *(c.source for c in q.also_in))) for q in answer.quotes]
    return qa.judge(question, answer.answered, quoted, answer.diagnostics)


def combined_seeds(settings: Settings, folders: Sequence[Path]) -> Settings:
    """The configured seeds plus other folders, copied into one seeds folder beside the index.

    The copy is kept in step with its sources (changed files rewritten, vanished ones removed), so
    its index is rebuilt incrementally like any other.
    """
    sources = [settings.seeds_dir, *folders]
    for folder in sources:
        if not folder.is_dir():
            raise FileNotFoundError(f"Seeds folder not found: {folder}")
    name = hashlib.sha256("\0".join(str(f.resolve()) for f in sources).encode()).hexdigest()[:12]
    work = settings.index_dir / f"eval-qa-{name}"
    seeds = work / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, bytes] = {}
    for folder in sources:
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.suffix.lower() in SUFFIXES:
                if file.name in wanted:
                    raise ValueError(f"two seeds folders hold a file named {file.name}")
                wanted[file.name] = file.read_bytes()
    for file in seeds.iterdir():
        if file.name not in wanted:
            file.unlink()
    for file_name, data in wanted.items():
        target = seeds / file_name
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return settings.model_copy(update={
        "seeds_dir": seeds, "index_dir": work / "index",
        "onnx_cache_dir": settings.model_cache_dir,  # the bot's own export
    })


# --- BEIR ---------------------------------------------------------------------------------------


def _ndcg(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def _recall(ranked: Sequence[str], relevant: dict[str, int], k: int = 100) -> float:
    hits = sum(1 for doc in ranked[:k] if relevant.get(doc, 0) > 0)
    return hits / sum(1 for v in relevant.values() if v > 0)


def materialise_corpus(folder: Path, seeds: Path, *, limit: int | None = None) -> int:
    """Write a BEIR corpus as a seeds folder (headline line, blank line, abstract): same code path as articles."""
    seeds.mkdir(parents=True, exist_ok=True)
    count = 0
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and count >= limit:
                break
            doc = json.loads(line)
            title = " ".join(doc.get("title", "").split()) or str(doc["_id"])
            target = seeds / f"{doc['_id']}.txt"
            content = f"{title}\n\n{doc.get('text', '').strip()}\n"
            if not target.exists() or target.read_text(encoding="utf-8") != content:
                target.write_text(content, encoding="utf-8")
            count += 1
    return count


BEIR_QUOTES = 100


def run_beir(settings: Settings, folder: Path, *, limit: int | None = None) -> int:
    import time

    from ..engine.engine import Engine

    for name in ("corpus.jsonl", "queries.jsonl", "qrels-test.tsv"):
        if not (folder / name).is_file():
            print(f"error: {folder} has no {name} (BEIR layout expected)", file=sys.stderr)
            return 2
    work = settings.index_dir / f"eval-{folder.resolve().name}"
    seeds = work / "seeds"
    documents = materialise_corpus(folder, seeds)
    beir_settings = settings.model_copy(update={
        "seeds_dir": seeds, "index_dir": work / "index", "candidates": 200,
        "other_languages_model": NO_MODEL,  # the passage rankings are the first model's alone
        "onnx_cache_dir": settings.model_cache_dir,  # the bot's own export
    })
    started = time.perf_counter()
    engine = Engine.open(beir_settings)
    print(f"indexed {documents} documents ({len(engine.index.passages)} passages) "
          f"in {time.perf_counter() - started:.0f}s (cached embeddings are reused)", file=sys.stderr)
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    queries = [q for q in queries if q["_id"] in qrels][:limit]
    index = engine.index
    ranking = rankers(engine.fusion)
    # The user's path, as `ask --json --no-abstain -k 100` runs it: the configured settings, not 200
    # candidates, and the second index when English questions take their quotes from it (ENGLISH_QUOTES).
    asked = Engine.open(beir_settings.model_copy(update={
        "candidates": settings.candidates,
        "other_languages_model": settings.other_languages_model if settings.quotes_english_from_other_languages_model
        else NO_MODEL,
    }), embedder=engine.embedder)
    shipped = f"quotes (ask --no-abstain -k {BEIR_QUOTES})"
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in [*ranking, shipped]}
    for query in queries:
        relevant = qrels[query["_id"]]
        answer = asked.ask(query["text"], k=BEIR_QUOTES, abstain=False)
        quoted: list[str] = []
        for quote in answer.quotes:  # a document ranks where the first quote citing it ranks
            for source in (quote.source, *(c.source for c in quote.also_in)):
                if (doc := source.removesuffix(".txt")) not in quoted:
                    quoted.append(doc)
        scores[shipped].append((_ndcg(quoted, relevant), _recall(quoted, relevant)))
        hits = engine.search(query["text"])
        for name, rank in ranking.items():
            ranked: list[str] = []
            for hit in rank(hits):  # a document ranks where its best passage ranks
                doc = index.passages[hit.row].source.removesuffix(".txt")
                if doc not in ranked:
                    ranked.append(doc)
            scores[name].append((_ndcg(ranked, qrels[query["_id"]]), _recall(ranked, qrels[query["_id"]])))
    print(f"{folder}: {len(queries)} queries, {documents} documents")
    print(_table(
        ["pipeline", "nDCG@10", "recall@100"],
        [[name, statistics.fmean(n for n, _ in v), statistics.fmean(r for _, r in v)] for name, v in scores.items()],
    ))
    return 0
