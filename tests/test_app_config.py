"""Settings layering: built-in default < config file < RAGQA_* environment < flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, flat_value, load_settings, parse_thresholds, with_overrides


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ragqa.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_given():
    s = load_settings(None, {}, environ={})
    assert (s.retrieval.k, s.retrieval.mode) == (5, "hybrid")
    assert s.ingest.embedder.embedding == "builtin:e5-small"
    assert s.generation.model.llm == "builtin:qwen2.5-0.5b"


def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    cfg = write(tmp_path, "k = 3\nmode = 'bm25'\nchunk-size = 400\n")
    env = {"RAGQA_K": "7", "RAGQA_MODE": "dense"}
    s = load_settings(cfg, {"k": 9, "mode": None}, environ=env)
    assert s.retrieval.k == 9  # flag
    assert s.retrieval.mode == "dense"  # environment, since the flag was not given
    assert s.ingest.chunk_size == 400  # file, with a dashed key as on the command line
    assert s.ingest.chunk_overlap == 120  # default


def test_config_file_from_environment_and_ragqa_table(tmp_path):
    cfg = write(tmp_path, "[ragqa]\ntop_k = 20\n")
    s = load_settings(None, {}, environ={"RAGQA_CONFIG": str(cfg)})
    assert s.generation.top_k == 20


def test_unknown_key_names_the_field_and_file(tmp_path):
    cfg = write(tmp_path, "kk = 3\n")
    with pytest.raises(ConfigError, match=r"'kk'.*ragqa.toml"):
        load_settings(cfg, {}, environ={})


def test_invalid_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'k'"):
        load_settings(None, {"k": 0}, environ={})
    with pytest.raises(ConfigError, match="RAGQA_BOGUS"):
        load_settings(None, {}, environ={"RAGQA_BOGUS": "1"})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "k = = 3"), {}, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", {}, environ={})


def test_thresholds_parse_and_reject_garbage():
    assert parse_thresholds(["f1=40", "HIT@5=80.5"]) == {"f1": 40.0, "hit@5": 80.5}
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_thresholds(["f1"])
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_thresholds(["f1=high"])
    s = load_settings(None, {}, environ={"RAGQA_FAIL_UNDER": "em=10 f1=20"})
    assert s.eval.fail_under == {"em": 10.0, "f1": 20.0}


def test_group_tables_and_a_shared_name_reach_every_group_that_holds_it(tmp_path):
    cfg = write(tmp_path, "device = 'cpu'\n[retrieval]\nk = 4\n[generation]\nmax_new_tokens = 64\n")
    s = load_settings(cfg, {}, environ={"RAGQA_LLM": "builtin:smollm2-135m"})
    assert (s.retrieval.k, s.generation.max_new_tokens) == (4, 64)
    assert s.ingest.embedder.device == s.retrieval.device == s.generation.model.device == "cpu"
    assert s.generation.model.llm == "builtin:smollm2-135m"
    with pytest.raises(ConfigError, match="'max_new_tokens' is not a ragqa setting"):
        load_settings(write(tmp_path, "[retrieval]\nmax_new_tokens = 3\n"), {}, environ={})



def test_threads_and_cache_dir_set_both_model_groups_in_the_file_env_and_flags(tmp_path):
    s = load_settings(write(tmp_path, "threads = 2\ncache_dir = '~/models'\n"), {}, environ={})
    assert s.ingest.embedder.threads == s.generation.model.threads == 2
    assert s.ingest.embedder.cache_dir == s.generation.model.cache_dir == Path.home() / "models"
    s = load_settings(None, {"threads": 3}, environ={"RAGQA_CACHE_DIR": str(tmp_path)})
    assert s.ingest.embedder.threads == s.generation.model.threads == 3
    assert s.ingest.embedder.cache_dir == s.generation.model.cache_dir == tmp_path
    s = load_settings(write(tmp_path, "[ingest]\nthreads = 1\n"), {}, environ={})
    assert (s.ingest.embedder.threads, s.generation.model.threads) == (1, None)
    with pytest.raises(ConfigError, match="'threads'"):
        load_settings(None, {"threads": 0}, environ={})
    assert load_settings(None, {}, environ={}).generation.decoding.max_new_tokens == 48

def test_thresholds_from_file_and_flag_add_up_and_the_flag_wins(tmp_path):
    cfg = write(tmp_path, "[fail_under]\nf1 = 18\n\"hit@5\" = 95\n")
    s = load_settings(cfg, {"fail_under": {"f1": 30.0}}, environ={})
    assert s.eval.fail_under == {"f1": 30.0, "hit@5": 95.0}


def test_overrides_are_validated_and_settings_groups_can_key_a_cache():
    s = load_settings(None, {}, environ={})
    changed = with_overrides(s, k=3, temperature=0.5)
    assert (changed.retrieval.k, changed.generation.temperature) == (3, 0.5)
    # Decoding changes leave the model's group equal: the loaded LLM is reused.
    assert changed.generation.model == s.generation.model
    assert hash(changed.generation.model) == hash(s.generation.model)
    with pytest.raises(ConfigError, match="'k'"):
        with_overrides(s, k=0)
    assert flat_value(changed, "k") == 3
