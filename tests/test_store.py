"""The index folder: nothing already indexed is ever lost, and damage is detected, not served."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bot.engine.store import building, layout, loading, publishing
from bot.engine.engine import Engine, build_params

from conftest import REPO


def _build(settings, embedder, previous=None):
    return building.build(
        settings.index_dir, settings.seeds_dir, embedder, build_params(settings),
        max_file_bytes=settings.max_file_bytes, previous=previous,
    )


def test_build_writes_a_manifest_that_describes_the_index(fresh_settings, embedder):
    index, report = _build(fresh_settings, embedder)
    manifest = json.loads((index.path / "manifest.json").read_text())
    assert manifest["format_version"] == layout.FORMAT_VERSION
    assert manifest["params"]["model"] == embedder.name  # the backend is part of the model: vectors differ
    assert manifest["dimension"] == 384
    assert manifest["counts"]["articles"] == 3 and manifest["counts"]["passages"] == report.passages_after
    assert manifest["counts"]["sentences"] == len(index.sentence_vectors) > report.passages_after
    assert {a["source"] for a in manifest["articles"]} == {p.name for p in fresh_settings.seeds_dir.iterdir()}
    assert all(len(a["sha256"]) == 64 and a["indexed_at"] for a in manifest["articles"])
    assert "built_at" in manifest and set(manifest["files"]) >= {"vectors.npy", "passages.npy", "articles.jsonl", "texts.npy", "sentences.npy"}
    assert report.added and not report.removed and report.embedded == report.passages_after


def test_a_reloaded_index_answers_like_the_one_just_built(fresh_settings, embedder):
    _build(fresh_settings, embedder)
    loaded = loading.load(fresh_settings.index_dir)
    assert loaded.passages and all(
        p.text == loaded.articles[p.source].text[p.start : p.end] for p in loaded.passages
    )
    answer = Engine(fresh_settings, embedder, loaded).ask("Where did US and Iranian officials hold talks?")
    assert "Oman" in answer.quotes[0].text


@pytest.mark.parametrize("damage", ["truncate", "edit", "delete", "manifest", "pointer"])
def test_a_damaged_index_is_detected_and_rebuilt_not_served(fresh_settings, embedder, damage):
    index, _ = _build(fresh_settings, embedder)
    vectors = index.path / "vectors.npy"
    if damage == "truncate":
        vectors.write_bytes(vectors.read_bytes()[:-100])
    elif damage == "edit":
        data = bytearray(vectors.read_bytes())
        data[-5] ^= 0xFF
        vectors.write_bytes(bytes(data))
    elif damage == "delete":
        (index.path / "passages.npy").unlink()
    elif damage == "manifest":
        manifest = json.loads((index.path / "manifest.json").read_text())
        manifest["counts"]["passages"] += 1
        (index.path / "manifest.json").write_text(json.dumps(manifest))
    else:
        (fresh_settings.index_dir / layout.CURRENT).write_text("{not json")
    with pytest.raises(loading.IndexUnavailable) as caught:
        loading.load(fresh_settings.index_dir)
    assert str(caught.value)  # a message a person can read
    engine = Engine.open(fresh_settings, embedder=embedder)  # rebuilt at start
    assert "Oman" in engine.ask("Where did US and Iranian officials hold talks?").quotes[0].text


def test_stale_index_is_noticed_when_an_article_changes_and_when_settings_change(fresh_settings, embedder):
    index, _ = _build(fresh_settings, embedder)
    params = build_params(fresh_settings)
    assert loading.staleness(index.manifest, index.article_hashes(), fresh_settings.seeds_dir, params, max_file_bytes=10**7) is None
    changed = params.__class__(**{**params.to_dict(), "passage_max_tokens": 64})
    assert "passage_max_tokens" in loading.staleness(index.manifest, index.article_hashes(), fresh_settings.seeds_dir, changed, max_file_bytes=10**7)
    with (fresh_settings.seeds_dir / "001_d007a2e75fab5d5c.txt").open("a", encoding="utf-8") as handle:
        handle.write("\nA new paragraph about the talks in Muscat.\n")
    assert loading.staleness(index.manifest, index.article_hashes(), fresh_settings.seeds_dir, params, max_file_bytes=10**7)


def test_changing_one_article_re_embeds_only_its_passages(fresh_settings, embedder):
    first, _ = _build(fresh_settings, embedder)
    path = fresh_settings.seeds_dir / "001_d007a2e75fab5d5c.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new paragraph about talks in Muscat.\n", encoding="utf-8")
    second, report = _build(fresh_settings, embedder, previous=first)
    assert report.changed == ("001_d007a2e75fab5d5c.txt",)
    own = sum(1 for p in second.passages if p.source == "001_d007a2e75fab5d5c.txt")
    assert 0 < report.embedded <= own
    unchanged = {a.source: a.indexed_at for a in second.article_list() if a.source != "001_d007a2e75fab5d5c.txt"}
    assert unchanged == {s: first.indexed_at[s] for s in unchanged}


def test_every_sentence_keeps_its_own_words_after_an_incremental_build(fresh_settings, embedder):
    """Quoting reads each sentence's words from the index: a row must never get another sentence's."""
    from bot.engine.fingerprints import leans_back, term_keys

    first, _ = _build(fresh_settings, embedder)
    (fresh_settings.seeds_dir / "000_first.txt").write_text(
        "A new first article\n\nOfficials said the talks in Muscat would resume. They did not say when.\n",
        encoding="utf-8",
    )
    second, _ = _build(fresh_settings, embedder, previous=first)  # every old row moves down
    checked = 0
    for row in range(len(second.passages)):
        passage = second.passages[row]
        text = second.articles[passage.source].text
        for (start, end), sentence_row in zip(passage.sentences, second.sentence_rows[row]):
            assert second.fingerprints.terms_of(sentence_row) == term_keys(text[start:end])
            assert second.fingerprints.leans_back(sentence_row) == leans_back(text[start:end])
            checked += 1
    assert checked > 50 and len(second.fingerprints) == second.manifest["counts"]["sentences"]


def test_removed_and_added_articles_are_reported(fresh_settings, embedder):
    first, _ = _build(fresh_settings, embedder)
    (fresh_settings.seeds_dir / "000_389047a5565d4974.txt").unlink()
    (fresh_settings.seeds_dir / "new.md").write_text("New headline\n\nMaliki spoke in Najaf on Monday.\n")
    _, report = _build(fresh_settings, embedder, previous=first)
    assert report.removed == ("000_389047a5565d4974.txt",) and report.added == ("new.md",)


def test_a_failed_write_keeps_the_old_index_and_reports_the_error(fresh_settings, embedder, monkeypatch):
    first, _ = _build(fresh_settings, embedder)
    before = (fresh_settings.index_dir / layout.CURRENT).read_text()
    (fresh_settings.seeds_dir / "extra.txt").write_text("Headline\n\nSomething new about Oman.\n")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publishing.np, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _build(fresh_settings, embedder, previous=first)
    assert (fresh_settings.index_dir / layout.CURRENT).read_text() == before
    assert not list((fresh_settings.index_dir / layout.BUILDS).glob(".tmp-*"))  # no half-written leftovers
    reloaded = loading.load(fresh_settings.index_dir)
    assert {a.source for a in reloaded.article_list()} == {a.source for a in first.article_list()}


def test_a_second_builder_is_refused_while_one_holds_the_lock(fresh_settings, embedder):
    with publishing.build_lock(fresh_settings.index_dir):
        with pytest.raises(publishing.BuildLocked):
            _build(fresh_settings, embedder)


# A real `python -m bot index` (cli.main) that stops at one named stage of its build, says so on
# stdout and waits there to be killed: the kill lands in that stage on any machine, fast or slow.
_PAUSING_BUILD = """
import sys, time
import bot.cli as cli
from bot.engine.store import publishing
stage = sys.argv[1]

def pause(name):
    if name == stage:
        print(name, flush=True)
        time.sleep(300)

def around(function, name):
    def paused(*args, **kwargs):
        pause(name)
        return function(*args, **kwargs)
    return paused

cli._progress = lambda: (lambda step, done, total: pause(step) if step == "embedding" else None)
publishing._fsync_tree = around(publishing._fsync_tree, "writing")  # the staging folder is written, not yet synced
publishing._publish = around(publishing._publish, "publishing")  # renamed into builds/, CURRENT not yet replaced
publishing._collect_garbage = around(publishing._collect_garbage, "collecting")  # CURRENT replaced, old build still there
sys.exit(cli.main(["index"]))
"""


@pytest.mark.parametrize("stage", ["embedding", "writing", "publishing", "collecting"])
def test_sigkill_during_index_leaves_the_previous_index_loading_and_answering(fresh_settings, embedder, stage):
    """SIGKILL at each named stage of a build: the previous index (or, once CURRENT was replaced, the
    new one) loads, verified, and answers; the next build cleans up what the killed one left."""
    first, _ = _build(fresh_settings, embedder)
    pointer = (fresh_settings.index_dir / layout.CURRENT).read_bytes()
    (fresh_settings.seeds_dir / "later.txt").write_text("Later story\n\nTalks resumed in Muscat on Monday.\n")
    env = {**os.environ, "SEEDS_DIR": str(fresh_settings.seeds_dir), "INDEX_DIR": str(fresh_settings.index_dir)}
    process = subprocess.Popen([sys.executable, "-c", _PAUSING_BUILD, stage], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout.readline().strip() == stage, "the build never reached the stage"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    replaced = stage == "collecting"
    assert ((fresh_settings.index_dir / layout.CURRENT).read_bytes() == pointer) is not replaced
    reloaded = loading.load(fresh_settings.index_dir)  # verified: every file matches its checksum
    sources = {a.source for a in reloaded.article_list()}
    assert sources == {a.source for a in first.article_list()} | ({"later.txt"} if replaced else set())
    answer = Engine(fresh_settings, embedder, reloaded).ask("Where did US and Iranian officials hold talks?")
    assert "Oman" in answer.quotes[0].text
    builds = fresh_settings.index_dir / layout.BUILDS
    if stage in ("writing", "publishing", "collecting"):  # the killed build left something behind
        assert len(list(builds.iterdir())) == 2
    # and the next build cleans up what the killed one left behind
    _build(fresh_settings, embedder, previous=reloaded)
    assert [p.name for p in builds.iterdir()] == [
        json.loads((fresh_settings.index_dir / layout.CURRENT).read_text())["build"]
    ]


def test_vectors_are_normalised_so_inner_product_is_cosine(fresh_settings, embedder):
    index, _ = _build(fresh_settings, embedder)
    norms = np.linalg.norm(np.asarray(index.vectors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


class _Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, cleanup included."""


def test_death_at_every_step_of_writing_and_swapping_leaves_old_or_new_never_a_mix(fresh_settings, embedder, monkeypatch):
    first, _ = _build(fresh_settings, embedder)
    (fresh_settings.seeds_dir / "later.txt").write_text("Later story\n\nTalks resumed in Muscat on Monday.\n")
    old_sources = {a.source for a in first.article_list()}
    new_sources = old_sources | {"later.txt"}
    monkeypatch.setattr(publishing.shutil, "rmtree", lambda *a, **k: None)  # a killed process cleans nothing up

    steps = {"count": 0, "die_at": None}
    real = {name: getattr(publishing.os, name) for name in ("fsync", "rename", "replace")}

    def checkpoint(name):
        def wrapped(*args, **kwargs):
            steps["count"] += 1
            if steps["count"] == steps["die_at"]:
                raise _Killed()
            return real[name](*args, **kwargs)
        return wrapped

    for name in real:
        monkeypatch.setattr(publishing.os, name, checkpoint(name))
    cached = loading.load(fresh_settings.index_dir)
    _build(fresh_settings, embedder, previous=cached)  # a dry run, to count the steps
    total = steps["count"]
    assert total > 10
    # back to the old index, then die at each step of a new build in turn
    for die_at in range(1, total + 1):
        (fresh_settings.seeds_dir / "later.txt").unlink()
        steps.update(count=0, die_at=None)
        _build(fresh_settings, embedder, previous=loading.load(fresh_settings.index_dir))
        (fresh_settings.seeds_dir / "later.txt").write_text("Later story\n\nTalks resumed in Muscat on Monday.\n")
        steps.update(count=0, die_at=die_at)
        with pytest.raises(_Killed):
            _build(fresh_settings, embedder, previous=loading.load(fresh_settings.index_dir))
        steps["die_at"] = None
        loaded = loading.load(fresh_settings.index_dir)  # verified: every file matches its checksum
        sources = {a.source for a in loaded.article_list()}
        assert sources in (old_sources, new_sources), die_at
        assert len(loaded.passages) == loaded.manifest["counts"]["passages"]


def test_a_stale_index_keeps_answering_when_the_rebuild_cannot_run(fresh_settings, embedder):
    import shutil

    _build(fresh_settings, embedder)
    shutil.rmtree(fresh_settings.seeds_dir)  # the seeds folder is gone: nothing to rebuild from
    engine = Engine.open(fresh_settings, embedder=embedder)
    assert "Oman" in engine.ask("Where did US and Iranian officials hold talks?").quotes[0].text


@pytest.mark.slow
def test_the_real_engine_refuses_a_second_rebuild_while_one_runs(fresh_settings, embedder):
    """Engine.reindex's own lock, and another builder's folder lock: refused at once, never queued."""
    import threading

    from bot.engine.engine import ReindexInProgress

    engine = Engine.open(fresh_settings, embedder=embedder)
    entered, gate, reports = threading.Event(), threading.Event(), []

    def pause(stage, done, total):
        if not entered.is_set():
            entered.set()
            gate.wait(60)

    worker = threading.Thread(target=lambda: reports.append(engine.reindex(pause)))
    worker.start()
    try:
        assert entered.wait(60) and engine.reindexing
        started = time.monotonic()
        with pytest.raises(ReindexInProgress):
            engine.reindex()
        assert time.monotonic() - started < 1  # refused, not queued behind the running one
    finally:
        gate.set()
        worker.join(60)
    assert len(reports) == 1 and not engine.reindexing
    with publishing.build_lock(fresh_settings.index_dir):  # e.g. `python -m bot index` in another process
        with pytest.raises(ReindexInProgress, match="another build"):
            engine.reindex()
        assert not engine.reindexing
    assert engine.reindex().passages_after == len(engine.index.passages)  # and free again afterwards
