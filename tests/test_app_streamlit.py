"""The chat app's logic, driven through Streamlit's AppTest with the real index and LLM."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest
from app_fixtures import ROOT, sample_index_copy, write_config
from streamlit.testing.v1 import AppTest

from app.commands.app import check_port_free, streamlit_argv, streamlit_env
from app.config import AppSettings, Settings
from ingest.core.errors import RagqaError

SCRIPT = ROOT / "app" / "ui" / "streamlit_app.py"
QUESTION = "Under which license was Kestrel-7B released?"


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory, embedder):
    return sample_index_copy(tmp_path_factory, embedder,
                             tmp_path_factory.mktemp("ui") / "indexes" / "sample")


@pytest.fixture
def configure(tmp_path, monkeypatch, sample_index):
    """Points the app at a config file, as `ragqa app --config` does through RAGQA_CONFIG."""

    def make(**values):
        # The default LLM: the short-answer prompt and the abstention model are fitted to it.
        values = {"index": sample_index, "max_new_tokens": 24,
                  "feedback_db": tmp_path / "feedback.sqlite3", **values}
        monkeypatch.setenv("RAGQA_CONFIG", str(write_config(tmp_path / "ragqa.toml", **values)))
        return values

    return make


def start() -> AppTest:
    at = AppTest.from_file(str(SCRIPT), default_timeout=240).run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question).run()
    assert not at.exception, at.exception
    return at


def assistant_text(at: AppTest, i: int = -1) -> str:
    msg = [m for m in at.chat_message if m.name == "assistant"][i]
    return "\n".join(str(md.value) for md in msg.markdown)


@pytest.mark.slow  # runs the app, which loads the LLM
def test_question_gets_a_streamed_answer_with_numbered_source_cards(configure):
    configure()
    at = ask(start(), QUESTION)
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert not at.error, [e.value for e in at.error]
    turn = at.session_state["turns"][0]
    assert turn.answer is not None and not turn.answer.abstained
    assert assistant_text(at).strip()
    labels = [e.label for e in at.expander if e.label.startswith("[")]
    assert labels, "no source cards"
    # Cards show the cited passages, or when the model cited none, the passages it was given.
    shown = turn.answer.citations or [h.chunk for h in turn.answer.hits]
    assert labels[0].startswith(f"[{getattr(shown[0], 'n', 1)}] ")
    assert shown[0].source.rsplit("/", 1)[-1] in labels[0]
    assert "score" in labels[0]
    assert any("answered in" in c.value for c in at.caption)
    model = "\n".join(str(m.value) for m in at.sidebar.markdown)
    assert "builtin:qwen2.5-0.5b" in model and "**Device:** cpu" in model


@pytest.mark.slow  # runs the app, which loads the LLM
def test_follow_up_question_sends_the_conversation_as_history(configure):
    # The heuristic rewrite shows the history arrived without a second LLM call per question.
    configure(rewrite="heuristic")
    at = ask(ask(start(), QUESTION), "And how many GPUs were used for that run?")
    assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2
    _, second = at.session_state["turns"]
    assert second.error is None
    # The engine rewrote the follow-up with the history it got: "that run" became Kestrel-7B's.
    assert second.answer.standalone_question != second.question
    assert "Kestrel" in second.answer.standalone_question
    assert any("Searched for:" in c.value for c in at.caption)


@pytest.mark.slow  # runs the app, which loads the LLM
def test_abstention_is_shown_as_such(configure):
    # No passage can reach a cosine relevance of 0.99: retrieval returns nothing to answer from.
    configure(min_score=0.99)
    at = ask(start(), "What did the CEO eat for breakfast on the launch day?")
    turn = at.session_state["turns"][0]
    assert turn.answer.abstained
    assert any("No answer found in the documents" in w.value for w in at.warning)
    assert not [e for e in at.expander if e.label.startswith("[")]


@pytest.mark.slow  # runs the app, which loads the LLM
def test_thumbs_up_and_comment_are_stored_and_exported(configure, tmp_path):
    configure()
    at = ask(start(), QUESTION)
    at.feedback[0].set_value(1).run()
    at.text_input(key=f"comment-{at.session_state['turns'][0].id}").input("正确 exactly").run()
    assert not at.exception
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as db:
        rows = db.execute(
            "SELECT rating, comment, question, settings, citations FROM feedback").fetchall()
    assert len(rows) == 1
    rating, comment, question, settings, sources = rows[0]
    assert (rating, comment, question) == (1, "正确 exactly", QUESTION)
    assert json.loads(settings)["llm"] == "builtin:qwen2.5-0.5b"
    # The passages shown under the answer are stored with it (cited ones, else those given).
    turn = at.session_state["turns"][0]
    expected = [c.chunk_id for c in turn.answer.citations] or [h.chunk.chunk_id
                                                              for h in turn.answer.hits]
    assert [c["chunk_id"] for c in json.loads(sources)] == expected
    export = at.sidebar.get("download_button")[0]
    assert "1 ratings" in export.proto.label


@pytest.mark.slow  # runs the app, which loads the LLM
def test_sidebar_settings_apply_and_clear_chat_empties_the_conversation(configure):
    configure()
    at = start()
    at.sidebar.radio(key="mode").set_value("bm25")
    at.sidebar.slider(key="k").set_value(2)
    at = ask(at, QUESTION)
    turn = at.session_state["turns"][0]
    assert turn.error is None
    assert (turn.settings["mode"], turn.settings["k"]) == ("bm25", 2)
    assert 1 <= len(turn.answer.hits) <= 2
    assert at.chat_message
    at.button(key="clear_chat").click().run()
    assert not at.chat_message
    assert at.session_state["turns"] == []


@pytest.mark.slow  # runs the app, which loads the LLM
def test_upload_creates_a_new_index_and_lists_failures(configure, tmp_path):
    new_index = tmp_path / "indexes" / "fresh"
    configure(index=new_index)
    at = start()
    assert at.chat_input(key="question").disabled  # nothing to ask about yet
    assert at.sidebar.get("file_uploader"), "the uploader is missing"
    uploader = at.file_uploader[0]
    uploader.set_value([
        ("报告 2024.md", "# 年度报告\n\n2024 年收入增长百分之十二。".encode(), "text/markdown"),
        ("broken.pdf", b"%PDF-1.4 not a real pdf", "application/pdf"),
    ]).run()
    at.button(key="ingest").click().run()
    assert not at.exception
    assert any("Ingested 1 file(s)" in s.value and "报告 2024.md" in s.value for s in at.success)
    assert any("broken.pdf" in e.value for e in at.error)
    assert (new_index / "manifest.json").is_file()
    assert (tmp_path / "indexes" / "fresh.uploads" / "报告 2024.md").is_file()
    assert not at.chat_input(key="question").disabled


@pytest.mark.slow  # runs the app, which loads the LLM
def test_an_unavailable_reranker_is_an_error_message(configure):
    configure()
    at = start()
    at.sidebar.toggle(key="rerank").set_value(True).run()
    at.sidebar.text_input(key="reranker").set_value("no-such-org/no-such-reranker")
    at = ask(at, QUESTION)
    assert any("no-such-org/no-such-reranker" in e.value for e in at.error)
    assert not at.exception


@pytest.mark.slow  # runs the app, which loads the LLM
def test_index_chooser_lists_indexes_and_opens_a_typed_folder(
        configure, sample_index, tmp_path, tmp_path_factory, embedder):
    configure()
    second = sample_index.parent / "second"
    if not second.exists():
        sample_index_copy(tmp_path_factory, embedder, second)
    (sample_index.parent / "not-an-index").mkdir(exist_ok=True)
    at = start()
    choice = at.sidebar.selectbox(key="index_choice")
    assert choice.options == ["sample", "second"]  # folders without a manifest are not listed
    choice.select(second.resolve()).run()
    assert at.session_state["index_dir"] == str(second.resolve())
    assert any("documents" in str(m.value) for m in at.sidebar.markdown)
    at.sidebar.text_input(key="index_path").input(str(tmp_path / "brand-new")).run()
    assert at.session_state["index_dir"] == str((tmp_path / "brand-new").resolve())
    assert any("New knowledge base" in i.value for i in at.sidebar.info)
    assert at.chat_input(key="question").disabled


@pytest.mark.slow  # runs the app, which loads the LLM
def test_a_corrupt_index_is_an_error_message_not_a_traceback(configure, tmp_path):
    broken = tmp_path / "indexes" / "broken"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    configure(index=broken)
    at = start()
    assert at.error and any("broken" in e.value for e in at.error)
    assert not at.exception


@pytest.mark.slow  # runs the app, which loads the LLM
def test_an_invalid_setting_is_an_error_message(configure):
    configure(k=0)
    at = start()
    assert any("'k'" in e.value for e in at.error)
    assert not at.exception


def test_ragqa_app_runs_streamlit_headless_on_localhost_without_telemetry(tmp_path):
    argv = streamlit_argv(Settings(app=AppSettings(port=8765, upload_max_mb=7)))
    opts = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(SCRIPT)
    assert opts["--server.address"] == "localhost"
    assert opts["--server.port"] == "8765"
    assert opts["--server.headless"] == "true"
    assert opts["--browser.gatherUsageStats"] == "false"
    assert opts["--server.maxUploadSize"] == "7"
    assert opts["--client.showErrorDetails"] == "none"
    env = streamlit_env(tmp_path / "c.toml", tmp_path / "idx", environ={"PATH": "/bin"})
    assert env["RAGQA_CONFIG"] == str((tmp_path / "c.toml").resolve())
    assert env["RAGQA_INDEX"] == str(tmp_path / "idx")
    assert "RAGQA_INDEX" not in streamlit_env(None, None, environ={})


def test_ragqa_app_refuses_a_busy_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(RagqaError, match=f"port {port} .* in use"):
            check_port_free(port)
        out = subprocess.run([sys.executable, "-m", "app.cli", "app", "--port", str(port)],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2
    assert "--port" in out.stderr and "Traceback" not in out.stderr


def test_generation_is_serialised_between_sessions():
    from app.ui.resources import generation_slot

    waited, inside = threading.Event(), []

    def second_user():
        with generation_slot(on_wait=waited.set):
            inside.append("second")

    with generation_slot(on_wait=lambda: pytest.fail("the first user must not wait")):
        inside.append("first")
        t = threading.Thread(target=second_user)
        t.start()
        assert waited.wait(5), "the second user did not queue behind the first"
        assert inside == ["first"]  # still blocked while the first answer is generated
    t.join(5)
    assert inside == ["first", "second"]


def test_model_output_is_shown_literally():
    from app.ui.chat import escape_md

    shown = escape_md("costs $5 and $6, *not* <b>bold</b> # 标题 [1]")
    assert "\\$5" in shown and "\\*not\\*" in shown and "\\<b\\>" in shown
    assert "标题" in shown and "\\[1\\]" in shown
