"""The gate only moves up: every gate file's thresholds are at or above their floors in
data/gate_floors.toml, unless CHANGELOG.md states the lowering; and the check itself fails a
lowered threshold in a real `ragqa eval` run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from eval.gate import load_floors, ratchet_violations

ROOT = Path(__file__).resolve().parents[1]
GATES = sorted((ROOT / "data").glob("eval_gate*.toml"))


def test_every_gate_file_has_floors():
    floors = load_floors(ROOT / "data" / "gate_floors.toml")
    assert len(GATES) >= 2
    assert {g.name for g in GATES} <= set(floors), set(g.name for g in GATES) - set(floors)


@pytest.mark.parametrize("gate", GATES, ids=lambda p: p.name)
def test_no_threshold_is_below_its_floor(gate):
    floors = load_floors(ROOT / "data" / "gate_floors.toml")
    thresholds = tomllib.loads(gate.read_text("utf-8"))["fail_under"]
    changelog = (ROOT / "CHANGELOG.md").read_text("utf-8")
    assert ratchet_violations(gate.name, thresholds, floors, changelog) == []


def test_a_lowered_threshold_fails_ragqa_eval(tmp_path, monkeypatch, capsys):
    """`ragqa eval --config` with a gate file whose threshold went below its floor exits 1
    even when the figures pass, and names the entry CHANGELOG.md would need."""
    from cli_helpers import ragqa

    (tmp_path / "gate_floors.toml").write_text('["gate.toml"]\n"hit@5" = 50.0\n')
    (tmp_path / "gate.toml").write_text('[fail_under]\n"hit@5" = 10.0\n')
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "1", "question": "What does BM25 rank?", "answers": ["chunks"]}\n')
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("BM25 ranks chunks by term overlap with the question.\n")
    assert ragqa(monkeypatch, capsys, "ingest", docs, "--index", tmp_path / "index")[0] == 0
    args = ("eval", "--qa", qa, "--index", tmp_path / "index", "--out", tmp_path / "out",
            "--retrieval-only", "--config", tmp_path / "gate.toml")
    code, out, err = ragqa(monkeypatch, capsys, *args)
    assert code == 1
    assert "gate lowered: gate.toml hit@5 50 -> 10" in out + err
    (tmp_path / "CHANGELOG.md").write_text("- gate lowered: gate.toml hit@5 50 -> 10 (test)\n")
    code, out, err = ragqa(monkeypatch, capsys, *args)
    assert code == 0, out + err
    assert "hit@5 50.00 -> 10.00" in out
