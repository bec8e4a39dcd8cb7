"""Public SQuAD/CMRC files as benchmarks: splits by article, absent articles, corpus files."""

from __future__ import annotations

import json
import uuid

import pytest

from eval.public_sets import load_bench, sample_indices, split_titles, write_corpus
from eval.qa_io import QAFormatError


def _squad(path, n_articles=6):
    data = []
    for a in range(n_articles):
        paragraphs = [{"context": f"Article {a} paragraph {p}: the value is {a * 10 + p}.",
                       "qas": [{"id": f"q{a}-{p}", "question": f"What is value {a}-{p}?",
                                "answers": [{"text": str(a * 10 + p), "answer_start": 0}],
                                "is_impossible": False}]}
                      for p in range(2)]
        data.append({"title": f"Title {a}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    return path


def test_tune_and_test_halves_split_articles_disjointly_and_cover_the_file(tmp_path):
    path = _squad(tmp_path / "s.json")
    tune, test, every = (load_bench(path, split) for split in ("tune", "test", "all"))
    ids = lambda b: {it.id for it in b.items}  # noqa: E731
    assert ids(tune) & ids(test) == set() and ids(tune) | ids(test) == ids(every)
    assert len(ids(tune)) == len(ids(test)) == 6
    # Both questions of an article fall on the same side.
    assert {i.split("-")[0] for i in ids(tune)} & {i.split("-")[0] for i in ids(test)} == set()
    assert len(tune.corpus) == 6  # the corpus is the whole file: the other half distracts
    assert split_titles(["b", "a", "c"], "tune") == split_titles(["c", "b", "a"], "tune")


def test_absent_articles_leave_the_corpus_and_their_questions_become_unanswerable(tmp_path):
    path = _squad(tmp_path / "s.json")
    bench = load_bench(path, "tune", absent=0.34)
    assert len(bench.absent) == 1
    gone = bench.absent[0]
    assert gone not in {a.title for a in bench.corpus} and len(bench.corpus) == 5
    unanswerable = [it for it in bench.items if not it.answerable]
    assert len(unanswerable) == 2 and all(it.answers == () for it in unanswerable)
    assert load_bench(path, "tune", absent=0.34).absent == bench.absent  # deterministic


def test_the_corpus_is_one_file_per_article_rewritten_only_when_changed(tmp_path):
    bench = load_bench(_squad(tmp_path / "s.json"), "all")
    paths = write_corpus(bench, tmp_path / "corpus")
    assert len(paths) == 6 and all(p.suffix == ".txt" for p in paths)
    text = paths[0].read_text(encoding="utf-8")
    assert text.startswith("Title ") and "paragraph 0" in text and "paragraph 1" in text
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert write_corpus(bench, tmp_path / "corpus") == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    fewer = load_bench(tmp_path / "s.json", "all", absent=0.5)
    assert len(write_corpus(fewer, tmp_path / "corpus")) == 3
    assert len(list((tmp_path / "corpus").glob("*.txt"))) == 3


def test_samples_are_seeded_and_in_file_order():
    assert sample_indices(100, 10, seed=3) == sample_indices(100, 10, seed=3)
    assert sample_indices(100, 10, seed=3) != sample_indices(100, 10, seed=4)
    assert sample_indices(100, 10, seed=3) == sorted(sample_indices(100, 10, seed=3))
    assert sample_indices(5, None, seed=0) == list(range(5))


def test_a_jsonl_file_or_a_bad_split_is_refused_with_its_name(tmp_path):
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"id": "1", "question": "q?", "answers": ["a"]}\n')
    with pytest.raises(QAFormatError, match=r"q\.jsonl"):
        load_bench(jsonl)
    with pytest.raises(QAFormatError, match="split"):
        load_bench(_squad(tmp_path / "s.json"), "dev")  # type: ignore[arg-type]


def test_the_shipped_sets_split_as_documented():
    from app.services.shared_data import SHARED_DATA as root
    squad_tune = load_bench(root / "squad2_tune_en.json", "tune")
    squad_test = load_bench(root / "squad2_tune_en.json", "test")
    assert (len(squad_tune.items), len(squad_test.items)) == (868, 628)
    assert squad_tune.format == "squad2.0"
    cmrc = load_bench(root / "cmrc2018_dev_tune.json", "test")
    assert cmrc.format == "cmrc2018" and len(cmrc.items) == 878


def _tiny_cmrc(path, salt: str = ""):
    facts = [("北海道狼", "北海道狼是灰狼的一个亚种，于1889年灭绝。", "北海道狼哪一年灭绝？",
              "1889年"),
             ("南京长江大桥", "南京长江大桥于1968年12月29日全面建成通车。",
              "南京长江大桥哪天通车？", "1968年12月29日"),
             ("温哥华太阳报", "《温哥华太阳报》创刊于1912年，是温哥华的日报。",
              "温哥华太阳报创刊于哪一年？", "1912年")]
    data = [{"title": t, "paragraphs": [{"id": t, "context": c, "qas": [
        {"id": f"{t}-q", "question": q, "answers": [{"text": a, "answer_start": c.index(a)}]}]}]}
        for t, c, q, a in facts]
    path.write_text(json.dumps({"version": "v1.0", "data": data, "salt": salt},
                               ensure_ascii=False),
                    encoding="utf-8")
    return path


@pytest.mark.slow
def test_ragqa_bench_answers_a_public_file_end_to_end_and_reuses_its_index(
        tmp_path, monkeypatch, capsys):
    from cli_helpers import ragqa

    # A file no earlier run has seen, so its index is built here (the cache outlives tmp_path).
    gold = _tiny_cmrc(tmp_path / "tiny_cmrc.json", salt=uuid.uuid4().hex)
    out = tmp_path / "report"
    args = ("bench", gold, "--split", "all", "--llm", "builtin:smollm2-135m", "--out", out,
            "--no-answer-threshold", "1.01")
    code, _, err = ragqa(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "ingested 3 articles" in err and "3 questions in the all split" in err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["qa_format"] == "cmrc2018" and report["config"]["split"] == "all"
    assert report["groups"]["all"]["generated_count"] == 3
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    contexts = {row["id"]: row for row in rows}
    for row in rows:  # every short answer is copied from a passage of the corpus
        if row["short_answer"]:
            assert any(row["short_answer"] in h["text"] for h in row["hits"])
    assert set(json.loads((out / "predictions.json").read_text())) == set(contexts)
    code, _, err = ragqa(monkeypatch, capsys, *args)  # the cached index is reused
    assert code == 0 and "ingested" not in err


def test_ragqa_bench_names_a_missing_file_in_one_line(tmp_path, monkeypatch, capsys):
    from cli_helpers import ragqa

    code, _, err = ragqa(monkeypatch, capsys, "bench", tmp_path / "nope.json")
    assert code == 2 and "nope.json" in err and "Traceback" not in err
