"""Sign-in to the chat UI, driven through Streamlit's AppTest with real accounts in SQLite: the
sign-in page, what a reader and a writer see and may do, the trail, the sign-in lock, and
`ragqa app --host 0.0.0.0` refusing to start without accounts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from app_fixtures import ROOT, sample_index_copy, write_config
from streamlit.testing.v1 import AppTest

from app.services.access import Role
from app.services.accounts import AccountStore
from app.ui.feedback import FeedbackStore

SCRIPT = ROOT / "app" / "ui" / "streamlit_app.py"
PASSWORD = "correct horse battery"
NOTE = ("heron.md", b"# Heron\n\nThe grey heron nests in the reed bed.", "text/markdown")


@pytest.fixture
def team(tmp_path, tmp_path_factory, embedder, monkeypatch):
    """Indexes `sample` and `hr` side by side, their accounts (ana writes sample, ben reads
    it, nobody but root sees hr), and the app configured to listen beyond loopback."""
    indexes = tmp_path / "indexes"
    sample = sample_index_copy(tmp_path_factory, embedder, indexes / "sample")
    sample_index_copy(tmp_path_factory, embedder, indexes / "hr")
    store = AccountStore(indexes / "ragqa-accounts.sqlite3")
    for name, index, role in (("ana", "sample", Role.WRITER), ("ben", "sample", Role.READER),
                              ("root", "*", Role.ADMIN)):
        store.add_user(name, PASSWORD, actor="test")
        store.grant(name, index, role, actor="test")

    def configure(**values):
        config = write_config(tmp_path / "ragqa.toml", **{
            "index": sample, "host": "0.0.0.0", "feedback_db": tmp_path / "feedback.sqlite3",
            **values})
        monkeypatch.setenv("RAGQA_CONFIG", str(config))

    configure()
    return store, sample, configure


def start() -> AppTest:
    at = AppTest.from_file(str(SCRIPT), default_timeout=240).run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="sign-in-name").input(name)
    at.text_input(key="sign-in-password").input(password)
    at.button(key="sign-in-submit").click().run()
    assert not at.exception, at.exception
    return at


def test_a_signed_out_visitor_gets_only_the_sign_in_page(team):
    at = start()
    assert at.title[0].value == "Sign in to ragqa"
    assert not at.chat_input and not at.sidebar.get("file_uploader")
    assert not at.sidebar.selectbox


def test_a_reader_sees_only_readable_indexes_and_no_upload_or_remove(team):
    at = sign_in(start(), "ben")
    assert at.sidebar.selectbox(key="index_choice").options == ["sample"]  # not hr
    assert not at.sidebar.get("file_uploader")
    assert not [b for b in at.sidebar.button if str(b.key).startswith("remove-")]
    assert any("needs the writer role" in c.value for c in at.sidebar.caption)
    assert not [t for t in at.sidebar.text_input if t.key == "index_path"]  # a new index
    assert not at.chat_input(key="question").disabled
    assert any("Signed in as **ben**" in c.value for c in at.sidebar.caption)


def test_a_signed_in_users_rating_records_who_gave_it(team, tmp_path):
    _, _, configure = team
    configure(llm=str(tmp_path / "no-such-llm"))  # the extractive reader answers factoids
    at = sign_in(start(), "ben")
    at.chat_input(key="question").set_value("Under which license was Kestrel-7B released?")
    at = at.run()
    assert not at.exception
    at.feedback[0].set_value(1).run()
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        assert db.execute("SELECT rating, user_name FROM feedback").fetchall() == [(1, "ben")]
    export = json.loads(FeedbackStore(tmp_path / "feedback.sqlite3").to_jsonl())
    assert export["user"] == "ben"


def test_a_writer_uploads_and_removes_and_both_are_in_the_trail(team):
    store, sample, _ = team
    at = sign_in(start(), "ana")
    at.sidebar.file_uploader[0].set_value([NOTE]).run()
    at.button(key="ingest").click().run()
    assert any("Ingested 1 file(s)" in s.value for s in at.success), [e.value for e in at.error]
    uploaded = str((sample.parent / "sample.uploads" / "heron.md").resolve())
    row = next(i for i, c in enumerate(at.sidebar.caption) if c.value.startswith("heron.md"))
    assert row >= 0
    remove_key = next(b.key for b in at.sidebar.button if str(b.key).startswith("remove-")
                      and "heron.md" in str(b.help))
    at.button(key=remove_key).click().run()
    at.button(key="confirm-remove").click().run()
    assert not at.exception
    assert any("Removed heron.md" in s.value for s in at.sidebar.success)
    changes = [(e.actor, e.action, e.index, e.target) for e in store.trail(index="sample")
               if e.action in ("upload", "delete")]
    assert changes == [("ana", "delete", "sample", uploaded), ("ana", "upload", "sample",
                                                               uploaded)]


def test_a_writer_demoted_while_the_page_is_open_is_refused_by_the_server(team):
    store, sample, _ = team
    at = sign_in(start(), "ana")
    at.sidebar.file_uploader[0].set_value([NOTE]).run()
    store.grant("ana", "sample", Role.READER, actor="root")  # the page still shows "Ingest"
    at.button(key="ingest").click().run()
    assert any("Not uploaded: ana is a reader of 'sample'" in e.value for e in at.error)
    assert not (sample.parent / "sample.uploads" / "heron.md").exists()
    assert not at.sidebar.get("file_uploader")
    assert not [e for e in store.trail() if e.action == "upload"]


def test_a_role_taken_away_moves_the_page_to_an_index_still_readable(team):
    store, _, _ = team
    store.grant("ben", "hr", Role.READER, actor="root")
    at = sign_in(start(), "ben")
    assert at.session_state["index_dir"].endswith("sample")
    store.revoke("ben", "sample", actor="root")
    at.sidebar.slider(key="k").set_value(3).run()  # any click runs the page again
    assert at.session_state["index_dir"].endswith("hr")
    assert at.sidebar.selectbox(key="index_choice").options == ["hr"]
    store.revoke("ben", "hr", actor="root")
    at.sidebar.slider(key="k").set_value(4).run()
    assert any("ben may read no knowledge base here" in e.value for e in at.sidebar.error)
    assert not at.chat_input


def test_an_admin_sees_who_has_access_and_the_trail(team):
    store, _, _ = team
    store.record("ana", "upload", "sample", "/kb/sample.uploads/a.md")
    at = sign_in(start(), "root")
    assert at.sidebar.selectbox(key="index_choice").options == ["hr", "sample"]
    captions = [c.value for c in at.sidebar.caption]
    assert "ana — writer" in captions and "ben — reader" in captions
    trail = at.sidebar.dataframe[0].value
    assert list(trail["what"])[:2] == ["upload", "role.grant"]
    # ... and sets ben's role on this index; the change is in the trail under root's name.
    at.sidebar.selectbox(key="role-user").select("ben")
    at.sidebar.selectbox(key="role-role").select("writer")
    at.button(key="role-submit").click().run()
    assert not at.exception
    assert store.grants_of("ben").role_on("sample") == Role.WRITER
    latest = store.trail()[0]
    assert (latest.actor, latest.action, latest.index, latest.target) == (
        "root", "role.grant", "sample", "ben")


def test_a_writer_sees_no_access_panel(team):
    at = sign_in(start(), "ana")
    assert not [e for e in at.sidebar.expander if "Access" in e.label]
    assert not at.sidebar.get("dataframe")


def test_twenty_wrong_passwords_lock_the_name(team):
    at = start()
    for i in range(20):
        at = sign_in(at, "ben", f"wrong password {i}")
    assert "too many wrong passwords for ben" in at.error[0].value
    at = sign_in(at, "ben")  # the right one, too late
    assert at.title[0].value == "Sign in to ragqa"
    assert "locked" in at.error[0].value


def test_sign_out_ends_the_session(team):
    store, _, _ = team
    at = sign_in(start(), "ben")
    token = at.session_state["session_token"]
    assert store.session_grants(token) is not None
    at.button(key="sign-out").click().run()
    assert at.title[0].value == "Sign in to ragqa"
    assert store.session_grants(token) is None


def test_on_loopback_nobody_signs_in_even_with_accounts(team):
    _, _, configure = team
    configure(host="localhost")
    at = start()
    assert [t.value for t in at.title] == ["Ask your documents"]
    assert at.sidebar.get("file_uploader") and at.chat_input(key="question")
    configure(host="localhost", sign_in="always")  # a setting asks for it on loopback too
    assert start().title[0].value == "Sign in to ragqa"


def test_ragqa_app_refuses_0_0_0_0_without_accounts_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "app.cli", "app", "--host", "0.0.0.0",
                          "--index", str(tmp_path / "indexes" / "kb")], capture_output=True,
                         text=True, cwd=ROOT, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2, out
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: refusing to serve the chat on 0.0.0.0 with no accounts")
    assert "ragqa users add NAME --index" in line


def test_a_request_through_a_proxy_to_a_loopback_ui_must_sign_in():
    from app.config import AppSettings, Settings
    from app.ui.signin import sign_in_required

    on_loopback = Settings()
    assert not sign_in_required(on_loopback, {"Host": "localhost:8501"})
    assert sign_in_required(on_loopback, {"X-Forwarded-For": "203.0.113.9"})
    assert sign_in_required(on_loopback, {"forwarded": "for=203.0.113.9"})
    assert sign_in_required(Settings(app=AppSettings(host="0.0.0.0")), {})
    assert sign_in_required(Settings(app=AppSettings(sign_in="always")), {})
