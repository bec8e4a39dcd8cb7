"""The OpenVINO backend for real: the built-in SmolLM2 exported to int8 IR, answering."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading

import pytest
from generation_fixtures import CACHE_DIR, EXPORTER, HITS, FixedRetriever, llm_settings

from generation import AnswerEngine, DecodingParams, GenerationError, LLMSettings, load_llm
from generation.backends.builtin_models import BUILTIN_MODELS
from generation.backends.openvino_backend import OpenVINOBackend
from generation.backends.openvino_export import META, openvino_model

SMOL = "builtin:smollm2-135m"


def test_english_and_chinese_answers_stream_and_carry_log_probabilities(smollm2_openvino):
    assert isinstance(smollm2_openvino, OpenVINOBackend)
    for question in ("What is the capital of France? Answer in one word.",
                     "请用中文回答：法国的首都是哪个城市？"):
        stream = smollm2_openvino.stream([{"role": "user", "content": question}],
                                         DecodingParams(max_new_tokens=24))
        pieces = list(stream)
        final = stream.result()
        assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)  # it streams
        assert "".join(pieces).strip() == final.text != ""
        assert final.num_tokens > 0 and final.first_token_ms is not None
        assert final.first_token_ms <= final.total_ms
        assert final.mean_logprob is not None and -20 < final.mean_logprob < 0
    assert "Paris" in smollm2_openvino.generate(
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        DecodingParams(max_new_tokens=8)).text


def test_the_engine_answers_from_the_passages_in_english_and_chinese(qwen):
    zh = [dataclasses.replace(HITS[0], chunk=dataclasses.replace(
        HITS[0].chunk, text="埃菲尔铁塔高330米，于1889年建成，由埃菲尔公司设计。"))]
    for question, hits in (("How tall is the Eiffel Tower?", HITS), ("埃菲尔铁塔有多高？", zh)):
        engine = AnswerEngine(FixedRetriever(hits), qwen, llm_settings(max_new_tokens=32))
        answer = engine.ask(question)
        assert not answer.abstained and "330" in answer.short.text
        assert answer.timings.first_token_ms is not None and answer.confidence is not None


def test_greedy_is_reproducible_and_sampling_follows_the_seed(smollm2_openvino):
    messages = [{"role": "user", "content": "Name a colour."}]
    greedy = DecodingParams(max_new_tokens=8)
    assert smollm2_openvino.generate(messages, greedy).text == \
        smollm2_openvino.generate(messages, greedy).text
    sampled = DecodingParams(temperature=1.5, top_p=0.98, top_k=0, max_new_tokens=8, seed=3)
    first = smollm2_openvino.generate(messages, sampled).text
    assert smollm2_openvino.generate(messages, sampled).text == first


def test_closing_the_stream_early_stops_decoding(smollm2_openvino):
    stream = smollm2_openvino.stream(
        [{"role": "user", "content": "Count from 1 to 500, one number per line."}],
        DecodingParams(max_new_tokens=500))
    assert isinstance(next(stream), str)
    stream.close()
    for thread in [t for t in threading.enumerate() if t.name == "ragqa-generate"]:
        thread.join()
    # The pipeline is free again: a new answer comes, and it is a whole one.
    again = smollm2_openvino.generate([{"role": "user", "content": "Say hi."}],
                                      DecodingParams(max_new_tokens=4))
    assert again.num_tokens > 0


@pytest.fixture
def private_cache(tmp_path, smollm2_openvino):
    """A cache holding copies of the converted model and its export (no re-conversion)."""
    models = tmp_path / "models"
    models.mkdir()
    sha = BUILTIN_MODELS[SMOL].sha256[:16]
    for folder in (CACHE_DIR / "models").glob(f"{sha}-*"):
        shutil.copytree(folder, models / folder.name)
    return tmp_path


def test_a_corrupt_export_in_the_cache_is_exported_again(private_cache):
    export = next((private_cache / "models").glob("*-openvino*-int8"))
    (export / "openvino_model.bin").write_bytes(b"\0" * 1024)  # truncated weights
    llm = load_llm(LLMSettings(llm=SMOL, cache_dir=private_cache, llm_backend="openvino",
                               openvino_exporter=EXPORTER))
    assert "Paris" in llm.generate(
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        DecodingParams(max_new_tokens=8)).text
    assert (export / META).is_file() and (export / "openvino_model.bin").stat().st_size > 1024


def test_without_an_export_or_exporter_auto_falls_back_to_transformers(private_cache, caplog):
    for export in (private_cache / "models").glob("*-openvino*"):
        shutil.rmtree(export)
    with caplog.at_level(logging.WARNING):
        llm = load_llm(LLMSettings(llm=SMOL, cache_dir=private_cache, device="cpu",
                                   openvino_exporter=None))
    assert type(llm).__name__ == "TransformersBackend"
    assert any("answering with transformers instead" in r.getMessage() for r in caplog.records)
    with pytest.raises(GenerationError, match="no OpenVINO export"):
        openvino_model(SMOL, private_cache, "int8", exporter=None)


def test_the_openvino_backend_is_for_built_in_models_on_the_cpu():
    with pytest.raises(GenerationError, match="runs the built-in models"):
        load_llm(LLMSettings(llm="some/hf-model", llm_backend="openvino"))
    with pytest.raises(GenerationError, match="runs on the CPU"):
        load_llm(LLMSettings(llm=SMOL, llm_backend="openvino", device="cuda"))
