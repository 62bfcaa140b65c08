"""`eval qa`'s judge and split: pure logic, so a figure in the README means what it says."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bot.tools.qa import QaQuestion, Quoted, judge, load_questions, report_rows, split_halves

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


def question(**fields) -> QaQuestion:
    base = dict(question="q", answers=("46 seats",), match="any", kind="fact", lang="en", files=("a.txt",))
    return QaQuestion(**{**base, **fields})


def test_halves_are_fixed_by_the_seed_and_balanced_in_every_kind_and_language() -> None:
    first, again = load_questions(CORPUS / "questions.jsonl"), load_questions(CORPUS / "questions.jsonl")
    assert [q.half for q in first] == [q.half for q in again]
    other = load_questions(CORPUS / "questions.jsonl", seed=13)
    assert [q.half for q in first] != [q.half for q in other]
    groups: dict[tuple[str, str], Counter] = {}
    for q in first:
        groups.setdefault((q.kind, q.lang), Counter())[q.half] += 1
    for counts in groups.values():
        assert abs(counts["tuning"] - counts["held-back"]) <= 1
    assert {q.half for q in first} == {"tuning", "held-back"}


def test_an_answer_counts_across_curly_quotes_and_line_wraps_but_not_case() -> None:
    q = question(answers=('said "no deal"',))
    assert judge(q, True, [Quoted("He said \u201cno\n deal\u201d today.", ("a.txt",))]).first
    assert not judge(q, True, [Quoted('He SAID "no deal".', ("a.txt",))]).first
    dev_style = load_questions(CORPUS.parent / "dev.jsonl")[0]  # the dev set's answers match in any case
    shouted = Quoted(dev_style.answers[0].upper(), ("a.txt",))
    assert judge(dev_style, True, [shouted]).first


def test_first_three_and_two_part_questions() -> None:
    q = question()
    late = [Quoted("x", ("b.txt",)), Quoted("y", ("b.txt",)), Quoted("won 46 seats", ("a.txt",))]
    verdict = judge(q, True, late)
    assert not verdict.first and verdict.first_three
    assert not judge(q, True, [*late[:2], Quoted("z", ("b.txt",)), late[2]]).first_three
    both = question(match="all", answers=("Fuad Hussein", "Nizar Amedi"))
    split = [Quoted("KDP backs Fuad Hussein.", ("a.txt",)), Quoted("PUK backs Nizar Amedi.", ("a.txt",))]
    assert judge(both, True, split).first_three and not judge(both, True, split[:1]).first_three


def test_a_declined_answerable_question_is_a_miss_and_carriers_still_count() -> None:
    q = question(kind="multi", files=("a.txt", "b.txt", "c.txt"))
    declined = judge(q, False, [])
    assert not declined.first and not declined.first_three and (declined.carriers_cited, declined.carriers) == (0, 3)
    cited = judge(q, True, [Quoted("won 46 seats", ("a.txt", "c.txt")), Quoted("other", ("b.txt",))])
    assert (cited.carriers_cited, cited.carriers) == (2, 3)  # b.txt's quote does not carry the answer


def test_report_counts_declines_of_unanswerable_questions_and_wrong_declines() -> None:
    questions = split_halves([
        question(question="a"), question(question="b", match="none", kind="offtopic", answers=()),
        question(question="c", match="none", kind="offtopic", answers=()),
    ])
    verdicts = [judge(questions[0], False, []), judge(questions[1], False, []),
                judge(questions[2], True, [Quoted("x", ("a.txt",))])]
    rows = {row.name: row for row in report_rows(verdicts)}
    assert rows["kind offtopic"].declined == 1 and rows["kind offtopic"].unanswerable == 2
    assert rows["kind fact"].wrongly_declined == 1


def test_both_file_formats_are_read_and_a_bad_line_is_named(tmp_path: Path) -> None:
    dev = [json.loads(line) for line in (CORPUS.parent / "dev.jsonl").read_text().splitlines() if line.strip()]
    questions = load_questions(CORPUS.parent / "dev.jsonl")
    assert len(questions) == len(dev) and {q.match for q in questions} == {"any", "none"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "answers": ["x"]}\n{"question": "no", "match": "maybe"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        load_questions(bad)


def test_eval_qa_refuses_a_missing_file_or_bad_line_in_one_line(tmp_path: Path) -> None:
    from test_cli import run

    missing = run("eval", "qa", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "question file not found" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    refused = run("eval", "qa", str(bad), "--index", str(tmp_path / "index"))
    assert refused.returncode == 2 and "bad.jsonl:1" in refused.stderr and "Traceback" not in refused.stderr
