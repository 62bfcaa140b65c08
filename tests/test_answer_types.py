"""What a question asks for, and whether a sentence carries it: the reward quoting gives a sentence
that holds the date, number, person, place or reason asked for (`engine.answer_types`)."""

from __future__ import annotations

import pytest

from bot.engine.answer_types import Wants, asks_for_latest, carries, wants


@pytest.mark.parametrize(("question", "kind"), [
    ("How many seats did the Framework win?", Wants.NUMBER),
    ("how old is maliki", Wants.NUMBER),
    ("When did Sudani step aside?", Wants.DATE),
    ("what year did maliki first take office", Wants.DATE),
    ("Where did US and Iranian officials hold talks?", Wants.PLACE),
    ("Why does Washington see Maliki as a problem?", Wants.REASON),
    ("Who is the US charge d'affaires in Iraq?", Wants.PERSON),
    ("What did the envoy say?", None),
    ("كم مقعداً فاز به الإطار؟", Wants.NUMBER),  # Arabic: how many
    ("متى انسحب السوداني؟", Wants.DATE),  # Arabic: when
    ("چرا آمریکا با مالکی مخالف است؟", Wants.REASON),  # Persian: why
    ("سەرۆک وەزیران کێ دەبێت؟", Wants.PERSON),  # Sorani: who
])
def test_the_interrogative_says_what_is_asked_for(question, kind):
    assert wants(question) == kind


@pytest.mark.parametrize(("kind", "sentence"), [
    (Wants.DATE, "Sudani withdrew on January 12 after weeks of talks."),
    (Wants.DATE, "The council met on 12 Jan. to certify the results."),
    (Wants.DATE, "Talks resumed on Friday in Muscat."),
    (Wants.DATE, "The parliamentary election was held in 2025."),
    (Wants.DATE, "The results were certified on 2025-12-14."),
    (Wants.DATE, "The bloc named its candidate last week."),
    (Wants.DATE, "Officials said yesterday that nothing had changed."),
    (Wants.DATE, "The post appeared on ١٢ January."),  # Arabic-Indic digits are digits too
    (Wants.DATE, "انسحب السوداني في كانون الثاني."),
    (Wants.DATE, "عقد الاجتماع يوم الجمعة."),
    (Wants.NUMBER, "The Framework declared a combined 179 seats."),
    (Wants.NUMBER, "Dozens of lawmakers boycotted the session."),
    (Wants.NUMBER, "Half of the ministers stayed away."),
    (Wants.NUMBER, "فاز الإطار بـ ١٧٩ مقعداً."),
    (Wants.PERSON, "The envoy met Nouri al-Maliki in Baghdad."),
    (Wants.PLACE, "The talks were held in Muscat on Friday."),
    (Wants.PLACE, "عقدت المحادثات في مسقط."),
    (Wants.REASON, "He withdrew because the bloc could not agree."),
    (Wants.REASON, "The purpose was to break the deadlock."),
    (Wants.REASON, "Washington objected over his ties to Tehran."),
    (Wants.REASON, "Due to the deadlock, the vote was postponed."),
    (Wants.REASON, "انسحب بسبب الخلافات داخل الإطار."),
])
def test_a_sentence_holding_the_kind_asked_for_carries_it(kind, sentence):
    assert carries(kind, sentence)


@pytest.mark.parametrize(("kind", "sentence"), [
    (Wants.DATE, "The Framework met to discuss the premiership."),
    (Wants.DATE, "Sundays are quiet in the capital."),  # a weekday only as a whole word
    (Wants.DATE, "Marcher groups gathered outside."),  # "Mar" is a month only before a day number
    (Wants.NUMBER, "The onerous talks dragged on."),  # "one" only as a whole word
    (Wants.NUMBER, "Maliki met the envoy."),
    (Wants.PERSON, "Nouri Maliki met the envoy."),  # capitals at the start of a sentence are no sign
    (Wants.PLACE, "The talks went well."),
    (Wants.REASON, "It was a reasonable offer."),  # "reason" only as a whole word
    (Wants.REASON, "Maliki met the envoy on Friday."),
])
def test_a_sentence_without_it_does_not(kind, sentence):
    assert not carries(kind, sentence)


@pytest.mark.parametrize(("question", "latest"), [
    ("What is the latest on the premiership?", True),
    ("Is Maliki still the front-runner?", True),
    ("ما آخر المستجدات؟", True),
    ("Who won the most seats in November?", False),
])
def test_a_question_about_the_newest_development_is_told_apart(question, latest):
    assert asks_for_latest(question) is latest
