"""The command line as a person or a script uses it: real processes, real model, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


def run(*args: str, env: dict | None = None, stdin: str | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=REPO, capture_output=True, text=True, input=stdin,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, engine, settings):
    """The session's index folder, already built by the engine fixture; the CLI reuses it."""
    return ["--seeds", str(settings.seeds_dir), "--index", str(settings.index_dir)]


def test_ask_json_contract_and_exact_slices(built, settings):
    result = run("ask", *built, "--json", "Where did US and Iranian officials hold talks?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "answered", "passages"} and data["answered"] is True
    first = data["passages"][0]
    assert set(first) >= {"rank", "quote", "source", "title", "start", "end", "score"}
    assert first["rank"] == 1 and "Oman" in first["quote"] and first["source"] == "003_42fc9fe0a8eacdba.txt"
    for passage in data["passages"]:
        file_text = (settings.seeds_dir / passage["source"]).read_bytes().decode("utf-8")
        assert passage["quote"] == file_text[passage["start"] : passage["end"]]


def test_ask_prints_numbered_cited_quotes_for_a_person(built):
    result = run("ask", *built, "Where did US and Iranian officials hold talks?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. “") and "Oman" in result.stdout.splitlines()[0]
    assert "003_42fc9fe0a8eacdba.txt" in result.stdout and "US reiterates readiness" in result.stdout


def test_batch_from_stdin_gives_one_json_line_per_question(built):
    questions = "Where did US and Iranian officials hold talks?\n\nWhat is the capital of France?\n"
    result = run("ask", *built, "--json", "-k", "2", "-", stdin=questions)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["answered"] for line in lines] == [True, False]
    assert len(lines[0]["passages"]) <= 2 and lines[1]["passages"] == []


def test_no_abstain_returns_passages_for_an_off_topic_question(built):
    result = run("ask", *built, "--json", "--no-abstain", "-k", "4", "What is the capital of France?")
    data = json.loads(result.stdout)
    assert data["answered"] is False and len(data["passages"]) == 4


def test_sources_lists_the_index_without_rebuilding(built, settings, embedder):
    result = run("sources", *built, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["index"]["model"] == embedder.name == settings.embedding_model + "+onnx-int8"  # model and backend
    assert data["seeds_changed"] is False
    assert {a["source"] for a in data["articles"]} == {p.name for p in settings.seeds_dir.iterdir()}
    assert all(set(a) >= {"source", "title", "passages", "sha256", "indexed_at"} for a in data["articles"])


def test_sources_says_when_the_seeds_changed(tmp_path, built, settings):
    import shutil

    seeds = tmp_path / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    (seeds / "late.txt").write_text("A late article\n\nMaliki met envoys in Najaf.\n")
    result = run("sources", "--seeds", str(seeds), "--index", str(settings.index_dir), "--json")
    assert json.loads(result.stdout)["seeds_changed"] is True


def test_the_terminal_says_once_that_the_seeds_changed_whichever_index_is_behind():
    from dataclasses import replace

    from bot import messages, render
    from bot.engine.models import SourcesReport

    other = SourcesReport("e5", 384, "2026-12-02T00:00:00Z", 1, 4, (), seeds_changed=True)
    report = SourcesReport("minilm", 384, "2026-12-02T00:00:00Z", 1, 4, (), seeds_changed=True, other_languages=other)
    stale = messages.TERMINAL_SOURCES_STALE
    assert render.sources_text(report).count(stale) == 1  # one `index` run rebuilds both
    assert render.sources_text(replace(report, seeds_changed=False)).count(stale) == 1
    assert render.sources_text(replace(report, other_languages=replace(other, seeds_changed=False))).count(stale) == 1
    fresh = replace(report, seeds_changed=False, other_languages=replace(other, seeds_changed=False))
    assert stale not in render.sources_text(fresh)


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", ""], "question is empty"),
        (["ask", "   "], "question is empty"),
        (["ask", "-k", "0", "hello"], "-k must be"),
        (["ask", "-k", "many", "hello"], "invalid int value"),
        (["frobnicate"], "invalid choice"),
        (["ask"], "required"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_invalid_setting_names_the_setting_without_a_traceback():
    result = run("sources", env={"TOP_K": "lots"})
    assert result.returncode == 2 and "TOP_K" in result.stderr and "Traceback" not in result.stderr


def test_missing_seeds_folder_is_a_one_line_failure(tmp_path):
    result = run("index", "--seeds", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index"))
    assert result.returncode == 1 and "Seeds folder not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_sources_without_an_index_says_how_to_build_one(tmp_path):
    result = run("sources", "--index", str(tmp_path / "empty"))
    assert result.returncode == 1 and "python -m bot index" in result.stderr


def test_reading_commands_never_import_the_model_libraries(built):
    """`sources` and `sync --dry-run` answer in a moment: torch and sentence-transformers stay unloaded."""
    probe = (
        "import sys, contextlib, io\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['sources', *{built!r}]) == 0\n"
        "    assert main(['sync', '--dry-run']) == 0\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _run_in_process(script: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """A fresh `python` running `script` (which may patch what a test cannot reach from outside)."""
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "DISCORD_TOKEN": "MTIz.not-a-real-token.xyz", "LOG_LEVEL": "INFO"},
                          timeout=timeout)


def test_run_logs_each_line_once(tmp_path):
    """`python -m bot run` as users start it (cli.main): every log line reaches stderr once, not twice."""
    probe = (
        "import sys, discord\n"
        "import bot.cli as cli\n"
        "async def refuse(self, token):\n"
        "    raise discord.LoginFailure('Improper token has been passed.')\n"
        "discord.http.HTTPClient.static_login = refuse  # Discord is unreachable: refuse the login here\n"
        "class NoEngine:  # no model: the lines logged around login are the point\n"
        "    def follow_published(self): pass\n"
        "    def stop_following(self): pass\n"
        "cli.open_engine = lambda settings: NoEngine()\n"
        f"sys.exit(cli.main(['run', '--index', {str(tmp_path)!r}]))\n"
    )
    result = _run_in_process(probe)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    from bot.discord.client import LOGIN_FAILED

    assert sum(LOGIN_FAILED in line for line in lines) == 1, result.stderr
    assert sum("logging in using static token" in line for line in lines) == 1, result.stderr  # INFO reaches it too
    assert "Traceback" not in result.stderr


def test_a_write_error_while_building_at_start_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    """No index yet and the disk is full: `ask` (Engine.open re-raises the OSError) ends in one line, exit 1."""
    import errno

    from bot import cli
    from bot.engine.store import building

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(building, "build", disk_full)
    code = cli.main(["ask", "--index", str(tmp_path / "index"), "Where were the talks?"])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and len(err.strip().splitlines()) == 1, err


def test_an_index_that_cannot_be_read_back_after_index_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    from bot import cli
    from bot.engine.store import building, loading

    def unreadable(*args, **kwargs):
        raise loading.IndexUnavailable("the index in builds/x cannot be read (truncated)")

    monkeypatch.setattr(building, "build", unreadable)
    code = cli.main(["index", "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 1 and "cannot be read" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 2, err  # "no usable index yet; building from scratch", then the error


def test_sync_dry_run_lists_every_command_with_its_permissions():
    result = run("sync", "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = {command["name"]: command for command in json.loads(result.stdout)}
    assert set(commands) == {"ask", "sources", "reindex", "config", "Find sources", "gaps", "stats", "articles", "forget-me"}
    assert commands["Find sources"]["type"] == 3 and commands["Find sources"]["default_member_permissions"] is None
    assert int(commands["config"]["default_member_permissions"]) == 1 << 5  # Manage Server
    assert [sub["name"] for sub in commands["config"]["options"]] == ["show", "set", "clear"]
    ask_options = {option["name"]: option for option in commands["ask"]["options"]}
    assert ask_options["private"]["type"] == 5 and ask_options["article"]["autocomplete"] is True


def test_ask_discord_previews_the_buttons(built):
    result = run("ask", *built, "--discord", "--private", "Why does Washington see Maliki as a problem?")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    labels = [button["label"] for row in body["components"] for button in row["components"]]
    assert labels[:2] == ["More quotes", "Share to channel"]
    assert "Full paragraph 1" in labels
    assert body["allowed_mentions"] == {"parse": []}
