"""Accounts: users with hashed passwords, roles per index, API keys and sign-in sessions, the
sign-in lock and the trail, in a real SQLite file, and `ragqa users` as a user runs it."""

from __future__ import annotations

import io
import json
import sqlite3
import sys

import pytest
from cli_helpers import ragqa

from app.services.access import AccessDenied, AccessError, Action, Grants, Role
from app.services.accounts import (
    AccountStore,
    SignInLimits,
    SignInRefused,
    accounts_location,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path) -> AccountStore:
    return AccountStore(tmp_path / "indexes" / "ragqa-accounts.sqlite3")


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path) -> AccountStore:
    """The accounts of a folder index (SQLite beside it), then of a PostgreSQL index (its own
    database): the same test, twice."""
    if request.param == "sqlite":
        return AccountStore(tmp_path / "indexes" / "ragqa-accounts.sqlite3")
    return AccountStore(accounts_location(request.getfixturevalue("pg_url")))


def test_roles_are_ordered_and_checked_per_index_or_on_every_index():
    ana = Grants("ana", {"team": Role.READER, "*": Role.WRITER, "hr": Role.ADMIN})
    assert ana.role_on("team") == Role.WRITER  # '*' lifts the lower role on team
    assert ana.may("docs", Action.CHANGE) and not ana.may("docs", Action.ADMINISTER)
    assert ana.may("hr", Action.ADMINISTER)
    ben = Grants("ben", {"team": Role.READER})
    assert ben.readable(["hr", "team"]) == ["team"]
    with pytest.raises(AccessDenied, match="ben has no role on 'hr'") as info:
        ben.require("hr", Action.ASK)
    assert info.value.code == "index_not_allowed"
    with pytest.raises(AccessDenied, match=r"reader of 'team'.*need the writer role") as info:
        ben.require("team", Action.CHANGE)
    assert info.value.code == "role_too_low"
    with pytest.raises(AccessError, match="reader, writer or admin"):
        Role.parse("owner")


def test_no_plaintext_secret_reaches_the_database(store):
    store.add_user("ana", PASSWORD, actor="test")
    store.grant("ana", "team", Role.WRITER, actor="test")
    key = store.new_key("ana", "ci", actor="test")
    token = store.sign_in("ana", PASSWORD)
    raw = store.db.location.read_bytes()
    for secret in (PASSWORD, key, token):
        assert secret.encode() not in raw
    with sqlite3.connect(store.db.location) as db:
        [digest] = db.execute("SELECT password_hash FROM ragqa_users").fetchone()
    assert digest.startswith("$argon2id$")
    assert store.key_grants(key).may("team", Action.CHANGE)
    assert store.session_grants(token).who == "ana"
    assert store.key_grants("rqa_unknown") is None and store.session_grants("nope") is None


def test_a_role_changed_after_sign_in_counts_at_once_and_sign_out_ends_the_session(any_store):
    store = any_store
    store.add_user("ana", PASSWORD, actor="test")
    store.grant("ana", "team", Role.WRITER, actor="test")
    token = store.sign_in("ana", PASSWORD)
    assert store.session_grants(token).may("team", Action.CHANGE)
    store.grant("ana", "team", Role.READER, actor="admin")
    assert not store.session_grants(token).may("team", Action.CHANGE)
    store.sign_out(token)
    assert store.session_grants(token) is None


def test_a_new_password_ends_sessions_and_removing_a_user_ends_keys(any_store):
    store = any_store
    store.add_user("ana", PASSWORD, actor="test")
    store.grant("ana", "*", Role.READER, actor="test")
    token, key = store.sign_in("ana", PASSWORD), store.new_key("ana", "", actor="test")
    store.set_password("ana", "another long one", actor="test")
    assert store.session_grants(token) is None
    with pytest.raises(SignInRefused):
        store.sign_in("ana", PASSWORD)
    assert store.key_grants(key) is not None
    store.remove_user("ana", actor="test")
    assert store.key_grants(key) is None and not store.has_users()


def test_twenty_wrong_passwords_lock_the_name_even_for_the_right_one(any_store):
    store = any_store
    store.add_user("ana", PASSWORD, actor="test")
    messages = []
    for i in range(20):
        with pytest.raises(SignInRefused) as info:
            store.sign_in("ana", f"guess number {i}")
        messages.append(str(info.value))
    assert messages[:5] == ["wrong user name or password"] * 5
    assert all(m.startswith("too many wrong passwords for ana") for m in messages[5:])
    with pytest.raises(SignInRefused, match="locked for 15 more min"):
        store.sign_in("ana", PASSWORD)
    # Another process sees the same lock: it is in the database.
    other = AccountStore(store.db.location)
    with pytest.raises(SignInRefused, match="too many wrong passwords"):
        other.sign_in("ana", PASSWORD)


def test_the_lock_lifts_after_its_window_and_a_good_sign_in_clears_the_count(tmp_path):
    store = AccountStore(tmp_path / "a.sqlite3", limits=SignInLimits(max_failures=2,
                                                                     window_s=0.5))
    store.add_user("ana", PASSWORD, actor="test")
    for _ in range(2):
        with pytest.raises(SignInRefused, match="wrong user name"):
            store.sign_in("ana", "not it at all")
    with pytest.raises(SignInRefused, match="too many"):
        store.sign_in("ana", PASSWORD)
    import time

    time.sleep(0.6)
    assert store.sign_in("ana", PASSWORD)
    with pytest.raises(SignInRefused, match="wrong user name"):  # counting starts again
        store.sign_in("ana", "not it at all")


def test_unknown_names_and_bad_names_and_short_passwords_are_refused(store):
    with pytest.raises(SignInRefused, match="wrong user name or password"):
        store.sign_in("nobody", PASSWORD)
    with pytest.raises(AccessError, match="user name"):
        store.add_user("../ana", PASSWORD, actor="test")
    with pytest.raises(AccessError, match="at least 8 characters"):
        store.add_user("ana", "short", actor="test")
    store.add_user("ana", PASSWORD, actor="test")
    with pytest.raises(AccessError, match="already exists"):
        store.add_user("ana", PASSWORD, actor="test")
    with pytest.raises(AccessError, match="no user 'ben'"):
        store.grant("ben", "team", Role.READER, actor="test")


def test_the_trail_records_who_changed_users_latest_first(any_store):
    store = any_store
    store.add_user("ana", PASSWORD, actor="root")
    store.grant("ana", "team", Role.WRITER, actor="root")
    store.record("ana", "upload", "team", "/kb/team.uploads/a.md")
    store.revoke("ana", "team", actor="root")
    actions = [(e.actor, e.action, e.index, e.target) for e in store.trail()]
    assert actions == [("root", "role.revoke", "team", "ana"),
                       ("ana", "upload", "team", "/kb/team.uploads/a.md"),
                       ("root", "role.grant", "team", "ana"), ("root", "user.add", "", "ana")]
    assert [e.action for e in store.trail(index="team")] == ["role.revoke", "upload",
                                                             "role.grant"]


def test_ragqa_users_adds_grants_lists_keys_and_shows_the_trail(monkeypatch, capsys, tmp_path):
    team = tmp_path / "indexes" / "team"

    def users(*args, stdin: str = ""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return ragqa(monkeypatch, capsys, "users", *args)

    code, _, err = users("add", "ana", "--index", team, "--role", "writer", "--password-stdin",
                         stdin=PASSWORD + "\n")
    assert code == 0 and "added ana as writer of team" in err
    assert users("add", "ben", "--index", team, "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    code, _, _ = users("grant", "ben", "--all-indexes", "--role", "reader", "--index", team)
    assert code == 0
    code, out, _ = users("list", "--index", team, "--json")
    listed = {u["name"]: u["roles"] for u in json.loads(out)}
    assert listed == {"ana": {"team": "writer"}, "ben": {"team": "reader", "*": "reader"}}
    code, out, err = users("key", "ben", "--label", "ci", "--index", team)
    key = out.strip()
    assert code == 0 and key.startswith("rqa_") and "shown once" in err
    store = AccountStore(tmp_path / "indexes" / "ragqa-accounts.sqlite3")
    assert store.key_grants(key).role_on("team") == Role.READER
    code, out, _ = users("trail", "--index", team, "--json")
    trail = json.loads(out)
    assert {(e["action"], e["target"]) for e in trail} == {("role.grant", "ana"),
                                                         ("role.grant", "ben")}
    assert all(e["actor"].startswith("cli:") for e in trail)
    # Mistakes are one line, no traceback.
    code, _, err = users("grant", "zoe", "--index", team, "--role", "reader")
    assert code == 2 and err.strip() == "error: no user 'zoe'; `ragqa users list` shows them"
    code, _, err = users("grant", "ana", "--index", team, "--role", "owner")
    assert code == 2 and "reader, writer or admin" in err and "Traceback" not in err
    code, out, _ = users("keys", "ben", "--index", team)
    assert code == 0 and " ci" in out and "rqa_" not in out
    code, _, err = users("revoke-key", "ben", "--index", team)
    assert code == 2 and "--label" in err
    code, _, err = users("revoke-key", "ben", "--label", "ci", "--index", team)
    assert code == 0 and "revoked 1 key(s) of ben" in err
    assert store.key_grants(key) is None
    code, _, _ = users("remove", "ben", "--index", team)
    assert code == 0 and [u.name for u in store.users()] == ["ana"]


def test_ragqa_docs_rm_is_recorded_in_the_trail_as_the_shell_user(monkeypatch, capsys, tmp_path,
                                                                  tmp_path_factory, embedder):
    import getpass

    from api_fixtures import small_index

    kb = small_index(tmp_path_factory, embedder, tmp_path / "indexes" / "kb")
    store = AccountStore(tmp_path / "indexes" / "ragqa-accounts.sqlite3")
    store.add_user("ana", PASSWORD, actor="test")
    code, out, _ = ragqa(monkeypatch, capsys, "docs", "rm", "en_serving.md", "--index", kb)
    assert code == 0 and "removed:" in out
    [entry] = [e for e in store.trail() if e.action == "delete"]
    assert (entry.actor, entry.index) == (f"cli:{getpass.getuser()}", "kb")
    assert entry.target.endswith("en_serving.md")
