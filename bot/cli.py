"""The command line: index, ask, sources, sync, run, gaps, eval, bench.

Heavy libraries (torch, sentence-transformers, discord.py) are imported inside the commands that
need them, so `sources` and `sync --dry-run` start in a fraction of a second. Every failure a user
can cause ends in one line on stderr and a documented exit code, never a traceback:

    0  done (a declined question is a done answer too)
    1  the work failed: the index cannot be built or loaded, the model cannot load, login failed
    2  usage or configuration: bad arguments, an invalid setting, an empty question, no token
    130 interrupted
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from .engine.engine import Engine
    from .engine.models import Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """The user asked for something that cannot be done as asked (exit 2)."""


class Failure(Exception):
    """The work could not be done (exit 1)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus error
        raise UsageError(f"{message} (see `python -m bot {self.prog.split()[-1]} --help`)")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seeds", type=Path, metavar="DIR", help="seeds folder (default: SEEDS_DIR or ./seeds)")
    common.add_argument("--index", type=Path, metavar="DIR", help="index folder (default: INDEX_DIR or ./index)")

    parser = _Parser(prog="bot", description="Answer questions about the Iraq premiership crisis with cited quotes.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("index", parents=[common], help="build or refresh the index")

    ask = commands.add_parser("ask", parents=[common], help="answer a question with quotes")
    ask.add_argument("question", nargs="+", help='the question, or "-" for one question per line on stdin')
    ask.add_argument("--json", action="store_true", help="print one JSON object (JSON Lines for -)")
    ask.add_argument("--discord", action="store_true", help="print the exact Discord message body as JSON, buttons included")
    ask.add_argument("--private", action="store_true", help="with --discord: the private answer's body (with Share to channel)")
    ask.add_argument("-k", type=int, default=None, help="number of quotes (default: TOP_K)")
    ask.add_argument("--no-abstain", action="store_true", help="quote the k best even where the bot would decline")

    sources = commands.add_parser("sources", parents=[common], help="list what the index holds")
    sources.add_argument("--json", action="store_true")

    sync = commands.add_parser("sync", parents=[common], help="register the slash commands with Discord")
    sync.add_argument("--guild", type=int, default=None, metavar="ID", help="sync to one server only")
    sync.add_argument("--dry-run", action="store_true", help="print the command payloads; needs no token")

    commands.add_parser("run", parents=[common], help="start the Discord bot (DISCORD_TOKEN)")

    gaps = commands.add_parser("gaps", parents=[common], help="questions the bot declined or that got a thumbs down, grouped")
    gaps.add_argument("--days", type=int, default=30, metavar="N", help="how many days back (default 30)")
    gaps.add_argument("--guild", type=int, default=None, metavar="ID", help="one server only (default: every server)")
    gaps.add_argument("--csv", action="store_true", help="CSV: count, declined, downvoted, last_asked, example")

    evaluate = commands.add_parser("eval", help="measure answer quality")
    kinds = evaluate.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    qa = kinds.add_parser("qa", parents=[common], help="questions with answer strings (dev.jsonl or the dev corpus's format)")
    qa.add_argument("file", type=Path)
    qa.add_argument("--with", dest="extra_seeds", type=Path, action="append", default=[], metavar="DIR",
                    help="index these articles too, beside the seeds (repeatable)")
    qa.add_argument("--half", choices=("tuning", "held-back"), default=None, help="only one half of the questions")
    qa.add_argument("--split-seed", type=int, default=None, metavar="N", help="seed of the tuning/held-back split")
    beir = kinds.add_parser("beir", parents=[common], help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels-test.tsv")
    beir.add_argument("folder", type=Path)
    beir.add_argument("--limit", type=int, default=None, help="only the first N queries")

    bench = commands.add_parser("bench", parents=[common], help="measure speed and memory")
    bench.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                       help="a BEIR folder to build and ask (default: ../shared/bench/scifact beside the repo)")
    bench.add_argument("--dev", type=Path, default=None, metavar="DIR",
                       help="a dev corpus (articles/ and questions.jsonl) to ask beside the seeds (default: tests/data/corpus)")
    bench.add_argument("--scales", default="3,10000,100000,1000000", help="passage counts to measure")
    bench.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    bench.add_argument("--repeat", type=int, default=1, help="builds to time (the fastest counts)")
    bench.add_argument("--every-kind", action="store_true", help="also time HNSW above 100k passages (slow to build)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(seeds_dir=args.seeds, index_dir=args.index)


def _progress() -> "Progress | None":
    """A progress bar on stderr when a person is watching; silence in pipes and CI."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="passage" if stage == "embedding" else "step",
                                     file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return report


def open_engine(settings: Settings) -> "Engine":
    from .engine.embedding import EmbeddingError
    from .engine.engine import Engine
    from .engine.store.loading import IndexUnavailable
    from .engine.store.publishing import BuildLocked

    try:
        return Engine.open(settings, progress=_progress())
    except (FileNotFoundError, NotADirectoryError, IndexUnavailable, BuildLocked, EmbeddingError) as error:
        raise Failure(str(error)) from None
    except OSError as error:  # no index to fall back on and the build could not write (disk full, ...)
        raise Failure(f"could not build the index in {settings.index_dir} ({error.strerror or error})") from None


def cmd_index(args: argparse.Namespace) -> int:
    """Always a fresh build; unchanged passages come from the embedding cache, so it is cheap."""
    import time

    from .engine.embedding import EmbeddingError, make_embedder
    from .engine.engine import build_params
    from .engine.store import building, loading
    from .engine.store.publishing import BuildLocked

    first = _settings(args)
    # The index the questions in other languages are answered from is built from the same seeds, after.
    for settings in filter(None, (first, first.for_other_languages())):
        started = time.perf_counter()
        try:
            previous = loading.load(settings.index_dir)
        except loading.IndexUnavailable as error:
            print(f"no usable index yet ({error}); building from scratch", file=sys.stderr)
            previous = None
        try:
            index, report = building.build(
                settings.index_dir, settings.seeds_dir, make_embedder(settings),
                build_params(settings), max_file_bytes=settings.max_file_bytes,
                batch_size=settings.embedding_batch_size, previous=previous, progress=_progress(),
            )
        except (FileNotFoundError, NotADirectoryError, BuildLocked, EmbeddingError, loading.IndexUnavailable) as error:
            raise Failure(str(error)) from None
        except OSError as error:
            raise Failure(f"could not write the index ({error.strerror or error}); the previous index is unchanged") from None
        if settings is first:
            for skipped in report.skipped:
                print(f"skipped {skipped.source}: {skipped.reason}", file=sys.stderr)
        changes = ", ".join(
            f"{label} {len(items)}" for label, items in
            (("added", report.added), ("removed", report.removed), ("changed", report.changed)) if items
        )
        languages = "" if settings is first else " for questions in other languages"
        print(
            f"indexed {len(index.articles)} articles, {report.passages_after} passages "
            f"({report.embedded} embedded{', ' + changes if changes else ''}) in {time.perf_counter() - started:.1f}s"
            f"{languages} ({settings.embedding_model})"
        )
    return EXIT_OK


def _questions(args: argparse.Namespace) -> list[str] | None:
    """None means read stdin line by line."""
    if args.question == ["-"]:
        return None
    question = " ".join(args.question)
    if not question.strip():
        raise UsageError("the question is empty: ask something about the articles")
    return [question]


def cmd_ask(args: argparse.Namespace) -> int:
    from . import render

    if args.k is not None and not 1 <= args.k <= 100:
        raise UsageError("-k must be between 1 and 100")
    if args.json and args.discord:
        raise UsageError("choose one of --json and --discord")
    questions = _questions(args)
    engine = open_engine(_settings(args))

    def one(question: str) -> str:
        answer = engine.ask(question, k=args.k, abstain=not args.no_abstain)
        if args.discord:
            from .discord.answer_state import AskRequest
            from .discord.views import answer_body

            sources = tuple(dict.fromkeys(quote.source for quote in answer.quotes))
            body = answer_body(answer, AskRequest(question).key, newest=engine.newest_published(),
                               article_keys=engine.article_keys(sources), per_page=args.k or engine.settings.top_k,
                               private=args.private)
            return json.dumps(body, ensure_ascii=False)
        if args.json or questions is None:
            return render.dumps(render.answer_json(answer))
        return render.answer_text(answer)

    if questions is None:
        for line in sys.stdin:
            question = line.rstrip("\r\n")
            if question.strip():
                print(one(question), flush=True)
        return EXIT_OK
    print(one(questions[0]))
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from . import messages, render
    from .engine.engine import build_params, sources_report
    from .engine.models import IndexedArticle, SourcesReport
    from .engine.store import loading

    def report_of(settings: Settings) -> SourcesReport:
        try:
            _, manifest = loading.read_manifest(settings.index_dir, verify=False)
            stale = loading.staleness(manifest, loading.manifest_hashes(manifest), settings.seeds_dir,
                                      build_params(settings), max_file_bytes=settings.max_file_bytes)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise Failure(str(error)) from None
        articles = tuple(
            IndexedArticle(a["source"], a["title"], a["passages"], a["sha256"], a["indexed_at"],
                           a.get("published"), a.get("outlet"), a.get("url"))
            for a in manifest["articles"]
        )
        return sources_report(manifest, articles, stale is not None)

    settings = _settings(args)
    try:
        report = report_of(settings)
    except loading.IndexUnavailable as error:
        raise Failure(f"{error}; build it with `python -m bot index`") from None
    if (other := settings.for_other_languages()) is not None:
        try:
            report = replace(report, other_languages=report_of(other))
        except loading.IndexUnavailable:  # the first index answers meanwhile: a note, not a failure
            print(messages.TERMINAL_SOURCES_OTHER_MISSING.format(model=other.embedding_model), file=sys.stderr)
    print(render.dumps(render.sources_json(report)) if args.json else render.sources_text(report))
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.dry_run:
        from .discord.client import command_payloads

        print(json.dumps(command_payloads(settings), indent=2, ensure_ascii=False))
        return EXIT_OK
    _token(settings)
    import asyncio

    import discord

    from .discord.client import LOGIN_FAILED, sync_commands

    try:
        names = asyncio.run(sync_commands(settings, args.guild))
    except discord.LoginFailure:
        raise Failure(LOGIN_FAILED) from None
    except discord.HTTPException as error:  # e.g. 403: the bot is not in that server
        raise Failure(f"Discord refused the sync: {error.status} {error.text or ''}".strip()) from None
    print(f"synced {len(names)} commands: {', '.join(names)}")
    return EXIT_OK


def _token(settings: Settings) -> str:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise UsageError("DISCORD_TOKEN is not set: put it in the environment or in .env (see .env.example)")
    return settings.discord_token.get_secret_value()


def open_records(settings: Settings):  # -> Database; the type is imported lazily
    """The database (DATABASE_URL, or SQLite beside the index), migrated to the newest schema."""
    from .storage.database import DatabaseError, open_database

    try:
        return open_database(settings.database)
    except DatabaseError as error:
        raise Failure(str(error)) from None


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _token(settings)
    from .discord.client import run_bot

    database = open_records(settings)
    return run_bot(settings, open_engine(settings), database)


def cmd_gaps(args: argparse.Namespace) -> int:
    """What /gaps shows, for an admin on the machine: a table, or CSV with --csv."""
    import csv

    if args.days < 1:
        raise UsageError("--days must be at least 1")
    settings = _settings(args)
    from .storage import gaps

    database = open_records(settings)
    items = gaps.gap_questions(database, args.days, guild_id=args.guild)
    rows: list[gaps.GapRow] = []
    if items:
        from .engine.embedding import EmbeddingError, make_embedder

        try:
            embedder = make_embedder(settings)
        except EmbeddingError as error:
            raise Failure(str(error)) from None
        rows = gaps.group_gaps(items, embedder.encode_queries, settings.gaps_similarity)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["count", "declined", "downvoted", "last_asked", "example"])
        for row in rows:
            writer.writerow([row.count, row.declined, row.downvoted, row.last_asked.isoformat(), row.example])
        return EXIT_OK
    if not rows:
        print(f"no declined or thumbs-down questions in the last {args.days} days")
        return EXIT_OK
    print(f"{'count':>5}  {'declined':>8}  {'downvoted':>9}  {'last asked':10}  example")
    for row in rows:
        print(f"{row.count:>5}  {row.declined:>8}  {row.downvoted:>9}  {row.last_asked:%Y-%m-%d}  {row.example}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from .tools import evaluation, qa

    settings = _settings(args)
    if args.kind != "qa":
        return evaluation.run_beir(settings, args.folder, limit=args.limit)
    if not args.file.is_file():
        raise UsageError(f"question file not found: {args.file}")
    seed = qa.SPLIT_SEED if args.split_seed is None else args.split_seed
    try:
        return evaluation.run_qa(settings, args.file, extra_seeds=args.extra_seeds, half=args.half, seed=seed)
    except ValueError as error:  # a bad question line, or two article folders sharing a file name
        raise UsageError(str(error)) from None
    except (FileNotFoundError, NotADirectoryError) as error:
        raise Failure(str(error)) from None


def cmd_bench(args: argparse.Namespace) -> int:
    from .tools import bench

    return bench.run(_settings(args), args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "index": cmd_index, "ask": cmd_ask, "sources": cmd_sources, "sync": cmd_sync,
    "run": cmd_run, "gaps": cmd_gaps, "eval": cmd_eval, "bench": cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Failure as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:  # the backstop: a file or folder the work needs failed in a way not named above
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
