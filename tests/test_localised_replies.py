"""A member who asks in Arabic, Persian or Sorani reads the bot's own words in that language.

The quotes stay verbatim; what is localised is the fixed text around and instead of them: the
decline, "busy", the cooldown, an error, an answer's title and footer. Those strings are chosen
by the question's language alone, through the command line, the slash command and a mention.
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import messages, render
from bot.discord import payload
from bot.engine.models import Answer
from bot.language import LANGUAGES, question_language
from discord_harness import (
    OTHER_USER_ID,
    FakeDiscord,
    FakeEngine,
    dispatch_message,
    make_settings,
    mention_message,
    run_interaction,
    running_bot,
    slash_payload,
    start_interaction,
    wait_for_thread_event,
)

QUESTIONS = Path(__file__).parent / "data" / "corpus" / "questions.jsonl"
ASKED = {  # one question per language, none of them about the articles' topic words
    "en": "What is the capital of France?",
    "ar": "ما هي عاصمة فرنسا؟",
    "fa": "پایتخت فرانسه کجاست؟",
    "ckb": "پایتەختی فەرەنسا کوێیە؟",
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_labelled_question_is_recognised_in_its_language() -> None:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    wrong = [(row["lang"], question_language(row["question"]), row["question"]) for row in rows
             if question_language(row["question"]) != row["lang"]]
    assert {row["lang"] for row in rows} == set(LANGUAGES)
    assert wrong == []


@pytest.mark.parametrize("text", ["", "   ", "?!", "12 34", "👋", "<@123> 2026"])
def test_text_without_letters_is_english(text: str) -> None:
    assert question_language(text) == "en"


def test_a_few_latin_names_in_an_arabic_question_keep_it_arabic() -> None:
    assert question_language("ماذا قال Trump عن المالكي؟") == "ar"
    assert question_language("what did المالكي say?") == "en"


def test_translations_translate_existing_templates_and_keep_their_fields() -> None:
    templates = {value for name, value in vars(messages).items() if name.isupper() and isinstance(value, str)}
    for language in LANGUAGES[1:]:
        table = messages.TRANSLATIONS[language]
        assert set(table) <= templates, f"{language} translates a string that is no template"
        for english, translated in table.items():
            assert _fields(translated) == _fields(english), (language, english)
            assert translated != english
            if len(translated.split()) >= 4:  # "از مقاله‌ها" is as Arabic as it is Persian
                assert question_language(translated.format(seconds=5, error_id="ab12cd34", newest="2026-02-27")) == language
        for needed in (messages.DECLINE, messages.BUSY, messages.COOLDOWN, messages.ERROR,
                       messages.EMPTY_QUESTION, messages.NO_INDEX):
            assert needed in table, f"{language} lacks {needed!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_decline_is_said_in_the_question_language_in_the_terminal_and_on_discord(language: str) -> None:
    declined = Answer(ASKED[language], False, reason="declined")
    expected = messages.localise(messages.DECLINE, language)
    assert render.answer_text(declined) == expected
    assert payload.answer_reply(declined).content == expected
    if language != "en":
        assert expected != messages.DECLINE


def test_an_answer_keeps_its_quotes_verbatim_and_frames_them_in_the_question_language() -> None:
    quotes = FakeEngine().quotes["old"]
    english = payload.answer_reply(Answer("Maliki?", True, quotes)).to_dict()["embeds"][0]
    arabic = payload.answer_reply(Answer("ماذا قال المالكي؟", True, quotes)).to_dict()["embeds"][0]
    assert arabic["title"] == messages.TRANSLATIONS["ar"][messages.ANSWER_TITLE]
    assert arabic["footer"]["text"] == messages.TRANSLATIONS["ar"][messages.ANSWER_FOOTER]
    assert arabic["fields"] == english["fields"]  # the quotes and citations are the same bytes


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    yield FakeDiscord()


@pytest.mark.parametrize("language", ["ar", "fa", "ckb"])
async def test_busy_is_said_privately_in_the_question_language(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    engine = FakeEngine()
    engine.ask_gate = threading.Event()
    async with running_bot(engine, make_settings(max_concurrent_asks=1), fake, monkeypatch) as bot:
        first = start_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
        await wait_for_thread_event(engine.ask_started)
        await run_interaction(bot, slash_payload("ask", {"question": ASKED[language]}, user_id=OTHER_USER_ID))
        busy = fake.requests[-1]
        assert busy.kind == "callback" and busy.ephemeral
        assert busy.body["content"] == messages.TRANSLATIONS[language][messages.BUSY]
        engine.ask_gate.set()
        await first


async def test_cooldown_is_said_in_the_question_language_on_slash_and_mention(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    persian = re.escape(messages.TRANSLATIONS["fa"][messages.COOLDOWN]).replace(re.escape("{seconds}"), r"\d+")
    sorani = re.escape(messages.TRANSLATIONS["ckb"][messages.COOLDOWN]).replace(re.escape("{seconds}"), r"\d+")
    async with running_bot(FakeEngine(), make_settings(ask_cooldown_seconds=30), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": "Maliki?"}))
        fake.clear()
        await run_interaction(bot, slash_payload("ask", {"question": ASKED["fa"]}))
        [refused] = fake.requests
        assert refused.ephemeral and re.fullmatch(persian, refused.body["content"])
        fake.clear()
        await dispatch_message(bot, mention_message(bot, ASKED["ckb"]))
        [reply] = fake.of_kind("channel_message")
        assert re.fullmatch(sorani, reply.json["content"])


async def test_an_internal_error_is_reported_in_the_question_language(
    fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine()
    engine.fail = RuntimeError("boom")
    arabic = re.escape(messages.TRANSLATIONS["ar"][messages.ERROR]).replace(re.escape("{error_id}"), "[0-9a-f]{8}")
    async with running_bot(engine, make_settings(), fake, monkeypatch) as bot:
        await run_interaction(bot, slash_payload("ask", {"question": ASKED["ar"]}))
        assert re.fullmatch(arabic, fake.requests[-1].body["content"])
        fake.clear()
        await dispatch_message(bot, mention_message(bot, ASKED["ar"]))
        [reply] = fake.of_kind("channel_message")
        assert re.fullmatch(arabic, reply.json["content"])
