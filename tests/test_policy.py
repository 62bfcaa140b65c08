"""/config's policy resolution (pure) and the JSON stores behind /config and the answer buttons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import policy
from bot.config_store import JsonConfigStore
from bot.discord.answer_state import AnswerState, AskRequest

BASE = policy.defaults(answer=True, replies="inline", private=False, cooldown=10.0)
GUILD, CHANNEL, OTHER = 1, 10, 11


def test_nothing_configured_gives_the_settings_defaults():
    assert policy.resolve(BASE, [], CHANNEL) == BASE


def test_server_wide_then_channel_override():
    entries = [(None, "replies", "thread"), (None, "cooldown", "30"), (CHANNEL, "replies", "inline")]
    here = policy.resolve(BASE, entries, CHANNEL)
    elsewhere = policy.resolve(BASE, entries, OTHER)
    assert (here.replies, here.cooldown) == ("inline", 30.0)  # the channel wins over the server
    assert (elsewhere.replies, elsewhere.cooldown) == ("thread", 30.0)


def test_an_allowlist_is_off_server_wide_and_on_in_channels():
    entries = [(None, "answer", "off"), (CHANNEL, "answer", "on")]
    assert policy.resolve(BASE, entries, CHANNEL).answer is True
    assert policy.resolve(BASE, entries, OTHER).answer is False
    assert policy.answering_channels(BASE, entries) == [CHANNEL]


def test_entry_order_does_not_let_a_server_value_beat_a_channel_value():
    entries = [(CHANNEL, "private", "on"), (None, "private", "off")]
    assert policy.resolve(BASE, entries, CHANNEL).private is True


@pytest.mark.parametrize(("key", "typed", "stored"), [
    ("answer", "Yes", "on"), ("answer", "false", "off"), ("replies", "THREAD", "thread"),
    ("private", "on", "on"), ("cooldown", "2.50", "2.5"), ("cooldown", "0", "0"),
])
def test_values_are_stored_canonically(key, typed, stored):
    assert policy.parse(key, typed) == stored


@pytest.mark.parametrize(("key", "typed"), [
    ("answer", "maybe"), ("replies", "dm"), ("cooldown", "-1"), ("cooldown", "nan"), ("cooldown", "1e9"),
])
def test_bad_values_say_what_the_key_takes(key, typed):
    with pytest.raises(policy.BadValue) as error:
        policy.parse(key, typed)
    assert str(error.value)  # shown to the admin as "{key} takes {expected}."


def test_unknown_keys_and_unreadable_stored_values_are_ignored_not_fatal():
    entries = [(None, "colour", "red"), (None, "cooldown", "soon")]
    assert policy.resolve(BASE, entries, CHANNEL) == BASE
    with pytest.raises(KeyError):
        policy.parse("colour", "red")


# --- the JSON store -------------------------------------------------------------------------------
def test_json_store_survives_a_restart_and_clears(tmp_path: Path):
    path = tmp_path / "state" / "server-config.json"
    store = JsonConfigStore(path)
    store.put(GUILD, None, "replies", "thread", actor_id=5)
    store.put(GUILD, CHANNEL, "answer", "off", actor_id=5)
    store.put(GUILD, CHANNEL, "answer", "on", actor_id=6)  # replaces, never duplicates
    reopened = JsonConfigStore(path)
    assert sorted(reopened.entries(GUILD), key=str) == sorted([(None, "replies", "thread"), (CHANNEL, "answer", "on")], key=str)
    assert reopened.entries(2) == []
    reopened.put(GUILD, None, "replies", None, actor_id=5)
    assert JsonConfigStore(path).entries(GUILD) == [(CHANNEL, "answer", "on")]
    assert [p.name for p in path.parent.iterdir()] == ["server-config.json"]  # no temp file left behind


def test_json_store_records_who_changed_what(tmp_path: Path):
    path = tmp_path / "server-config.json"
    JsonConfigStore(path).put(GUILD, None, "private", "on", actor_id=42)
    [row] = json.loads(path.read_text())["guilds"][str(GUILD)]
    assert row[:4] == [None, "private", "on", 42]


def test_a_failed_write_keeps_the_previous_file_and_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "server-config.json"
    store = JsonConfigStore(path)
    store.put(GUILD, None, "private", "on", actor_id=1)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("bot.config_store.os.replace", broken)
    with pytest.raises(OSError):
        store.put(GUILD, None, "private", "off", actor_id=1)
    assert path.read_bytes() == before
    assert store.entries(GUILD) == [(None, "private", "on")]
    assert [p.name for p in tmp_path.iterdir()] == ["server-config.json"]


def test_an_unreadable_file_is_kept_aside_and_the_store_starts_empty(tmp_path: Path):
    path = tmp_path / "server-config.json"
    path.write_text("{not json")
    assert JsonConfigStore(path).entries(GUILD) == []
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("server-config.json.unreadable-")]
    assert len(kept) == 1 and kept[0].read_text() == "{not json"


# --- answer state (the questions behind buttons, a thread's questions) ---------------------------
def test_answer_state_survives_a_restart(tmp_path: Path):
    path = tmp_path / "answers.json"
    state = AnswerState(path)
    request = AskRequest("What about Iran?", ("What did Trump threaten?",), "000.txt")
    key = state.remember(request)
    state.add_to_thread(77, "first")
    state.add_to_thread(77, "second")
    again = AnswerState(path)
    assert again.recall(key) == request
    assert again.thread_questions(77) == ("first", "second")
    assert again.thread_questions(78) == ()
    assert len(key) == 12 and AskRequest("What about Iran?").key != key  # context and article are part of the key
