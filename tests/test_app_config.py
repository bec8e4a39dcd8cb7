"""Settings layering: built-in default < config file < RAGQA_* environment < flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, parse_thresholds


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ragqa.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_given():
    s = load_settings(None, {}, environ={})
    assert (s.k, s.mode, s.embedding) == (5, "hybrid", "builtin:minilm")
    assert s.llm == "builtin:qwen2.5-0.5b"


def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    cfg = write(tmp_path, "k = 3\nmode = 'bm25'\nchunk-size = 400\n")
    env = {"RAGQA_K": "7", "RAGQA_MODE": "dense"}
    s = load_settings(cfg, {"k": 9, "mode": None}, environ=env)
    assert s.k == 9  # flag
    assert s.mode == "dense"  # environment, since the flag was not given
    assert s.chunk_size == 400  # file, with a dashed key as on the command line
    assert s.chunk_overlap == 120  # default


def test_config_file_from_environment_and_ragqa_table(tmp_path):
    cfg = write(tmp_path, "[ragqa]\ntop_k = 20\n")
    s = load_settings(None, {}, environ={"RAGQA_CONFIG": str(cfg)})
    assert s.top_k == 20


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
    assert s.fail_under == {"em": 10.0, "f1": 20.0}
