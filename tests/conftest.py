"""Shared fixtures: the real model is loaded once per session, and one real index is built from
the launch articles into a temporary folder (never into the repo's index/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["databases"]  # the SQLite/PostgreSQL `database` fixtures (tests/databases.py)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Each test builds the one index it is about; the second index, for questions in other languages,
# is built only where a test asks for it (tests/test_other_languages.py), or the suite would build
# every index twice.
os.environ.setdefault("OTHER_LANGUAGES_MODEL", "none")

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
DATA = Path(__file__).resolve().parent / "data"
DEV_QA = DATA / "dev.jsonl"  # a copy of ../shared/eval/dev.jsonl, so the tests need nothing outside the repo
EXTRA_QA = DATA / "extra_qa.jsonl"


def nomic_installed() -> bool:
    """The optional slices holding nomic-embed-text-v1.5 are installed (README); its tests skip otherwise."""
    from bot.engine import nomic

    try:
        nomic.slice_paths()
    except nomic.NomicError:
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """One ONNX export for the whole run, shared with the `python -m bot` processes tests start."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    os.environ["ONNX_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def embedder(onnx_cache):
    """The embedder the default settings pick: what users get."""
    from bot.config import load_settings
    from bot.engine.embedding import make_embedder

    model = make_embedder(load_settings(onnx_cache_dir=onnx_cache))
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="session")
def torch_embedder():
    """The fallback backend, and the reference the int8 export is checked against."""
    from bot.engine.embedding import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="session")
def seeds_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    for path in SEEDS.iterdir():
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def settings(seeds_copy, tmp_path_factory):
    from bot.config import load_settings

    return load_settings(seeds_dir=seeds_copy, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def engine(settings, embedder):
    """The real engine over the three launch articles: real model, real FAISS, real BM25."""
    from bot.engine.engine import Engine

    return Engine.open(settings, embedder=embedder)


@pytest.fixture()
def fresh_settings(tmp_path):
    """Settings over a private copy of the seeds, for tests that change files or indexes."""
    from bot.config import load_settings

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    return load_settings(seeds_dir=seeds, index_dir=tmp_path / "index")
