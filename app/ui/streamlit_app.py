"""The ragqa chat UI (Streamlit script). Start it with `ragqa app [--index DIR] [--port N]`.

Settings come from the environment the server inherits (RAGQA_CONFIG names the TOML file,
RAGQA_* override it); the sidebar then adjusts retrieval and decoding per session. Each part
of the page shows its own errors, so a broken index does not hide the feedback export.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts this file's folder first on sys.path, not the project root.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(1, str(_ROOT))

import streamlit as st  # noqa: E402

from app.services.access import OPEN_ACCESS  # noqa: E402
from app.services.changes import IndexChanges  # noqa: E402
from app.ui import admin, chat, resources, sidebar, signin  # noqa: E402
from ingest.store import index_exists  # noqa: E402

st.set_page_config(page_title="ragqa · 文档问答", page_icon=":material/forum:", layout="wide")


def main() -> None:
    base = None
    with chat.errors_shown("Reading the settings"):
        base = resources.base_settings()
    if base is None:
        st.stop()
    accounts, grants = None, None
    with chat.errors_shown("Opening the accounts"):
        accounts = resources.get_accounts(base)
        grants = signin.signed_in(base, accounts)
    if grants is None:
        st.stop()
    s, index_dir, store = base, None, None
    with st.sidebar:
        signin.sign_out_button(grants, accounts)
        with chat.errors_shown("Opening the knowledge base"):
            index_dir = sidebar.choose_index(base, grants)
        if index_dir is None:
            st.stop()
        changes = IndexChanges(grants, index_dir, accounts)
        with chat.errors_shown("Opening the knowledge base"):
            sidebar.index_info(base, index_dir, changes)
        with chat.errors_shown("Uploading"):
            sidebar.upload_panel(base, index_dir, changes)
        with chat.errors_shown("Managing access"):
            admin.access_panel(grants, index_dir, accounts)
        with chat.errors_shown("Reading the controls"):
            s = sidebar.controls(base, index_dir)
        # Filled after the chat: loading the LLM must not hold up drawing the conversation.
        model_box = st.container()
        st.subheader("Feedback")
        with chat.errors_shown("Opening the feedback store"):
            store = resources.get_feedback_store(s)
        export_box = st.container()
        sidebar.clear_button()

    st.title("Ask your documents")
    st.caption(f"Knowledge base: {index_dir} · answers cite their sources as [n]")
    ready = index_exists(index_dir)
    if not ready:
        st.info("This knowledge base is empty: upload PDF, text, Markdown or HTML files in the "
                "sidebar to start.")
    turns = chat.session_turns()
    for turn in turns:
        chat.render_turn(turn, store)
    question = st.chat_input("Ask a question · 用中文或英文提问", disabled=not ready,
                             key="question")
    if question and question.strip():
        with st.chat_message("user"):
            st.markdown(chat.escape_md(question))
        with st.chat_message("assistant"):
            user = "" if grants is OPEN_ACCESS else grants.who
            turn = chat.ask(question.strip(), turns, s, index_dir, user=user)
            chat.render_answer(turn, store)

    with model_box:
        st.subheader("Model")
        with chat.errors_shown("Loading the language model"):
            sidebar.model_info(s)
    if store is not None:
        with export_box, chat.errors_shown("Exporting feedback"):
            sidebar.feedback_export(s)

main()
