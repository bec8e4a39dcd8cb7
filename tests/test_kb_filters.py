"""Document metadata (built-in keys, Markdown front matter, sidecar NAME.meta.json) and metadata
filters pushed down into both stores: a filtered search returns exactly the matching hits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ingest_fixtures import CountingEmbedder, write

from ingest.core.metadata import MetadataError, document_metadata, split_front_matter
from ingest.pipeline import Ingestor
from ingest.settings import IngestSettings
from ingest.store import open_store
from ingest.store.filters import FilterError, MetadataFilter
from retrieval import build_retriever
from retrieval.settings import RetrievalSettings

GPU = "---\nteam: Infra\ntags: [gpu, ops]\ndate: 2026-03-01\n---\n# GPU quota\n\n" + (
    "Each team gets eight GPUs per week for training jobs and evaluation runs. " * 4)
CLEANING = "数据清洗流程包括去重、过滤低质量文本和隐私信息脱敏，每周运行一次。" * 4
RELEASE = "The release train leaves every Friday; a change needs two reviews to board it. " * 4
MEMO = "---\nteam: ml\ndate: 2025-11-20\n---\n模型评测每月进行一次，结果写入评测报告。"


@pytest.fixture
def kb(tmp_path) -> Path:
    root = tmp_path / "kb"
    write(root / "quota.md", GPU)
    write(root / "cleaning.txt", CLEANING)
    write(root / "cleaning.txt.meta.json", json.dumps({"team": "ML", "owner": "li"}))
    write(root / "release.txt", RELEASE)
    write(root / "memo.md", MEMO)
    return root


def ingest(location, embedder, root: Path):
    return Ingestor(location, CountingEmbedder(embedder),
                    IngestSettings(chunk_size=200, chunk_overlap=30)).ingest([root])


def hit_names(location, embedder, question: str, filters: list[str], mode: str) -> set[str]:
    index = open_store(location, embedder=embedder)
    try:
        retriever = build_retriever(index, embedder, RetrievalSettings(
            k=20, mode=mode, filters=tuple(filters)))
        return {Path(h.chunk.source).name for h in retriever.retrieve(question)}
    finally:
        index.close()


# --- the filter rule --------------------------------------------------------------------------
def test_conditions_parse_and_match_case_folded_any_value():
    where = MetadataFilter.parse(["Kind=PDF,docx", "ingested>=2026-01-01", "team!=ml"])
    assert where.matches({"kind": ["pdf"], "ingested": ["2026-02-01"], "team": ["infra"]})
    assert where.matches({"kind": ["docx"], "ingested": ["2026-01-01"]})  # no team: != holds
    assert not where.matches({"kind": ["pdf"], "ingested": ["2025-12-31"]})
    assert not where.matches({"kind": ["pdf"], "ingested": ["2026-02-01"], "team": ["ML"]})
    assert not where.matches({"ingested": ["2026-02-01"]})  # no kind: = fails
    assert MetadataFilter.parse(["tags=ops"]).matches({"tags": ["gpu", "ops"]})


@pytest.mark.parametrize("bad", ["kind", "=pdf", "kind=", "date>=a,b", "kind=pdf,"])
def test_a_malformed_condition_is_an_error_showing_the_form(bad):
    with pytest.raises(FilterError, match=r"KEY=VALUE|takes one value"):
        MetadataFilter.parse([bad])


def test_retrieval_settings_refuse_a_bad_filter_before_anything_loads():
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        RetrievalSettings(filters=("team",))


# --- metadata ---------------------------------------------------------------------------------
def test_front_matter_becomes_metadata_and_leaves_the_text():
    meta, text = split_front_matter(GPU, "quota.md")
    assert meta == {"team": ["Infra"], "tags": ["gpu", "ops"], "date": ["2026-03-01"]}
    assert text.startswith("# GPU quota") and "team:" not in text
    assert split_front_matter("# Title\n---\nx: 1\n---\n", "a.md")[0] == {}  # not at the top
    with pytest.raises(MetadataError, match=r"a\.md.*nested"):
        split_front_matter("---\nteam: {a: 1}\n---\nbody", "a.md")


def test_built_in_keys_are_never_overridden_by_the_author():
    meta = document_metadata("/kb/a.md", "2026-12-02T10:00:00+00:00", ["检索增强生成的原理。"],
                             {"kind": ["pdf"], "team": ["x"]})
    assert meta == {"path": ["/kb/a.md"], "kind": ["md"], "language": ["zh"],
                    "ingested": ["2026-12-02"], "team": ["x"]}


def test_a_broken_sidecar_fails_its_file_naming_the_sidecar(tmp_path, embedder):
    root = tmp_path / "kb"
    write(root / "a.txt", RELEASE)
    write(root / "a.txt.meta.json", "{not json")
    write(root / "b.txt", CLEANING)
    report = ingest(tmp_path / "index", embedder, root)
    assert [Path(f.source).name for f in report.failed] == ["a.txt"]
    assert "a.txt.meta.json" in report.failed[0].reason
    assert [Path(s).name for s in report.ingested] == ["b.txt"]  # the sidecar is no document


def test_every_document_carries_its_metadata(index_location, kb, embedder):
    ingest(index_location, embedder, kb)
    store = open_store(index_location)
    try:
        meta = {Path(r.source).name: r.metadata for r in store.files()}
    finally:
        store.close()
    today = datetime.now(UTC).date().isoformat()
    assert sorted(meta) == ["cleaning.txt", "memo.md", "quota.md", "release.txt"]
    assert meta["quota.md"]["team"] == ["Infra"] and meta["quota.md"]["kind"] == ["md"]
    assert meta["cleaning.txt"]["language"] == ["zh"] and meta["cleaning.txt"]["owner"] == ["li"]
    assert meta["release.txt"]["language"] == ["en"] and meta["release.txt"]["ingested"] == [today]
    assert "team" not in meta["release.txt"]


# --- filters, pushed down into each store -----------------------------------------------------
def _expected(kb_meta: dict[str, dict], filters: list[str]) -> set[str]:
    where = MetadataFilter.parse(filters)
    return {name for name, meta in kb_meta.items() if where.matches(meta)}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_filters_give_exactly_the_matching_documents(index_location, kb, embedder, mode):
    ingest(index_location, embedder, kb)
    today = datetime.now(UTC).date()
    cases = {
        ("kind=md",): {"quota.md", "memo.md"},
        ("language=zh",): {"cleaning.txt", "memo.md"},
        ("team=ml",): {"cleaning.txt", "memo.md"},             # sidecar and front matter alike
        ("team=infra", "kind=md"): {"quota.md"},
        ("team!=ml", "language=en"): {"quota.md", "release.txt"},
        ("date>=2026-01-01",): {"quota.md"},
        (f"ingested>={today.isoformat()}",): {"cleaning.txt", "memo.md", "quota.md",
                                              "release.txt"},
        (f"ingested>{today.isoformat()}",): set(),
        (f"ingested<{(today + timedelta(days=1)).isoformat()}",): {
            "cleaning.txt", "memo.md", "quota.md", "release.txt"},
        ("tags=ops",): {"quota.md"},
        ("owner=nobody",): set(),
    }
    # A question every document answers a little, so that an unfiltered search reaches all.
    question = "GPU 数据清洗 release 模型评测 team weekly"
    for filters, expected in cases.items():
        got = hit_names(index_location, embedder, question, list(filters), mode)
        if mode == "bm25":  # BM25 returns only documents sharing a term with the question
            assert got <= expected and (got or not expected), (filters, got)
        else:
            assert got == expected, (filters, got)


def test_a_changed_sidecar_reingests_its_file_with_the_new_metadata(index_location, kb,
                                                                     embedder):
    ingest(index_location, embedder, kb)
    write(kb / "cleaning.txt.meta.json", json.dumps({"team": "data"}))
    report = ingest(index_location, embedder, kb)
    assert [Path(s).name for s in report.ingested] == ["cleaning.txt"]
    assert hit_names(index_location, embedder, "数据清洗", ["team=data"], "hybrid") == {
        "cleaning.txt"}
    assert "cleaning.txt" not in hit_names(index_location, embedder, "数据清洗", ["team=ml"],
                                           "hybrid")


def test_a_long_lived_postgres_reader_sees_a_document_move_between_filters(pg_url, kb,
                                                                            embedder):
    # The files a filter admits are kept per index generation: a reader (the API's) that
    # outlives an ingest must not go on using the old ones.
    ingest(pg_url, embedder, kb)
    index = open_store(pg_url, embedder=embedder)
    try:
        def names(filters):
            retriever = build_retriever(index, embedder, RetrievalSettings(
                k=20, mode="dense", filters=filters))
            return {Path(h.chunk.source).name for h in retriever.retrieve("数据清洗")}

        assert names(("team=ml",)) == {"cleaning.txt", "memo.md"}
        write(kb / "cleaning.txt.meta.json", json.dumps({"team": "data"}))
        ingest(pg_url, embedder, kb)
        assert names(("team=ml",)) == {"memo.md"}
        assert names(("team=data",)) == {"cleaning.txt"}
    finally:
        index.close()


def test_a_requests_filters_bind_the_api_fallback_to_the_other_language(tmp_path, embedder):
    """The leaking direction: an English question filtered to team=infra declines in English
    and falls back to the Chinese documents; that fallback must not reach team=ml's."""
    from api_fixtures import api_settings
    from app_fixtures import build_index

    from app.api.state import ServerState

    root = tmp_path / "kb"
    files = [write(root / "gpu.md", GPU), write(root / "memo.md", MEMO * 3),
             write(root / "infra_zh.md", "---\nteam: infra\n---\n" + CLEANING)]
    build_index(files, tmp_path / "index", embedder)
    state = ServerState(api_settings(embedder), [tmp_path / "index"])
    try:
        question = "模型评测多久进行一次？"
        unfiltered = state.other_languages("index").retriever_for("zh").retrieve(question)
        assert "memo.md" in {Path(h.chunk.source).name for h in unfiltered}
        filtered = state.other_languages("index", filters=("team=infra",))
        assert filtered.besides("en") == ["zh"]
        hits = filtered.retriever_for("zh").retrieve(question)
        assert {Path(h.chunk.source).name for h in hits} == {"infra_zh.md"}
    finally:
        state.close()
