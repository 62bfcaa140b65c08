"""Several processes, one INDEX_DIR: a serving bot follows builds another process publishes.

The two-process test runs the real `python -m bot run` (against a loopback Discord) and the real
`python -m bot index` on one index folder, asking questions the whole time. The in-process tests
pin down the two mechanisms behind it: leases (cleanup keeps what a live process serves, ignores
dead processes) and the follower (switches only to complete, published, loadable builds).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.engine.engine import Engine, build_params
from bot.engine.following import Follower
from bot.engine.store import building, layout
from bot.engine.store.leases import Lease, leased_builds
from loopback.process import REPO, TOKEN, BotProcess
from loopback.server import LoopbackDiscord, interaction_json

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "articles"
DETAINEES = "2026-01-21_tigris-wire-us-moves-isis-detainees-to-iraq.txt"
DETAINEES_QUESTION = "How many Islamic State detainees did the US military move from Syria into Iraq?"


def live_build(index_dir: Path) -> str:
    return json.loads((index_dir / layout.CURRENT).read_text())["build"]


def cited(request) -> str:
    return " ".join(f["value"] for e in request.json.get("embeds") or [] for f in e.get("fields") or []).replace("\\_", "_")


def test_a_bot_follows_a_build_published_by_another_process_and_keeps_answering(engine, settings, tmp_path):
    seeds, index = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(settings.seeds_dir, seeds)
    shutil.copytree(settings.index_dir, index, ignore=shutil.ignore_patterns("leases", ".lock", "models"))
    served = live_build(index)
    server = LoopbackDiscord(TOKEN).start()
    bot = BotProcess(server, tmp_path / "work", seeds=seeds, index=index, SHARDED="false")  # the other module runs sharded
    try:
        bot.start()
        asked: list[dict] = []

        def ask(question: str) -> dict:
            interaction = interaction_json("ask", {"question": question}, user_id=620_000_000_000_000_000 + len(asked))
            server.dispatch("INTERACTION_CREATE", interaction)
            asked.append(interaction)
            return interaction

        def answer(interaction: dict, timeout: float = 30.0):
            return server.wait_for(lambda: next((r for r in server.for_token(interaction["token"])
                                                 if r.kind == "followup" and r.status == 200), None), timeout)

        before = answer(ask(DETAINEES_QUESTION))
        assert DETAINEES not in cited(before)  # the article is not indexed yet

        shutil.copy(CORPUS / DETAINEES, seeds / DETAINEES)
        indexer = subprocess.Popen([sys.executable, "-m", "bot", "index", "--seeds", str(seeds), "--index", str(index)],
                                   cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while indexer.poll() is None:  # questions all through the other process's build and cleanup
            ask("Where did US and Iranian officials hold talks?")
            time.sleep(0.2)
        out, err = indexer.communicate()
        assert indexer.returncode == 0, err
        published = live_build(index)
        assert published != served
        # the other process cleaned up, but not the build this bot was serving
        assert (index / layout.BUILDS / served / "manifest.json").is_file()

        switched_at = time.monotonic()
        while True:
            reply = answer(ask(DETAINEES_QUESTION))
            if DETAINEES in cited(reply):
                break
            assert time.monotonic() - switched_at < 10, "the bot still answers from the old build"
            time.sleep(0.3)
        for interaction in asked:  # every question, during and after the swap, got its quotes
            assert answer(interaction).json["embeds"][0]["title"] == "From the articles"
        assert "answering from build " + published in bot.log()
        assert "Traceback" not in bot.log() and "error " not in bot.log()
        # the bot now leases only the new build: the next cleanup may take the old one
        assert leased_builds(index) == {published}

        bot.send(signal.SIGINT)
        started = time.monotonic()
        assert bot.wait(10) == 130 and time.monotonic() - started < 10
        assert "Traceback" not in bot.log()
        assert leased_builds(index) == set()  # a stopped bot holds nothing
    finally:
        bot.stop()
        server.stop()


# --- the mechanisms, in one process --------------------------------------------------------------
def _build(settings, embedder, previous=None):
    index, _ = building.build(settings.index_dir, settings.seeds_dir, embedder, build_params(settings),
                              max_file_bytes=settings.max_file_bytes, previous=previous)
    return index


def test_cleanup_keeps_builds_live_processes_lease_and_ignores_dead_ones(fresh_settings, embedder, tmp_path):
    first = _build(fresh_settings, embedder)
    lease = Lease(fresh_settings.index_dir)
    lease.hold(first.path.name)
    second = _build(fresh_settings, embedder, previous=first)
    builds = fresh_settings.index_dir / layout.BUILDS
    assert (builds / first.path.name).is_dir()  # leased by a live process: kept
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = fresh_settings.index_dir / layout.LEASES / f"{dead.pid}-dead.json"
    stale.write_text(json.dumps({"pid": dead.pid, "builds": [second.path.name]}))
    third = _build(fresh_settings, embedder, previous=second)
    assert not (builds / second.path.name).exists()  # its only lease belongs to a dead process
    assert not stale.exists()
    assert sorted(p.name for p in builds.iterdir()) == sorted([first.path.name, third.path.name])
    lease.release()
    fourth = _build(fresh_settings, embedder, previous=third)
    assert [p.name for p in builds.iterdir()] == [fourth.path.name]


def test_the_follower_takes_only_complete_published_builds(fresh_settings, embedder, caplog):
    first = _build(fresh_settings, embedder)
    engine = Engine(fresh_settings, embedder, first)
    follower = Follower(fresh_settings.index_dir, build_params(fresh_settings).to_dict(), lambda: engine.index, engine.adopt)
    follower.lease.hold(first.path.name)
    builds = fresh_settings.index_dir / layout.BUILDS
    shutil.copytree(builds / first.path.name, builds / ".tmp-half-written")  # a build still being written
    shutil.copytree(builds / first.path.name, builds / "renamed-but-unpublished")
    assert not follower.check() and engine.index.path.name == first.path.name

    # a published pointer to a damaged build: refused, the old build still answers
    damaged = builds / "damaged"
    shutil.copytree(builds / first.path.name, damaged)
    (damaged / "vectors.npy").write_bytes(b"truncated")
    pointer = {"build": "damaged", "manifest_sha256": layout.sha256_file(damaged / "manifest.json")}
    (fresh_settings.index_dir / layout.CURRENT).write_text(json.dumps(pointer))
    assert not follower.check() and engine.index.path.name == first.path.name
    assert "cannot be loaded" in caplog.text
    assert engine.ask("Where did US and Iranian officials hold talks?").answered

    shutil.copy(CORPUS / DETAINEES, fresh_settings.seeds_dir / DETAINEES)
    published = _build(fresh_settings, embedder, previous=first)  # as another process would
    assert follower.check()
    assert engine.index.path.name == published.path.name
    answer = engine.ask(DETAINEES_QUESTION)
    assert answer.answered and answer.quotes[0].source == DETAINEES
    assert follower.lease.builds == {published.path.name}
    follower.stop()
