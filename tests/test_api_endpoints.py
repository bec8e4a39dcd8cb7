"""The HTTP API without an LLM: retrieval, index info, uploads, bad input and metrics, against
a real uvicorn server on 127.0.0.1 with the real embedder and index."""

from __future__ import annotations

import json

import httpx
import pytest
from api_fixtures import EN_QUESTION, ZH_QUESTION, ThreadServer, api_settings, metric, small_index

from app.api.state import ServerState
from app.services.uploads import ALLOWED_SUFFIXES


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("api")
    kb = small_index(tmp_path_factory, embedder, root / "kb")
    state = ServerState(api_settings(embedder, api_upload_max_mb=1), [kb, root / "fresh",
                                                                    root / "empty"])
    with ThreadServer(state) as running:
        yield running


@pytest.fixture
def http(server):
    with server.client() as client:
        yield client


def error(response: httpx.Response) -> dict:
    """The one JSON error object every failure answers with."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"message", "type", "code", "param"} <= set(body["error"]), body
    return body["error"]


# --- health, models, index info ----------------------------------------------------------
def test_healthz_and_the_model_list(http):
    health = http.get("/healthz").json()
    assert health["status"] == "ok" and health["queue_depth"] == 0
    assert health["llm_loaded"] is False  # nothing asked for an answer: no LLM was loaded
    models = http.get("/v1/models").json()
    kinds = {m["id"]: m["ragqa"]["kind"] for m in models["data"]}
    assert kinds == {"kb": "index", "fresh": "index", "empty": "index",
                     "builtin:smollm2-135m": "llm"}
    kb = next(m for m in models["data"] if m["id"] == "kb")
    assert kb["object"] == "model" and kb["ragqa"]["documents"] == 3 and kb["created"] > 0


def test_index_info_is_the_manifest_and_files(http):
    info = http.get("/v1/indexes/kb").json()
    assert info["name"] == "kb" and info["manifest"]["num_files"] == 3
    assert info["manifest"]["embedding_model"] == "builtin:minilm"
    assert sorted(f["source"].rsplit("/", 1)[-1] for f in info["files"]) == [
        "en_pretraining.md", "en_serving.md", "zh_data_cleaning.md"]
    missing = http.get("/v1/indexes/nope")
    assert missing.status_code == 404
    assert "'nope'" in error(missing)["message"] and "kb" not in error(missing)["message"]


# --- retrieval ---------------------------------------------------------------------------
@pytest.mark.parametrize(("question", "source"), [(EN_QUESTION, "en_pretraining.md"),
                                                  (ZH_QUESTION, "zh_data_cleaning.md")])
def test_retrieve_finds_the_passage_in_english_and_chinese(http, question, source):
    body = http.post("/v1/retrieve", json={"index": "kb", "question": question, "k": 2}).json()
    assert body["question"] == question and body["mode"] == "hybrid"
    assert 1 <= len(body["hits"]) <= 2
    top = body["hits"][0]
    assert top["source"].endswith(source)
    assert {"text", "source", "page", "score", "chunk_id", "relevance"} <= set(top)


def test_retrieve_mode_and_filters(http):
    body = http.post("/v1/retrieve", json={
        "index": "kb", "question": "Kestrel tokens", "k": 5, "mode": "bm25",
        "filters": {"source_glob": "*serving*"}}).json()
    assert body["mode"] == "bm25" and body["hits"]
    assert all(h["source"].endswith("en_serving.md") for h in body["hits"])


def test_retrieve_metadata_filters_and_a_bad_one(http):
    body = http.post("/v1/retrieve", json={
        "index": "kb", "question": "Kestrel tokens training data", "k": 5,
        "filters": {"metadata": ["language=zh", "kind=md"]}}).json()
    assert body["hits"] and all(h["source"].rsplit("/", 1)[-1].startswith("zh_")
                                for h in body["hits"])
    bad = http.post("/v1/retrieve", json={"index": "kb", "question": "x",
                                          "filters": {"metadata": ["language"]}})
    assert bad.status_code == 422 and "KEY=VALUE" in error(bad)["message"]


def test_retrievals_run_concurrently_and_all_answer(server):
    import concurrent.futures

    def ask(i: int) -> int:
        q = EN_QUESTION if i % 2 else ZH_QUESTION
        return httpx.post(server.url + "/v1/retrieve", json={"index": "kb", "question": q},
                          timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(16))) == [200] * 16


# --- bad input: one JSON error object naming what is wrong --------------------------------
def test_malformed_json_is_422_saying_where(http):
    r = http.post("/v1/chat/completions", content=b'{"model": "kb", "messages": [',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert error(r)["code"] == "invalid_json" and "not valid JSON" in error(r)["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "kb"}, "messages"),
    ({"model": "kb", "messages": [{"role": "user", "content": "hi"}], "temperature": 7},
     "temperature"),
    ({"model": "kb", "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    ({"model": "kb", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
    ({"model": "kb", "messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ({"model": "kb", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
])
def test_an_invalid_chat_request_is_422_naming_the_field(http, body, field):
    r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == 422
    err = error(r)
    assert err["param"] == field and err["message"].startswith(field + ":")
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize(("body", "field"), [
    ({"index": "kb"}, "question"),
    ({"index": "kb", "question": "  "}, "question"),
    ({"index": "kb", "question": "q", "mode": "fuzzy"}, "mode"),
    ({"index": "kb", "question": "q", "k": 0}, "k"),
    ({"index": "kb", "question": "q", "filters": {"source": "*.md"}}, "filters.source"),
])
def test_an_invalid_retrieval_is_422_naming_the_field(http, body, field):
    r = http.post("/v1/retrieve", json=body)
    assert r.status_code == 422 and error(r)["param"] == field


def test_unknown_models_routes_and_empty_indexes(http):
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    r = http.post("/v1/chat/completions", json={"model": "nope", **chat})
    assert r.status_code == 404 and error(r)["code"] == "model_not_found"
    # "empty" stays empty whatever order the tests run in ("fresh" receives the uploads).
    r = http.post("/v1/chat/completions", json={"model": "empty", **chat})
    assert r.status_code == 409 and "POST /v1/indexes/empty/documents" in error(r)["message"]
    r = http.get("/v1/nothing-here")
    assert r.status_code == 404 and "GET /v1/nothing-here" in error(r)["message"]
    assert http.get("/v1/indexes/empty").json()["manifest"] is None


# --- uploads -------------------------------------------------------------------------------
def test_upload_ingests_reports_failures_and_is_searchable(http, server, tmp_path_factory):
    files = [("files", ("报告 2024.md", "# 年度报告\n\n2024 年 Osprey 项目收入增长百分之十二。"
                                       .encode(), "text/markdown")),
             ("files", ("broken.pdf", b"%PDF-1.4 not a real pdf", "application/pdf"))]
    r = http.post("/v1/indexes/fresh/documents", files=files)
    assert r.status_code == 200, r.text
    report = r.json()
    assert [p.rsplit("/", 1)[-1] for p in report["ingested"]] == ["报告 2024.md"]
    assert report["chunks_added"] >= 1
    [failed] = report["failed"]
    assert failed["source"].endswith("broken.pdf") and failed["reason"]
    uploads = server.state.indexes["fresh"].parent / "fresh.uploads"
    assert (uploads / "报告 2024.md").is_file()
    hits = http.post("/v1/retrieve", json={"index": "fresh", "question": "Osprey 收入"}).json()
    assert hits["hits"][0]["source"].endswith("报告 2024.md")
    again = http.post("/v1/indexes/fresh/documents", files=files[:1]).json()
    assert len(again["unchanged"]) == 1 and again["chunks_added"] == 0


def test_a_path_traversal_name_is_saved_inside_the_uploads_folder(http, server):
    r = http.post("/v1/indexes/fresh/documents",
                  files={"files": ("../../escaped.md", b"# Escape\n\nThe heron nests.",
                                   "text/markdown")})
    assert r.status_code == 200, r.text
    root = server.state.indexes["fresh"].parent
    assert (root / "fresh.uploads" / "escaped.md").is_file()
    assert not (root.parent / "escaped.md").exists() and not (root / "escaped.md").exists()
    assert r.json()["ingested"][0].endswith("fresh.uploads/escaped.md")


def test_an_unsupported_kind_is_415_listing_the_supported_kinds(http):
    r = http.post("/v1/indexes/fresh/documents",
                  files={"files": ("tool.exe", b"MZ\x90\x00", "application/octet-stream")})
    assert r.status_code == 415
    err = error(r)
    assert err["supported"] == list(ALLOWED_SUFFIXES)
    assert ".pdf" in err["message"] and ".md" in err["message"] and "tool.exe" in err["message"]
    r = http.post("/v1/indexes/fresh/documents", json={"files": []})
    assert r.status_code == 415 and "multipart/form-data" in error(r)["message"]


def test_an_oversize_upload_is_413(http):
    big = b"# Big\n\n" + b"All work and no play. " * 70_000  # ~1.5 MB over the 1 MB limit
    r = http.post("/v1/indexes/fresh/documents", files={"files": ("big.md", big, "text/md")})
    assert r.status_code == 413 and "1 MB" in error(r)["message"]

    def chunked():  # no Content-Length: the server counts the bytes as they arrive
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"c.md\"\r\n\r\n"
        for _ in range(15):
            yield b"x" * 100_000
        yield b"\r\n--b--\r\n"

    r = http.post("/v1/indexes/fresh/documents", content=chunked(),
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_an_upload_with_nothing_ingestible_is_422_with_the_reasons(http):
    r = http.post("/v1/indexes/fresh/documents", files={"files": ("empty.txt", b"", "text/plain")})
    assert r.status_code == 422
    err = error(r)
    assert err["code"] == "ingest_failed" and "empty.txt" in err["message"]
    assert err["report"]["failed"][0]["reason"] == "the file is empty"
    r = http.post("/v1/indexes/fresh/documents", files={"other": ("a.md", b"# A", "text/md")})
    assert r.status_code == 422 and error(r)["param"] == "files"


# --- metrics -------------------------------------------------------------------------------
def test_metrics_count_requests_by_route_in_prometheus_text(server, http):
    before = metric(server.url, "ragqa_http_requests_total", route="/v1/retrieve",
                    method="POST", status="200")
    http.post("/v1/retrieve", json={"index": "kb", "question": EN_QUESTION})
    text = httpx.get(server.url + "/metrics").text
    assert "# TYPE ragqa_stage_seconds histogram" in text
    assert "ragqa_generation_queue_depth 0.0" in text
    after = metric(server.url, "ragqa_http_requests_total", route="/v1/retrieve",
                   method="POST", status="200")
    assert after == before + 1
    assert json.loads(http.get("/healthz").content)["status"] == "ok"
