"""`python -m bot gaps`: the same grouping as /gaps, for an admin on the machine, as a table or CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from bot.cli import main
from bot.storage import records
from bot.storage.database import open_database
from test_discord_records import PARAPHRASES, UNRELATED


def test_gaps_prints_paraphrases_as_one_row_in_csv(tmp_path, seeds_copy, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    index = tmp_path / "index"
    database = open_database(f"sqlite:///{index / 'bot.db'}")
    now = datetime.now(timezone.utc)
    for number, text in enumerate(PARAPHRASES + UNRELATED):
        records.record_question(database, records.AskedQuestion(
            guild_id=1, channel_id=2, member_id=100 + number, text=text, language="en-US", answered=False,
            reason="declined", best_dense=0.1, coverage=0.0, asked_at=now - timedelta(hours=number)))
    records.record_question(database, records.AskedQuestion(  # outside --days 3
        guild_id=1, channel_id=2, member_id=99, text="An old question about tides?", language=None, answered=False,
        reason="declined", best_dense=0.1, coverage=0.0, asked_at=now - timedelta(days=5)))
    database.dispose()
    assert main(["gaps", "--index", str(index), "--seeds", str(seeds_copy), "--days", "3", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(row["count"]) for row in rows] == [5, 1, 1, 1]
    assert rows[0]["example"] in PARAPHRASES and {row["example"] for row in rows[1:]} == set(UNRELATED)
    assert main(["gaps", "--index", str(index), "--seeds", str(seeds_copy), "--days", "0"]) == 2
