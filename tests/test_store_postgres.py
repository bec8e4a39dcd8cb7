"""PostgreSQL-only behaviour, against a real server the tests start: URLs and passwords,
the CLI on a URL, BM25 that scores as the local bm25s, migration both ways, schema versions."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_helpers import ragqa
from ingest_fixtures import write

from app.config import load_settings
from ingest.core.text import tokenize
from ingest.core.types import IndexOpenError
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store import IndexLocationError, open_store, parse_location

EN = ("Hybrid search fuses BM25 with dense vectors by reciprocal rank fusion. The reranker "
      "reorders the candidates. Chunks overlap by a few sentences so that nothing is cut. ")
ZH = ("检索增强生成把搜索和语言模型结合起来，使每个回答都可以引用它的来源。"
      "向量索引保存每个文本块的嵌入。知识蒸馏把大模型的知识迁移到小模型中。")
QUERIES = ["reciprocal rank fusion", "reranker candidates", "知识蒸馏", "向量索引的嵌入",
           "chunks overlap sentences", "检索 BM25 搜索"]


@pytest.fixture
def docs(tmp_path):
    for i in range(4):
        write(tmp_path / "docs" / f"en{i}.txt", EN * (i + 2) + f" Document number {i}.")
        write(tmp_path / "docs" / f"zh{i}.txt", ZH * (i + 1) + f"第{i}号文件。")
    return tmp_path / "docs"


def test_a_password_in_the_url_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = ragqa(monkeypatch, capsys, "info", "--index",
                         "postgresql://ragqa:s3cret@db.example/ragqa")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "PGPASSWORD" in err and "s3cret" not in err and "***" in err
    assert list(tmp_path.iterdir()) == []  # no folder named "postgresql:" appears
    with pytest.raises(IndexLocationError, match="PGPASSWORD"):
        parse_location("postgresql://ragqa@db/ragqa?password=s3cret")


def test_a_unix_socket_url_stays_a_url_and_a_folder_stays_a_path():
    url = "postgresql://postgres@/postgres?host=/run/pg"
    assert load_settings(None, {"index": url}).index == url
    assert str(load_settings(None, {"index": "indexes/kb"}).index) == "indexes/kb"


def test_an_unreachable_server_is_one_actionable_line(tmp_path, monkeypatch, capsys):
    code, _, err = ragqa(monkeypatch, capsys, "info", "--index",
                         f"postgresql://postgres@/nowhere?host={tmp_path}")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot connect to PostgreSQL" in err


def test_ingest_info_and_retrieve_through_the_cli(pg_url, docs, monkeypatch, capsys):
    code, _, err = ragqa(monkeypatch, capsys, "ingest", docs, "--index", pg_url,
                         "--chunk-size", "200", "--chunk-overlap", "30")
    assert code == 0, err
    code, out, _ = ragqa(monkeypatch, capsys, "info", "--index", pg_url, "--json")
    info = json.loads(out)
    assert code == 0 and len(info["files"]) == 8 and info["directory"] == pg_url
    assert info["manifest"]["chunk_size"] == 200 and info["size_bytes"] > 0
    code, out, _ = ragqa(monkeypatch, capsys, "retrieve", "什么是知识蒸馏", "--index", pg_url,
                         "--json", "--k", "2")
    hits = json.loads(out)["hits"]
    assert code == 0 and "知识蒸馏" in hits[0]["text"]


def test_ask_and_eval_take_a_url_as_the_other_commands_do(tmp_path, pg_url, docs, embedder,
                                                          monkeypatch, capsys):
    from generation_fixtures import ScriptedLLM

    Ingestor(pg_url, embedder, IngestSettings(chunk_size=200, chunk_overlap=30)).ingest([docs])
    llm = ScriptedLLM("知识蒸馏把大模型的知识迁移到小模型中 [1]。")
    monkeypatch.setattr("app.services.build.make_llm", lambda settings: llm)
    monkeypatch.setenv("RAGQA_EXPLANATION", "written")  # the LLM writes: its prompt is checked
    code, out, err = ragqa(monkeypatch, capsys, "ask", "什么是知识蒸馏？", "--index", pg_url,
                           "--mode", "bm25", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert not answer["abstained"] and answer["citations"][0]["source"].endswith(".txt")
    assert "知识蒸馏" in llm.calls[0][-1]["content"]  # the passages came from Postgres
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "zh-1", "question": "什么是知识蒸馏？",
                              "answers": ["知识蒸馏"]}, ensure_ascii=False) + "\n",
                  encoding="utf-8")
    code, _, err = ragqa(monkeypatch, capsys, "eval", "--qa", qa, "--index", pg_url, "--out",
                         tmp_path / "report", "--retrieval-only", "--mode", "bm25")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["config"]["index"] == pg_url and report["metrics"]["hit@1"] == 100.0
    assert not (tmp_path / "postgresql:").exists()


def test_bm25_in_postgres_scores_as_the_local_bm25(tmp_path, pg_url, docs, embedder):
    settings = IngestSettings(chunk_size=200, chunk_overlap=30)
    Ingestor(tmp_path / "index", embedder, settings).ingest([docs])
    Ingestor(pg_url, embedder, settings).ingest([docs])
    local, pg = open_store(tmp_path / "index"), open_store(pg_url)
    for query in QUERIES:
        tokens = tokenize(query)
        l_rows, l_scores = local.search_lexical(tokens, 10)
        p_rows, p_scores = pg.search_lexical(tokens, 10)
        assert len(l_rows) == len(p_rows) > 0, query
        np.testing.assert_allclose(p_scores, l_scores, rtol=1e-4, err_msg=query)
        l_ids = [c.chunk_id for c in local.get_chunks(l_rows.tolist())]
        p_ids = [c.chunk_id for c in pg.get_chunks(p_rows.tolist())]
        # Equal scores may come in either order, and the last group may be cut by the depth:
        # every other group of equal scores must hold the same chunks.
        l_groups, p_groups = tie_groups(l_ids, l_scores), tie_groups(p_ids, p_scores)
        assert l_groups[:-1] == p_groups[:-1], query
        assert len(l_groups) == len(p_groups), query


def tie_groups(ids: list[str], scores: np.ndarray) -> list[set[str]]:
    """`ids` (best first) cut into runs of equal score (within float32 noise)."""
    groups: list[set[str]] = []
    for i, (chunk_id, score) in enumerate(zip(ids, scores, strict=True)):
        if i == 0 or scores[i - 1] - score > 1e-4 * abs(score):
            groups.append(set())
        groups[-1].add(chunk_id)
    return groups


def test_bm25_reads_postings_from_the_index_alone(pg_url, docs, embedder):
    import psycopg

    from ingest.store.lexical import BM25_B, BM25_K1
    from ingest.store.postgres.lexical import QUERY

    Ingestor(pg_url, embedder, IngestSettings(chunk_size=200, chunk_overlap=30)).ingest([docs])
    terms = sorted(set(tokenize("知识蒸馏 reranker candidates")))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # A table this small is read whole; at scale the planner walks the index, as here.
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE) " + QUERY, {"terms": terms, "qtf": [1] * len(terms),
                                           "k1": BM25_K1, "b": BM25_B, "depth": 10}))
    scans = re.findall(r"(Index Only Scan|Index Scan|Seq Scan) (?:using \w+ )?on ragqa_postings",
                       plan)
    assert scans and set(scans) == {"Index Only Scan"}, plan
    assert set(re.findall(r"Heap Fetches: (\d+)", plan)) == {"0"}, plan  # vacuumed by ingest


def test_migrate_to_postgres_and_back_keeps_every_chunk_and_vector(tmp_path, pg_url, docs,
                                                                   embedder, monkeypatch,
                                                                   capsys):
    Ingestor(tmp_path / "index", embedder, IngestSettings(index_type="hnsw")).ingest([docs])
    code, _, err = ragqa(monkeypatch, capsys, "migrate", "--from", tmp_path / "index", "--to",
                         pg_url, "--batch-files", "3")
    assert code == 0 and "migrated 8 files" in err
    code, _, err = ragqa(monkeypatch, capsys, "migrate", "--from", pg_url, "--to",
                         tmp_path / "back")
    assert code == 0, err
    first, pg, back = (open_store(p) for p in (tmp_path / "index", pg_url, tmp_path / "back"))
    for store in (pg, back):
        m = store.manifest
        assert (m.num_files, m.num_chunks, m.index_type, m.created_at) == (
            first.manifest.num_files, first.manifest.num_chunks, "hnsw", first.manifest.created_at)
        for a, b in zip(first.files(), store.files(), strict=True):
            x, y = first.read_file(a), store.read_file(b)
            assert (a.source, a.sha256, x.chunks) == (b.source, b.sha256, y.chunks)
            assert np.array_equal(x.vectors, y.vectors)
            assert [sorted(t) for t in x.tokens] == [sorted(t) for t in y.tokens]
    code, _, err = ragqa(monkeypatch, capsys, "migrate", "--from", tmp_path / "index", "--to",
                         pg_url)
    assert code == 2 and "already holds an index" in err


def test_tables_of_another_version_are_refused(pg_url, docs, embedder):
    import psycopg

    Ingestor(pg_url, embedder).ingest([docs])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE ragqa_manifest SET store_version = 99")
    with pytest.raises(IndexOpenError, match="version 99"):
        open_store(pg_url)
