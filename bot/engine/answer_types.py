"""What a question asks for (a person, a date, a place, a number, a reason, the latest news), and
whether a sentence carries that kind of thing.

Only general linguistic resources are used: the interrogative words of English, Arabic, Persian
and Sorani Kurdish, date and number patterns, name capitalisation and causal connectives. A
sentence that carries what the question asks for is rewarded a little; one that does not is never
excluded, since a paraphrase may say it in a way no pattern sees.
"""

from __future__ import annotations

import re
from enum import Enum


class Wants(str, Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    REASON = "reason"


_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_ARABIC_MONTHS = (
    "يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر"
    "|كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين"
)
_ARABIC_WEEKDAYS = "الاثنين|الإثنين|الثلاثاء|الأربعاء|الخميس|الجمعة|السبت|الأحد"


def _initials(*alternations: str) -> str:
    """The characters the words of `|`-separated alternations begin with, for `_starting_with`."""
    return "".join(sorted({word[0] for words in alternations for word in words.split("|")}))


def _starting_with(initials: str, pattern: str) -> str:
    """`pattern`, tried only where one of `initials` stands. Python's re tries every alternative at
    every position of the text: the date check took ~38 µs a sentence, ~13 gated (a question reads a
    hundred candidate sentences). What matches is unchanged: every match begins with one of them."""
    return f"(?=[{initials}])(?:{pattern})"


_RELATIVE_DAYS = "yesterday|today|tomorrow"
_NEAR = "last|next|this"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    "|fifty|hundred|thousand|million|billion|dozens?|half|third|quarter"
)
_REASONS = (
    "because|due to|since|so that|in order to|citing|cited|amid|as a result|reason"
    "|meant to|aimed at|in protest|over (?:its|his|her|their|the)"
)
_ARABIC_REASONS = "بسبب|لأن|من أجل|بهدف|نظرا"

# What a sentence must hold to carry each kind of answer.
_CARRIES: dict[Wants, re.Pattern[str]] = {
    Wants.DATE: re.compile(
        r"\b" + _starting_with(
            _initials(_MONTHS, _WEEKDAYS, _NEAR, _RELATIVE_DAYS) + r"\d",
            rf"(?:{_MONTHS})\.? \d{{1,2}}\b|\d{{1,2}} (?:{_MONTHS})\b|(?:{_WEEKDAYS})\b"
            rf"|(?:19|20)\d\d\b|\d{{4}}-\d\d-\d\d\b|(?:{_NEAR}) (?:week|month|year)\b|(?:{_RELATIVE_DAYS})\b",
        ) + "|" + _starting_with(_initials(_ARABIC_MONTHS, _ARABIC_WEEKDAYS), f"{_ARABIC_MONTHS}|{_ARABIC_WEEKDAYS}"),
    ),
    Wants.NUMBER: re.compile(
        rf"\d|[٠-٩۰-۹]|\b{_starting_with(_initials(_NUMBER_WORDS), _NUMBER_WORDS)}\b", re.IGNORECASE,
    ),
    # Two or more capitalised words in a row, not at the start of the sentence: "Joshua Harris",
    # "Nouri al-Maliki". Arabic script has no capitals; there the reward simply never applies.
    Wants.PERSON: re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+(?:[ -](?:al-|el-|bin |ibn )?[A-Z][a-z]+)+"),
    Wants.PLACE: re.compile(r"\b(?:in|at|to|from|near|inside|outside) (?:the )?[A-Z][a-z]+|\bفي [^\s]+"),
    Wants.REASON: re.compile(
        r"\b" + _starting_with(_initials(_REASONS, "to"), rf"(?:{_REASONS})\b|to [a-z]+ the\b")
        + "|" + _starting_with(_initials(_ARABIC_REASONS), _ARABIC_REASONS),
        re.IGNORECASE,
    ),
}

# Interrogatives, most specific first: "how many" asks for a number, not for a manner.
_ASKS: tuple[tuple[Wants, re.Pattern[str]], ...] = (
    (Wants.NUMBER, re.compile(
        r"\bhow (?:many|much|old|long|big|large)\b|\bwhat (?:number|percent(?:age)?|share|age|size)\b"
        r"|\bكم\b|\bچند\b|\bچەند\b", re.IGNORECASE)),
    (Wants.DATE, re.compile(
        r"\bwhen\b|\bwhat (?:date|day|month|year|time)\b|\bwhich (?:date|day|month|year)\b"
        r"|\bمتى\b|\bامتى\b|\bشوكت\b|\bچه زمانی\b|\bچه وقت\b|\bکەی\b", re.IGNORECASE)),
    (Wants.PLACE, re.compile(
        r"\bwhere\b|\bwhat (?:city|country|place|capital)\b|\bwhich (?:city|country|place|capital)\b"
        r"|\bأين\b|\bوين\b|\bکجا\b|\bلە کوێ\b|\bکوێ\b", re.IGNORECASE)),
    (Wants.REASON, re.compile(
        r"\bwhy\b|\bwhat for\b|\bwhat (?:was|is) the reason\b|\bلماذا\b|\bليش\b|\bلأي سبب\b|\bچرا\b|\bبۆچی\b",
        re.IGNORECASE)),
    (Wants.PERSON, re.compile(
        r"\bwho(?:m|se|'s)?\b|\bمن هو\b|\bمن هي\b|\bمن هم\b|\bمنو\b|\bچه کسی\b|\bکیست\b|\bکێ\b",
        re.IGNORECASE)),
)

# Asking for the newest development rather than a fact that holds at any time.
_LATEST = re.compile(
    r"\b(?:latest|newest|now|currently|current|recent(?:ly)?|so far|still|update|news|today|these days)\b"
    r"|آخر|الآن|حاليا|هسه|اکنون|الان|اخیر|ئێستا|دوایین",
    re.IGNORECASE,
)


def wants(question: str) -> Wants | None:
    """The kind of answer a question asks for, or None (a "what"/"how" question asks for a statement)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def carries(kind: Wants, sentence: str) -> bool:
    return _CARRIES[kind].search(sentence) is not None


def asks_for_latest(question: str) -> bool:
    return _LATEST.search(question) is not None
