"""`eval beir` on a BEIR folder made from the launch articles: real models, real FAISS.

It must measure what `ask --json --no-abstain -k 100` gives a user, so when English questions take
their quotes from the second index (ENGLISH_QUOTES), that index is built and quoted from too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import BUNDLED_E5, NO_MODEL, OTHER_LANGUAGES_DIR, load_settings
from bot.tools.evaluation import run_beir
from conftest import SEEDS

QUERIES = {  # dev.jsonl's questions, each answered by one article
    "q1": ("Where did US and Iranian officials hold indirect talks?", "003_42fc9fe0a8eacdba"),
    "q2": ("What did Trump say would happen if Maliki returns to power?", "001_d007a2e75fab5d5c"),
}


def _beir_folder(folder: Path) -> Path:
    folder.mkdir()
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for path in sorted(SEEDS.glob("*.txt")):
            title, _, text = path.read_text(encoding="utf-8").partition("\n")
            corpus.write(json.dumps({"_id": path.stem, "title": title, "text": text.strip()}) + "\n")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": key, "text": text}) + "\n" for key, (text, _) in QUERIES.items()), encoding="utf-8")
    (folder / "qrels-test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{key}\t{doc}\t1\n" for key, (_, doc) in QUERIES.items()),
        encoding="utf-8")
    return folder


def _quotes_row(output: str) -> list[float]:
    row = next(line for line in output.splitlines() if line.startswith("quotes (ask --no-abstain -k 100)"))
    return [float(value) for value in row.split(")")[-1].split()]


@pytest.mark.slow
@pytest.mark.parametrize("other", [NO_MODEL, BUNDLED_E5])
def test_eval_beir_ranks_the_documents_through_the_users_own_path(tmp_path, onnx_cache, capsys, other):
    settings = load_settings(index_dir=tmp_path / "index", other_languages_model=other, onnx_cache_dir=onnx_cache)
    assert run_beir(settings, _beir_folder(tmp_path / "beir")) == 0
    ndcg, recall = _quotes_row(capsys.readouterr().out)
    assert ndcg >= 0.5 and recall == 1.0  # each query's one article is among the first quotes
    second = tmp_path / "index" / "eval-beir" / "index" / OTHER_LANGUAGES_DIR
    assert (second / "CURRENT").exists() == (other == BUNDLED_E5)  # e5 quotes English questions by default
