"""API keys: hashed in the keys file, each limited to indexes and to read or read-write; a
server on another address than loopback refuses to start without them."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest
from api_fixtures import EN_QUESTION, ThreadServer, api_settings, small_index, write_keys
from app_fixtures import ROOT

from app.api.auth import KeyRing, KeysFileError, hash_key, new_key, toml_entry
from app.api.state import ServerState
from app.commands.serve import check_exposure
from app.services.access import is_loopback
from ingest.core.errors import RagqaError


@pytest.fixture(scope="module")
def secured(tmp_path_factory, embedder):
    """A server with a reader and a writer key for index `kb`, and a key for `other` only."""
    root = tmp_path_factory.mktemp("api-keys")
    kb = small_index(tmp_path_factory, embedder, root / "kb")
    keys = write_keys(root / "keys.toml", ("reader", ["kb"], "read"),
                      ("writer", ["kb"], "read-write"), ("outsider", ["other"], "read-write"))
    state = ServerState(api_settings(embedder, api_keys_file=root / "keys.toml"),
                        [kb, root / "other"])
    with ThreadServer(state) as running:
        running.keys, running.keys_file = keys, root / "keys.toml"
        yield running


def error(response) -> dict:
    return response.json()["error"]


RETRIEVE = {"index": "kb", "question": EN_QUESTION, "k": 1}
UPLOAD = {"files": ("note.md", b"# Note\n\nThe kingfisher dives.", "text/markdown")}


def test_the_keys_file_holds_only_hashes(secured):
    text = secured.keys_file.read_text(encoding="utf-8")
    for key in secured.keys.values():
        assert key not in text and hash_key(key) in text
    key, entry = new_key("ci", ["kb"], "read")
    assert key.startswith("rqa_") and len(key) > 40
    assert entry.hash == hash_key(key) and key not in toml_entry(entry)
    ring = KeyRing.load(None, json.dumps([entry.model_dump(mode="json")]))
    assert ring.find(key) == entry and ring.find("rqa_other") is None


def test_no_key_and_a_wrong_key_are_401(secured):
    with secured.client() as http:
        r = http.post("/v1/retrieve", json=RETRIEVE)
        assert r.status_code == 401 and error(r)["code"] == "missing_api_key"
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert error(r)["type"] == "authentication_error"
        assert http.get("/v1/models").status_code == 401
        assert http.get("/healthz").status_code == 200  # health needs no key
    with secured.client("rqa_not-a-key") as http:
        r = http.post("/v1/retrieve", json=RETRIEVE)
        assert r.status_code == 401 and error(r)["code"] == "invalid_api_key"
    client = openai.OpenAI(base_url=secured.base_url, api_key="rqa_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_key_for_another_index_is_403_and_sees_only_its_own(secured):
    with secured.client(secured.keys["outsider"]) as http:
        r = http.post("/v1/retrieve", json=RETRIEVE)
        assert r.status_code == 403 and error(r)["code"] == "index_not_allowed"
        assert "'kb'" in error(r)["message"] and error(r)["type"] == "permission_error"
        assert http.get("/v1/indexes/kb").status_code == 403
        chat = http.post("/v1/chat/completions", json={
            "model": "kb", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 403
        assert http.post("/v1/indexes/kb/documents", files=UPLOAD).status_code == 403
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["other"]
    with secured.client(secured.keys["reader"]) as http:
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["kb"]
        assert http.post("/v1/retrieve", json=RETRIEVE).json()["hits"]


def test_a_read_only_key_cannot_upload_and_a_read_write_key_can(secured):
    with secured.client(secured.keys["reader"]) as http:
        r = http.post("/v1/indexes/kb/documents", files=UPLOAD)
        assert r.status_code == 403 and error(r)["code"] == "role_too_low"
    with secured.client(secured.keys["writer"]) as http:
        r = http.post("/v1/indexes/kb/documents", files=UPLOAD)
        assert r.status_code == 200, r.text
        assert r.json()["ingested"][0].endswith("note.md")


def test_documents_are_listed_for_readers_and_deleted_only_with_a_read_write_key(secured):
    with secured.client(secured.keys["writer"]) as http:
        assert http.post("/v1/indexes/kb/documents", files={
            "files": ("heron.md", b"# Heron\n\nThe grey heron nests in the reed bed by the "
                      b"old mill.", "text/markdown")}).status_code == 200
    with secured.client(secured.keys["reader"]) as http:
        docs = http.get("/v1/indexes/kb/documents").json()["documents"]
        heron = next(d for d in docs if d["source"].endswith("heron.md"))
        assert heron["kind"] == "md" and heron["chunks"] >= 1
        assert http.get(f"/v1/indexes/kb/documents/{heron['id']}").json() == heron
        r = http.delete(f"/v1/indexes/kb/documents/{heron['id']}")
        assert r.status_code == 403 and error(r)["code"] == "role_too_low"
        assert http.get("/v1/indexes/kb/documents/0000000000000000").status_code == 404
    with secured.client(secured.keys["outsider"]) as http:
        assert http.get("/v1/indexes/kb/documents").status_code == 403
    with secured.client(secured.keys["writer"]) as http:
        r = http.delete(f"/v1/indexes/kb/documents/{heron['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["chunks_removed"] == heron["chunks"]
        left = http.get("/v1/indexes/kb/documents").json()["documents"]
        assert heron["id"] not in {d["id"] for d in left} and len(left) == len(docs) - 1
        hits = http.post("/v1/retrieve", json={"index": "kb", "question": "grey heron reed bed",
                                               "k": 5}).json()["hits"]
        assert not any(h["source"].endswith("heron.md") for h in hits)


@pytest.mark.parametrize(("text", "message"), [
    ('[[keys]]\nhash = "sha256:abc"\nindexes = ["kb"]\n', r"key 1: hash"),
    ('[[keys]]\nhash = "sha256:' + "a" * 64 + '"\nindexes = ["kb"]\naccess = "admin"\n',
     r"key 1: access"),
    ('[[keys]]\nhash = "sha256:' + "a" * 64 + '"\n', r"key 1: indexes"),
    ("[[key]]\n", r"unknown table 'key'"),
    ("keys = [", r"cannot be read"),
])
def test_a_bad_keys_file_is_an_error_naming_file_and_entry(tmp_path, text, message):
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KeysFileError, match=message) as info:
        KeyRing.load(path, None)
    assert str(path) in str(info.value)
    with pytest.raises(KeysFileError, match="does not exist"):
        KeyRing.load(tmp_path / "missing.toml", None)
    with pytest.raises(KeysFileError, match="RAGQA_API_KEYS"):
        KeyRing.load(None, "{not json")


def test_listening_beyond_loopback_needs_keys():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_exposure("127.0.0.1", secured=False)
    check_exposure("0.0.0.0", secured=True)
    with pytest.raises(RagqaError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        check_exposure("0.0.0.0", secured=False)


def test_ragqa_serve_refuses_0_0_0_0_without_keys_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0",
                          "--index", str(tmp_path / "kb")], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to listen on 0.0.0.0 without API keys" in lines[0]
    assert "Traceback" not in out.stderr


def test_a_keyless_server_answers_only_requests_addressed_to_loopback(tmp_path_factory,
                                                                      embedder):
    """DNS rebinding: a page's script reaches 127.0.0.1 under its own name; its Host header
    gives it away. With keys the check is not needed (every request needs a key)."""
    import httpx

    kb = small_index(tmp_path_factory, embedder, tmp_path_factory.mktemp("hosts") / "kb")
    with ThreadServer(ServerState(api_settings(embedder), [kb])) as running:
        port = running.base_url.split(":")[2].split("/")[0]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            ok = httpx.get(running.base_url + "/models", headers={"Host": host})
            assert ok.status_code == 200, host
        bad = httpx.delete(running.base_url + "/indexes/kb/documents/x.md",
                           headers={"Host": f"evil.example:{port}"})
    assert bad.status_code == 403
    assert error(bad)["code"] == "host_not_allowed" and "evil.example" in error(bad)["message"]


def test_a_server_with_keys_takes_any_host_name(secured):
    reply = openai.OpenAI(base_url=secured.base_url, api_key=secured.keys["reader"],
                          max_retries=0, default_headers={"Host": "ragqa.team.example"})
    assert [m.id for m in reply.models.list().data] == ["kb"]
