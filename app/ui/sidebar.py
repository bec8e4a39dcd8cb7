"""The sidebar: knowledge base (choose, create, upload, info), retrieval and decoding controls,
the model in use, feedback export and clearing the chat.

    index_dir = choose_index(base, grants)      # a folder; it may not exist yet (new)
    s = controls(base, index_dir)               # Settings with the sidebar's values

Only the indexes the user may read are offered, and upload and remove controls only to a
writer; the changes themselves go through `app.services.changes.IndexChanges`, which checks
the role (read again on each run) before anything is written, so a page drawn before a role
was taken away cannot change the index either.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.config import Settings, with_overrides
from app.services.access import ALL_INDEXES, AccessDenied, Action, Grants, index_name
from app.services.changes import IndexChanges
from app.services.cpu import describe_cpu
from app.services.uploads import Upload, UploadPolicy, UploadResult, uploads_dir_for
from app.ui import resources
from app.ui.chat import clear_chat, errors_shown, escape_md
from ingest.store import Location, failed_files, index_exists, is_postgres_url
from ingest.store.filters import FilterError, MetadataFilter
from retrieval.settings import MODES as RETRIEVAL_MODES

# The default first: it is the one most people want.
MODES = ("hybrid", *(m for m in RETRIEVAL_MODES if m != "hybrid"))
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"


def index_candidates(base_dir: Path) -> list[Path]:
    """Index folders (those holding a manifest) directly under `base_dir`, by name."""
    if not base_dir.is_dir():
        return []
    return sorted((p.resolve() for p in base_dir.iterdir() if index_exists(p)),
                  key=lambda p: p.name)


class NoIndexAllowed(AccessDenied):
    """The signed-in user may read none of the indexes."""


def choose_index(base: Settings, grants: Grants) -> Location:
    """Pick an index beside the configured one that `grants` may read, or (with a writer's
    role on every index) type a path, existing or new; a PostgreSQL index is the one
    configured."""
    state = st.session_state
    if is_postgres_url(base.index):
        st.subheader("Knowledge base")
        grants.require(index_name(base.index), Action.ASK)
        st.caption(f"PostgreSQL: {base.index}")
        return base.index
    base_dir = Path(base.index).resolve().parent
    options = [p for p in index_candidates(base_dir) if grants.may(p.name, Action.ASK)]
    configured = Path(base.index).resolve()
    if grants.may(configured.name, Action.ASK):
        state.setdefault("index_dir", str(configured))
    chosen = state.get("index_dir")
    if chosen is None or not grants.may(Path(chosen).name, Action.ASK):
        # Nothing chosen yet, or the role on the chosen index was taken away meanwhile.
        if not options:
            raise NoIndexAllowed(f"{grants.who} may read no knowledge base here; ask an admin "
                                 "for a role on one", "index_not_allowed")
        state["index_dir"] = str(options[0])
    current = Path(state["index_dir"])
    if current not in options:
        options.append(current)
    # The widget's value lives in session state, so a typed path can select it too.
    if state.get("index_choice") not in options:
        state["index_choice"] = current
    st.subheader("Knowledge base")
    st.selectbox(
        "Index", options, key="index_choice",
        format_func=lambda p: p.name if p.parent == base_dir else str(p),
        on_change=lambda: state.update(index_dir=str(state["index_choice"])),
        help=f"Index folders in {base_dir}",
    )
    if grants.may(ALL_INDEXES, Action.CHANGE):  # a new folder is a new index: any name
        st.text_input(
            "Open or create a folder", key="index_path", placeholder=str(base_dir / "new-kb"),
            on_change=_open_typed_path, help="An existing index, or a new folder: upload files "
            "below to create it.",
        )
    return Path(state["index_dir"])


def _open_typed_path() -> None:
    typed = st.session_state.get("index_path", "").strip()
    if typed:
        chosen = Path(typed).expanduser().resolve()
        st.session_state["index_dir"] = str(chosen)
        st.session_state["index_choice"] = chosen
        st.session_state["index_path"] = ""


def index_info(s: Settings, index_dir: Location, changes: IndexChanges) -> None:
    """Documents, chunks and the embedding model of the index, or that it is still empty; each
    file with a remove button (and a confirmation) for a writer."""
    state = st.session_state
    confirmed = state.pop("remove_now", None)
    if confirmed is not None:  # the confirmation was clicked in the page drawn before
        uploaded = Path(confirmed).parent == uploads_dir_for(index_dir).resolve()
        try:
            changes.remove(s.ingest, [confirmed])
            if uploaded:  # an upload made by mistake should not come back
                Path(confirmed).unlink(missing_ok=True)
            state["last_removed"] = confirmed
        except AccessDenied as exc:
            st.error(f"Not removed: {exc}")
    if not index_exists(index_dir):
        st.info("New knowledge base: upload files below to create it.")
        return
    index = resources.get_index(index_dir)
    m = index.manifest
    st.markdown(f"**{m.num_files}** documents · **{m.num_chunks}** chunks")
    st.caption(f"Embedding: {m.embedding_model} · chunk {m.chunk_size}/{m.chunk_overlap} · "
               f"{m.index_type} · updated {m.updated_at}")
    removed = state.pop("last_removed", None)
    if removed:
        st.success(f"Removed {Path(removed).name} from the knowledge base.")
    with st.expander(f"Files ({m.num_files})", expanded=bool(state.get("confirm_remove"))):
        for i, f in enumerate(index.files()):
            if not changes.allowed:
                st.caption(f"{Path(f.source).name} — {f.num_chunks} chunks")
                continue
            name, remove = st.columns([5, 1], vertical_alignment="center")
            name.caption(f"{Path(f.source).name} — {f.num_chunks} chunks")
            if remove.button(":material/delete:", key=f"remove-{i}", help=f"Remove "
                             f"{Path(f.source).name} from the knowledge base"):
                state["confirm_remove"] = f.source
        pending = state.get("confirm_remove") if changes.allowed else None
        if pending:
            uploaded = Path(pending).parent == uploads_dir_for(index_dir).resolve()
            st.warning(f"Remove **{escape_md(Path(pending).name)}** from the knowledge base? "
                       "Its answers go with it" + (", and the uploaded copy is deleted."
                                                   if uploaded else
                                                   " (the file itself stays where it is)."))
            yes, no = st.columns(2)
            # Carried out at the top of the next run, with the roles read then.
            yes.button("Remove", type="primary", key="confirm-remove",
                       on_click=lambda: state.update(remove_now=state.pop("confirm_remove", None)))
            if no.button("Cancel", key="cancel-remove"):
                state.pop("confirm_remove")
                st.rerun()
    failed = failed_files(index_dir)
    if failed:  # not in the index: the next ingest tries them again
        with st.expander(f"Could not be ingested ({len(failed)})"):
            for f in failed:
                st.caption(f"{escape_md(Path(f.source).name)} — {escape_md(f.reason)}")


def upload_panel(s: Settings, index_dir: Location, changes: IndexChanges) -> None:
    """File uploader (for a writer), an ingest button with a progress bar, and the last run's
    outcome."""
    if is_postgres_url(index_dir):
        st.caption("Uploads are kept beside an index folder; add documents to a PostgreSQL "
                   "index with `ragqa ingest PATH --index URL`.")
        return
    policy = UploadPolicy(max_bytes=s.app.upload_max_mb * 2**20)
    state = st.session_state
    n = state.setdefault("uploader_n", 0)
    queued = state.pop("upload_now", None)
    if queued:  # "Ingest" was clicked in the page drawn before: the role is checked now
        bar = st.progress(0.0, text="Saving the files…")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0,
                         text=f"{stage}: {done}/{total}")

        with errors_shown("Ingesting the files"):
            try:
                result = changes.upload(queued, resources.make_ingestor(s, index_dir), policy,
                                        progress)
            except AccessDenied as exc:
                bar.empty()
                st.error(f"Not uploaded: {exc}")
            else:
                state["last_ingest"] = result
                state["uploader_n"] = n + 1  # a fresh uploader: the files are in the index now
                st.rerun()
    if not changes.allowed:
        st.caption("You may ask questions here; adding and removing documents needs the "
                   "writer role.")
        return
    files = st.file_uploader(
        f"Add documents ({', '.join(policy.types)}; up to {s.app.upload_max_mb} MB each)",
        type=policy.types, accept_multiple_files=True, key=f"uploader-{n}",
        max_upload_size=s.app.upload_max_mb,
    )
    if files:
        st.button(f"Ingest {len(files)} file(s)", type="primary", key="ingest",
                  on_click=lambda: state.update(upload_now=[
                      Upload(f.name, f.getvalue()) for f in state.get(f"uploader-{n}") or []]))
    last: UploadResult | None = state.get("last_ingest")
    if last is not None:
        show_upload_result(last)


def show_upload_result(result: UploadResult) -> None:
    """What the last upload did: files ingested (or already there), and each failure's reason."""
    report = result.report
    if report is not None and (report.ingested or report.unchanged):
        names = [Path(p).name for p in report.ingested + report.unchanged]
        unchanged = f"; {len(report.unchanged)} unchanged" if report.unchanged else ""
        st.success(f"Ingested {len(report.ingested)} file(s), {report.chunks_added} new chunks "
                   f"in {report.seconds:.1f} s{unchanged}: " + escape_md(", ".join(names)))
    if report is not None and report.partial:
        st.warning("Partly ingested:  \n" + "  \n".join(
            f"**{escape_md(Path(f.source).name)}** — {escape_md(f.reason)}"
            for f in report.partial))
    if result.failures:
        st.error("Not ingested:  \n" + "  \n".join(
            f"**{escape_md(Path(f.source).name)}** — {escape_md(f.reason)}"
            for f in result.failures))


def controls(base: Settings, index_dir: Location) -> Settings:
    """Retrieval and decoding widgets; returns the settings they make."""
    r, g = base.retrieval, base.generation
    st.subheader("Retrieval")
    mode = st.radio("Mode", MODES, index=MODES.index(r.mode), horizontal=True,
                    key="mode")
    k = st.slider("Passages (top-k)", 1, 20, min(r.k, 20), key="k")
    rerank = st.toggle("Rerank with a cross-encoder", value=r.reranker is not None,
                       key="rerank")
    reranker = None
    if rerank:
        reranker = st.text_input("Reranker model", value=r.reranker or DEFAULT_RERANKER,
                                 key="reranker").strip() or None
    filters = filter_controls(index_dir)
    st.subheader("Decoding")
    temperature = st.slider("Temperature (0 = greedy)", 0.0, 2.0, float(g.temperature), 0.05,
                            key="temperature")
    top_p = st.slider("Top-p", 0.05, 1.0, float(g.top_p), 0.05, key="top_p")
    top_k = st.number_input("Top-k (0 = off)", 0, 500, int(g.top_k), key="top_k")
    max_new = st.slider("Max new tokens", 16, 2048, min(g.max_new_tokens, 2048), 16,
                        key="max_new_tokens")
    changes = dict(mode=mode, k=k, reranker=reranker, temperature=temperature, top_p=top_p,
                   top_k=int(top_k), max_new_tokens=max_new, index=index_dir,
                   filters=filters)
    if index_exists(index_dir):
        # Questions must be embedded by the model the index was built with.
        changes["embedding"] = resources.get_index(index_dir).manifest.embedding_model
    return with_overrides(base, **changes)


def filter_controls(index_dir: Location) -> tuple[str, ...]:
    """Metadata conditions from the widgets (`ingest.store.filters`): the kinds and languages
    the index holds, and any others typed as `team=infra; date>=2026-01-01`."""
    if not index_exists(index_dir):
        return ()
    values: dict[str, set[str]] = {"kind": set(), "language": set()}
    for record in resources.get_index(index_dir).files():
        for key, found in values.items():
            found.update(record.metadata.get(key, ()))
    conditions = []
    with st.expander("Only documents…"):
        for key, label in (("kind", "Kinds"), ("language", "Languages")):
            chosen = st.multiselect(label, sorted(values[key]), key=f"filter-{key}",
                                    placeholder="all")
            if chosen:
                conditions.append(f"{key}={','.join(chosen)}")
        typed = st.text_input("Other conditions", key="filter-other",
                              placeholder="team=infra; ingested>=2026-01-01",
                              help="Metadata from Markdown front matter or a NAME.meta.json "
                              "beside the file; `;` between conditions, all must hold.")
        extra = [c.strip() for c in typed.split(";") if c.strip()]
        try:
            MetadataFilter.parse(extra)
            conditions += extra
        except FilterError as exc:
            st.error(str(exc))
    return tuple(conditions)


def model_info(s: Settings) -> None:
    """The LLM and its device; while it loads (in the background), what is happening. Called
    last on the page, so waiting here holds up nothing else."""
    box = st.empty()
    llm = resources.wait_for_llm(s, lambda message: box.info(message, icon=resources.WAIT_ICON))
    box.markdown(f"**LLM:** {llm.name}  \n**Device:** {llm.device}")
    st.caption(f"Embedding: {s.ingest.embedder.embedding}  \nCPU: {describe_cpu()}")


def feedback_export(s: Settings) -> None:
    """A download button for every rating as JSONL, and where the database is."""
    store = resources.get_feedback_store(s)
    count = store.count()
    st.download_button(
        f"Export feedback ({count} ratings, JSONL)", data=store.to_jsonl().encode("utf-8"),
        file_name="ragqa-feedback.jsonl", mime="application/jsonl", disabled=count == 0,
        key="export_feedback",
    )
    st.caption(f"Stored in {resources.feedback_db_path(s)}")


def clear_button() -> None:
    st.button("Clear chat", on_click=clear_chat, key="clear_chat", icon=":material/delete:")
