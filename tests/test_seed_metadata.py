"""Seeds as they come, through the whole product: real model, real index, the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_cli import run

DATA = Path(__file__).resolve().parent / "data" / "formats"
WRAPPED = "2026-01-12_erbil-observer-sudani-withdraws-second-term-bid.txt"

FRONT_MATTER = """---
outlet: Tigris Wire
url: https://example.org/tigris-wire/2026/01/27/trump-warns-iraq-over-maliki
published: 2026-01-27
---
Trump warns Iraq over Maliki

WASHINGTON (Tigris Wire) — President Donald Trump said on Tuesday that the United States would no longer help Iraq if Nouri al-Maliki returned as prime minister.

The warning came in a post on his social media platform.
"""


def test_front_matter_and_file_dates_reach_every_citation_and_sources(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "trump-warning.txt").write_text(FRONT_MATTER, encoding="utf-8")
    shutil.copy(DATA / WRAPPED, seeds / WRAPPED)
    where = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]

    result = run("ask", *where, "--json", "-k", "5", "--no-abstain", "What did Trump say he would stop doing for Iraq?")
    assert result.returncode == 0, result.stderr
    quotes = json.loads(result.stdout)["passages"]
    first = quotes[0]
    assert first["source"] == "trump-warning.txt" and "no longer help Iraq" in first["quote"]
    assert (first["outlet"], first["url"], first["published"]) == (
        "Tigris Wire", "https://example.org/tigris-wire/2026/01/27/trump-warns-iraq-over-maliki", "2026-01-27")
    for quote in quotes:  # the front matter is never quoted, and every quote is still an exact slice
        text = (seeds / quote["source"]).read_text(encoding="utf-8")
        assert quote["quote"] == text[quote["start"]:quote["end"]]
        assert "outlet:" not in quote["quote"] and "---" not in quote["quote"]
    dated = [q for q in quotes if q["source"] == WRAPPED]
    assert all(q["published"] == "2026-01-12" and q["outlet"] is None for q in dated)

    listed = run("sources", *where, "--json")
    assert listed.returncode == 0, listed.stderr
    by_source = {a["source"]: a for a in json.loads(listed.stdout)["articles"]}
    assert by_source["trump-warning.txt"]["outlet"] == "Tigris Wire"
    assert by_source["trump-warning.txt"]["published"] == "2026-01-27"
    assert by_source[WRAPPED]["published"] == "2026-01-12"


def test_a_hard_wrapped_sentence_is_quoted_whole_with_its_block_number(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(DATA / WRAPPED, seeds / WRAPPED)
    where = ["--seeds", str(seeds), "--index", str(tmp_path / "index")]
    result = run("ask", *where, "--json", "-k", "3", "--no-abstain", "Where did Sudani's list finish in the elections?")
    assert result.returncode == 0, result.stderr
    text = (seeds / WRAPPED).read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if b.strip()][1:]  # the body's paragraphs, headline left out
    for quote in json.loads(result.stdout)["passages"]:
        assert quote["quote"] == text[quote["start"]:quote["end"]]
        # a wrapped sentence never stops at a line end mid-sentence: it ends with its punctuation
        assert quote["quote"].rstrip("\"'”’)").endswith((".", "!", "?", ":")), quote["quote"]
        # its paragraph is the block it starts in (a quote of two sentences may run into the next block)
        first_sentence = quote["quote"].split("\n\n")[0]
        holding = next(i for i, b in enumerate(blocks, start=1) if first_sentence in b)
        assert quote["paragraph"] == holding
