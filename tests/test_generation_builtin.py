"""The embedded LLMs for real: an answer from builtin:smollm2-135m over a real index, the
conversion cache, the checksum refusal, and `ragqa ask` end to end."""

from __future__ import annotations

import json

import pytest
from generation_fixtures import CACHE_DIR, llm_settings
from pydantic import ValidationError
from retrieval_fixtures import small_index  # noqa: F401  (module fixture: a real index)

from generation import AnswerEngine, ChecksumError, DecodingParams, GenerationError, load_llm
from generation.backends.builtin_models import (
    BUILTIN_MODELS,
    BuiltinModel,
    assemble_gguf,
    converted_model,
)
from generation.settings import LLMSettings
from ingest.core.errors import ModelUnavailableError
from ingest.store.local.reader import open_index
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings


@pytest.fixture(scope="module")
def retriever(small_index, embedder):  # noqa: F811
    return build_retriever(open_index(small_index), embedder, RetrievalSettings(mode="hybrid", k=3))


def test_the_default_model_answers_from_the_indexed_pdf_and_cites_real_sources(retriever, qwen):
    engine = AnswerEngine(retriever, qwen, llm_settings(max_new_tokens=40))
    answer = engine.ask("What does the solar panel warranty cover?")
    assert not answer.abstained
    assert "manufacturing defects" in answer.short.text
    assert "manufacturing defects" in answer.text and "twelve" in answer.text  # its sentence
    assert answer.citations[0].source.endswith("manual.pdf")
    assert answer.hits[0].chunk.source.endswith("manual.pdf") and answer.hits[0].chunk.page == 1
    assert 0 < answer.confidence <= 1
    t = answer.timings
    assert 0 < t.retrieve_ms < t.first_token_ms <= t.total_ms


def test_an_off_topic_question_is_gated_on_the_real_cosine_relevance(retriever, smollm2):
    engine = AnswerEngine(retriever, smollm2, llm_settings(min_relevance=0.3))
    answer = engine.ask("Who won the 1998 football world cup?")
    assert max(h.relevance for h in answer.hits) < 0.3
    assert answer.abstained and answer.timings.first_token_ms is None


def test_the_converted_model_is_cached_and_reused(smollm2, monkeypatch):
    import generation.backends.builtin_models as builtin

    def no_conversion(*args):
        raise AssertionError("the cached conversion was not reused")

    monkeypatch.setattr(builtin, "_convert", no_conversion)
    monkeypatch.setattr(builtin, "assemble_gguf", no_conversion)
    folder = converted_model("builtin:smollm2-135m", CACHE_DIR)  # converted by the fixture
    meta = json.loads((folder / "ragqa-cache.json").read_text(encoding="utf-8"))
    assert meta["gguf_sha256"] == BUILTIN_MODELS["builtin:smollm2-135m"].sha256
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()


def test_assembly_refuses_parts_whose_checksum_differs(tmp_path):
    parts = []
    for i, data in enumerate([b"GGUF-part-one|", b"part-two"], start=1):
        parts.append(tmp_path / f"part{i:02d}.bin")
        parts[-1].write_bytes(data)
    import hashlib

    good = hashlib.sha256(b"GGUF-part-one|part-two").hexdigest()
    dest = assemble_gguf(parts, tmp_path / "ok" / "m.gguf", good)
    assert dest.read_bytes() == b"GGUF-part-one|part-two"
    with pytest.raises(ChecksumError, match=f"expected {good}.*reinstall"):
        assemble_gguf(list(reversed(parts)), tmp_path / "bad" / "m.gguf", good)  # wrong order
    assert not (tmp_path / "bad" / "m.gguf").exists()


def test_a_tampered_builtin_package_is_refused_and_leaves_no_cache(tmp_path, monkeypatch):
    package = tmp_path / "site" / "fake_llm_part1"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "part01.bin").write_bytes(b"not the real model")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = BuiltinModel(name="builtin:fake", gguf_name="fake.gguf", sha256="0" * 64,
                         parts=(("fake_llm_part1", "data/part01.bin"),), pip_hint="pip install x")
    monkeypatch.setitem(BUILTIN_MODELS, "builtin:fake", model)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="sha256"):
        load_llm(LLMSettings(llm="builtin:fake", cache_dir=cache))
    assert list((cache / "models").iterdir()) == []  # no half-written conversion remains


def test_missing_package_and_unknown_names_say_what_to_do(tmp_path, monkeypatch):
    model = BuiltinModel(name="builtin:gone", gguf_name="g.gguf", sha256="0" * 64,
                         parts=(("no_such_package_xyz", "a.bin"),), pip_hint="pip install gone")
    monkeypatch.setitem(BUILTIN_MODELS, "builtin:gone", model)
    with pytest.raises(GenerationError, match="not installed: pip install gone"):
        load_llm(LLMSettings(llm="builtin:gone", cache_dir=tmp_path))
    with pytest.raises(GenerationError, match=r"builtin:qwen2\.5-0\.5b"):
        load_llm(LLMSettings(llm="builtin:nope", cache_dir=tmp_path))
    with pytest.raises(ModelUnavailableError, match="no/such-model"):
        load_llm(LLMSettings(llm="no/such-model", cache_dir=tmp_path))


@pytest.mark.slow
def test_ragqa_ask_json_and_batch_with_the_embedded_model(small_index, tmp_path,  # noqa: F811
                                                          monkeypatch):
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("RAGQA_CACHE_DIR", str(CACHE_DIR))
    common = ["--index", str(small_index), "--k", "3", "--max-new-tokens", "32"]
    result = CliRunner().invoke(cli, ["ask", "What does the solar panel warranty cover?",
                                      *common, "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert "manufacturing defects" in row["answer"] and row["abstained"] is False
    assert "manufacturing defects" in row["short_answer"]["text"]
    assert set(row["timings_ms"]) == {"retrieve", "first_token", "total"}

    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "What does the solar panel warranty cover?"}\n'
                         '{"id": "b", "question": "Who won the 1998 football world cup?"}\n',
                         encoding="utf-8")
    output = tmp_path / "out" / "answers.jsonl"
    result = CliRunner().invoke(cli, ["ask", *common, "--input", str(questions),
                                      "--output", str(output)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["answer"] == row["answer"]  # greedy: the same answer as the single run
    assert rows[1]["abstained"] is True and rows[1]["timings_ms"]["first_token"] is None


def test_closing_the_stream_early_stops_the_decoding_thread(smollm2, monkeypatch):
    import threading

    generated: list[int] = []
    real = smollm2._generate

    def counting(inputs, *args, **kwargs):
        out = real(inputs, *args, **kwargs)
        generated.append(out.sequences.shape[1] - inputs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(smollm2, "_generate", counting)
    messages = [{"role": "user", "content": "Count from 1 to 500, one number per line."}]
    stream = smollm2.stream(messages, DecodingParams(max_new_tokens=500))
    assert isinstance(next(stream), str)
    stream.close()  # what a UI does when the user presses stop
    for thread in [t for t in threading.enumerate() if t.name == "ragqa-generate"]:
        thread.join()
    assert generated and generated[0] < 500, "generation ran on after the stream closed"


def test_sampling_is_seeded_per_call_and_leaves_the_global_generator_alone(smollm2):

    import torch

    messages = [{"role": "user", "content": "Name a colour."}]
    params = DecodingParams(temperature=1.5, top_p=0.98, top_k=0, max_new_tokens=8, seed=7)
    before = torch.get_rng_state()
    first = smollm2.generate(messages, params).text
    assert torch.equal(torch.get_rng_state(), before)
    assert smollm2.generate(messages, params).text == first  # same seed, same answer
    others = {smollm2.generate(messages, params.model_copy(update={"seed": s})).text
              for s in range(8)}
    assert len(others | {first}) > 1  # it does sample: other seeds, other answers


def test_the_shared_prompt_prefix_is_cached_without_changing_the_answer(smollm2):
    from generation_fixtures import HITS

    from generation.prompts import build_prompt

    plan = build_prompt("Who built the tower?", HITS, count_tokens=smollm2.count_tokens,
                        window=smollm2.context_window, max_new_tokens=16, few_shot=True)
    params = DecodingParams(max_new_tokens=16)
    smollm2._prefixes.clear()
    smollm2._prefix_cache_on = False
    try:
        plain = smollm2.generate(plan.messages, params)
        assert not smollm2._prefixes
    finally:
        smollm2._prefix_cache_on = True
    first = smollm2.generate(plan.messages, params)   # computes and stores the prefix KV
    again = smollm2.generate(plan.messages, params)   # reuses a copy of it
    assert len(smollm2._prefixes) == 1
    assert plain.text == first.text == again.text != ""
    # bf16 attention over a cached prefix rounds differently from one pass over the prompt, by
    # how much depends on the CPU's kernels: 0.078 nats per token on a Xeon with AMX.
    assert again.mean_logprob == pytest.approx(plain.mean_logprob, abs=0.12)


def test_gpu_only_loading_options_are_refused_on_the_cpu_before_loading():
    smol = LLMSettings(llm="builtin:smollm2-135m", cache_dir=CACHE_DIR)
    with pytest.raises(GenerationError, match="4bit loading needs a CUDA GPU"):
        load_llm(smol.model_copy(update={"device": "cpu", "llm_quantization": "4bit"}))
    with pytest.raises(GenerationError, match="int8-dynamic quantization is for the CPU"):
        load_llm(smol.model_copy(update={"device": "cuda", "llm_quantization": "int8-dynamic"}))
    with pytest.raises(ValidationError, match="llm_quantization"):
        LLMSettings(llm="builtin:smollm2-135m", llm_quantization="3bit")
