"""The API with accounts: a user's key carries the user's roles as they are now, checked by
the same rule as the chat UI; uploads and deletions go into the trail under the user's name."""

from __future__ import annotations

import pytest
from api_fixtures import EN_QUESTION, ThreadServer, api_settings, small_index

from app.api.state import ServerState
from app.services.access import Role
from app.services.accounts import AccountStore

PASSWORD = "correct horse battery"
NOTE = {"files": ("kingfisher.md", b"# Kingfisher\n\nThe kingfisher dives from the alder "
                  b"branch.", "text/markdown")}


@pytest.fixture(scope="module")
def team(tmp_path_factory, embedder):
    """A server for index `kb` whose accounts (beside it) hold a reader and a writer."""
    root = tmp_path_factory.mktemp("api-users")
    kb = small_index(tmp_path_factory, embedder, root / "kb")
    store = AccountStore(root / "ragqa-accounts.sqlite3")
    keys = {}
    for name, role in (("ana", Role.WRITER), ("ben", Role.READER)):
        store.add_user(name, PASSWORD, actor="test")
        store.grant(name, "kb", role, actor="test")
        keys[name] = store.new_key(name, "test", actor="test")
    with ThreadServer(ServerState(api_settings(embedder), [kb])) as running:
        running.keys, running.store = keys, store
        yield running


def code(response) -> str:
    return response.json()["error"]["code"]


def test_with_users_every_request_needs_a_key(team):
    with team.client() as http:
        r = http.post("/v1/retrieve", json={"index": "kb", "question": EN_QUESTION})
        assert r.status_code == 401 and code(r) == "missing_api_key"
        assert http.get("/v1/models").status_code == 401
    with team.client("rqa_made-up") as http:
        assert http.get("/v1/models").status_code == 401


def test_a_readers_key_asks_but_gets_403_on_upload_and_delete(team):
    with team.client(team.keys["ben"]) as http:
        assert http.post("/v1/retrieve", json={"index": "kb", "question": EN_QUESTION,
                                               "k": 1}).json()["hits"]
        doc = http.get("/v1/indexes/kb/documents").json()["documents"][0]
        r = http.delete(f"/v1/indexes/kb/documents/{doc['id']}")
        assert r.status_code == 403 and code(r) == "role_too_low"
        assert "ben is a reader of 'kb'" in r.json()["error"]["message"]
        r = http.post("/v1/indexes/kb/documents", files=NOTE)
        assert r.status_code == 403 and code(r) == "role_too_low"
        assert len(http.get("/v1/indexes/kb/documents").json()["documents"]) == 3


def test_a_writers_upload_and_delete_are_in_the_trail_under_their_name(team):
    with team.client(team.keys["ana"]) as http:
        r = http.post("/v1/indexes/kb/documents", files=NOTE)
        assert r.status_code == 200, r.text
        docs = http.get("/v1/indexes/kb/documents").json()["documents"]
        note = next(d for d in docs if d["source"].endswith("kingfisher.md"))
        assert http.delete(f"/v1/indexes/kb/documents/{note['id']}").status_code == 200
    changes = [(e.actor, e.action, e.index, e.target) for e in team.store.trail(index="kb")
               if e.action in ("upload", "delete")]
    assert changes == [("ana", "delete", "kb", note["source"]),
                       ("ana", "upload", "kb", note["source"])]


def test_a_role_taken_away_stops_the_key_at_once(team):
    team.store.add_user("cid", PASSWORD, actor="test")
    team.store.grant("cid", "kb", Role.READER, actor="test")
    key = team.store.new_key("cid", "", actor="test")
    with team.client(key) as http:
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["kb"]
        team.store.revoke("cid", "kb", actor="test")
        r = http.get("/v1/indexes/kb/documents")
        assert r.status_code == 403 and code(r) == "index_not_allowed"
        assert http.get("/v1/models").json()["data"] == []


def test_a_postgresql_index_keeps_its_accounts_and_trail_in_its_own_database(
        pg_url, tmp_path, embedder):
    """Several API or app processes on one PostgreSQL index share its users, keys and trail."""
    import shutil
    from pathlib import Path

    import psycopg
    from api_fixtures import KB_FILES
    from app_fixtures import KB, build_index

    from app.services.access import index_name
    from app.services.accounts import accounts_location

    files = [Path(shutil.copy2(KB / n, tmp_path / n)) for n in KB_FILES]
    build_index(files, pg_url, embedder)
    assert accounts_location(pg_url) == pg_url
    store = AccountStore(pg_url)
    keys = {}
    for name, role in (("ana", Role.WRITER), ("ben", Role.READER)):
        store.add_user(name, PASSWORD, actor="test")
        store.grant(name, index_name(pg_url), role, actor="test")
        keys[name] = store.new_key(name, "", actor="test")
    with ThreadServer(ServerState(api_settings(embedder), [pg_url])) as running:
        name = index_name(pg_url)
        with running.client() as http:
            assert http.get(f"/v1/indexes/{name}/documents").status_code == 401
        with running.client(keys["ben"]) as http:
            doc = http.get(f"/v1/indexes/{name}/documents").json()["documents"][0]
            r = http.delete(f"/v1/indexes/{name}/documents/{doc['id']}")
            assert r.status_code == 403 and code(r) == "role_too_low"
        with running.client(keys["ana"]) as http:
            r = http.delete(f"/v1/indexes/{name}/documents/{doc['id']}")
            assert r.status_code == 200, r.text
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT actor, action, target FROM ragqa_trail "
                            "WHERE action = 'delete'").fetchall()
    assert rows == [("ana", "delete", doc["source"])]
