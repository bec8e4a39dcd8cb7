"""No answer cites a document its filter excludes (issue 31): a request's metadata filters bind
every retriever the answer uses, the cross-language fallback's included, through the API, the
CLI and the chat UI.

The index holds two teams' handbooks in two languages (Markdown with front matter, a Word file
and two PDFs with sidecar metadata) on the same topics with different figures, so that most
questions have a tempting answer in a document the filter leaves out: another team's, or one
in the other language, which an English question filtered to `language=zh` (or the reverse)
reaches through the fallback if its retriever is not bound by the request's filters.

The fallback's translations come from a dictionary double of the LLM (`Translator`): every
question of this corpus is translated exactly, so the fallback searches the other language with
the best question it could get, on every request it is tried, at no cost in decoding time. The
short answers are the real extractive reader's over the real embedder's retrieval.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from api_fixtures import ThreadServer, api_settings
from app_fixtures import ROOT, build_index, write_config
from cli_helpers import ragqa
from generation_fixtures import ScriptedLLM
from ingest_fixtures import docx_bytes, pdf_bytes, write
from streamlit.testing.v1 import AppTest

from app.api.state import ServerState
from ingest.store import open_store
from ingest.store.filters import MetadataFilter

DOCUMENTS = {
    "infra_en.md": """---
team: infra
---
# Infra team handbook

GPU quota: each infra engineer may reserve 8 GPUs per week for training jobs.

On-call: the infra on-call rotation hands over every Monday at 09:00.

Machine room: the machine room must be kept at 18 degrees Celsius.

Certificates: TLS certificates are rotated every 90 days.
""",
    "sales_en.md": """---
team: sales
---
# Sales team handbook

GPU quota: each sales engineer may reserve 2 GPUs per week for customer demos.

Travel: sales trips must be booked 21 days in advance.

Backups: CRM backups are kept for 7 days.

Targets: each account manager must sign 12 new customers per quarter.
""",
    "infra_zh.md": """---
team: infra
---
# 基础设施团队手册

GPU 配额：基础设施团队每位工程师每周可以预留 6 块 GPU 用于训练任务。

机房：机房温度必须保持在 22 摄氏度。

事故复盘：事故复盘必须在 5 个工作日内完成。
""",
    "sales_zh.md": """---
team: sales
---
# 销售团队手册

GPU 配额：销售团队每位工程师每周可以预留 3 块 GPU 用于客户演示。

值班：销售值班每周四下午两点交接。

折扣：销售无需审批最多可以给予百分之十五的折扣。

差旅：销售出差必须提前 14 天预订。
""",
}
# Office files and PDFs take their team from a sidecar NAME.meta.json.
# ingest_fixtures.docx_bytes: port 8443 in both languages, backups kept 三十天; its Chinese
# letters, counted one word each, make it a Chinese document.
FALCON_DOCX = "falcon.docx"
SALES_PDF = ["销售季度目标", "每位客户经理每个季度必须新签 40 个客户。",
             "演示网关默认监听 9090 端口。"]
INFRA_PDF = ["Incident reviews", "Incident reviews must be written within 3 working days.",
             "Each incident gets one owner from the infra team."]

# (English, Chinese, the documents that answer it): each topic is answered by one document and
# tempted by others, or answered differently by two teams or in two languages.
QUESTIONS = [
    ("How many GPUs may each engineer reserve per week?", "每位工程师每周可以预留多少块 GPU？",
     {"infra_en.md", "sales_en.md", "infra_zh.md", "sales_zh.md"}),
    ("When does the on-call rotation hand over?", "值班什么时候交接？",
     {"infra_en.md", "sales_zh.md"}),
    ("What temperature must the machine room be kept at?", "机房温度必须保持在多少度？",
     {"infra_en.md", "infra_zh.md"}),
    ("How often are TLS certificates rotated?", "TLS 证书多久轮换一次？", {"infra_en.md"}),
    ("How many days in advance must trips be booked?", "出差必须提前多少天预订？",
     {"sales_en.md", "sales_zh.md"}),
    ("How long are backups kept?", "备份保留多少天？", {"sales_en.md", FALCON_DOCX}),
    ("How many new customers must each account manager sign per quarter?",
     "每位客户经理每个季度必须新签多少个客户？", {"sales_en.md", "sales_targets.pdf"}),
    ("Within how many working days must incident reviews be written?",
     "事故复盘必须在几个工作日内完成？", {"incident_reviews.pdf", "infra_zh.md"}),
    ("Which port does the gateway listen on by default?", "网关默认监听哪个端口？",
     {FALCON_DOCX, "sales_targets.pdf"}),
    ("What is the largest discount sales may give without approval?",
     "销售无需审批最多可以给予多少折扣？", {"sales_zh.md"}),
]
ASKED = [(question, answered_by) for en, zh, answered_by in QUESTIONS
         for question in (en, zh)]
FILTERS = [
    ("team=infra",), ("team=sales",), ("language=zh",), ("language=en",),
    ("team=infra", "language=zh"), ("team=infra", "language=en"),
    ("team=sales", "language=zh"), ("team=sales", "language=en"),
    ("team!=infra", "kind=md"), ("team=infra", "kind=pdf,docx"),
]
# The leaking direction of the CLI and UI tests: an English question filtered to Chinese
# documents, whose unfiltered answer is in an English one (2 GPUs, 12 customers: sales_en.md).
GPUS_EN, GPUS_ZH, _ = QUESTIONS[0]
CUSTOMERS_EN, CUSTOMERS_ZH, _ = QUESTIONS[6]


class Translator(ScriptedLLM):
    """The LLM as the cross-language fallback uses it: this corpus's questions translated
    exactly, both ways; anything else gets no translation (an empty reply)."""

    name = "translator"

    def __init__(self) -> None:
        super().__init__("")
        self.table = {en: zh for en, zh, _ in QUESTIONS} | {zh: en for en, zh, _ in QUESTIONS}

    def _next(self, messages) -> str:
        self.calls.append(messages)
        return self.table.get(messages[-1]["content"].strip(), "")


def admits(metadata: dict[str, dict], filters) -> set[str]:
    """The names of the documents `filters` admit, by the one rule of `ingest.store.filters`."""
    where = MetadataFilter.parse(list(filters))
    return {name for name, meta in metadata.items() if where.matches(meta)}


def cited_names(extra: dict) -> set[str]:
    """Every document an answer's `ragqa` field points at: its citations and its evidence (the
    passage the short answer was copied from)."""
    names = {Path(c["source"]).name for c in extra["citations"]}
    if extra["evidence"] is not None:
        names.add(Path(extra["evidence"]["source"]).name)
    return names


@pytest.fixture(scope="module")
def teams(tmp_path_factory, embedder) -> tuple[Path, dict[str, dict]]:
    """The index folder (named `teams`, the API's model name) and each document's metadata as
    the store keeps it."""
    root = tmp_path_factory.mktemp("filter-leaks")
    files = [write(root / "kb" / name, text) for name, text in DOCUMENTS.items()]
    for name, data, team in [(FALCON_DOCX, docx_bytes(), "infra"),
                             ("sales_targets.pdf", pdf_bytes([SALES_PDF], font="STSong-Light"),
                              "sales"),
                             ("incident_reviews.pdf", pdf_bytes([INFRA_PDF]), "infra")]:
        files.append(write(root / "kb" / name, data))
        write(root / "kb" / f"{name}.meta.json", json.dumps({"team": team}))
    index = build_index(files, root / "teams", embedder)
    store = open_store(index)
    try:
        metadata = {Path(f.source).name: f.metadata for f in store.files()}
    finally:
        store.close()
    languages = {name: meta["language"] for name, meta in metadata.items()}
    assert languages == {"infra_en.md": ["en"], "sales_en.md": ["en"], "infra_zh.md": ["zh"],
                         "sales_zh.md": ["zh"], FALCON_DOCX: ["zh"],
                         "sales_targets.pdf": ["zh"], "incident_reviews.pdf": ["en"]}
    assert all(meta["team"] in (["infra"], ["sales"]) for meta in metadata.values())
    return index, metadata


def chat(client, question: str, filters=(), stream: bool = False) -> dict:
    """The `ragqa` field of one answer, whole or from the last event of a stream."""
    body = {"model": "teams", "messages": [{"role": "user", "content": question}],
            "stream": stream}
    if filters:
        body["filters"] = {"metadata": list(filters)}
    reply = client.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    if not stream:
        return reply.json()["ragqa"]
    events = [json.loads(line[6:]) for line in reply.text.splitlines()
              if line.startswith("data: {")]
    assert not any("error" in e for e in events), events
    return next(e["ragqa"] for e in reversed(events) if "ragqa" in e)


def test_200_filtered_chat_requests_cite_no_document_their_filter_excludes(teams, embedder):
    index, metadata = teams
    translator = Translator()
    state = ServerState(api_settings(embedder, reader="extractive"), [index], llm=translator)
    with ThreadServer(state) as server, server.client() as client:
        # Where each question's answer comes from unfiltered: what a leak would look like.
        unfiltered = {question: cited_names(chat(client, question)) for question, _ in ASKED}
        translator.calls.clear()
        requests = cited = answered = crossed = tempted = would_cite = 0
        leaks = []
        start = time.perf_counter()
        for i, filters in enumerate(FILTERS):
            allowed = admits(metadata, filters)
            for j, (question, answered_by) in enumerate(ASKED):
                extra = chat(client, question, filters, stream=(i + j) % 4 == 0)
                requests += 1
                cited += len(extra["citations"])
                answered += not extra["abstained"]
                crossed += not extra["abstained"] and extra["standalone_question"] != question
                tempted += bool(answered_by - allowed)
                would_cite += bool(unfiltered[question] - allowed)
                if cited_names(extra) - allowed:
                    leaks.append((filters, question, sorted(cited_names(extra) - allowed)))
        seconds = time.perf_counter() - start
    print(f"\n{requests} filtered chat requests in {seconds:.1f} s: {cited} citations, "
          f"{len(leaks)} requests citing a document their filter excludes; {answered} answered, "
          f"{crossed} of them from the other language ({len(translator.calls)} fallback "
          f"translations); {tempted} with an answer in an excluded document, {would_cite} "
          "citing one unfiltered")
    assert requests == 200
    assert leaks == [], leaks
    # Not vacuous: answers were cited, the filters kept tempting answers out, and the fallback
    # searched the other language and answered from it.
    assert answered >= 60 and cited >= 60
    assert tempted >= 150 and would_cite >= 60
    assert len(translator.calls) >= 50 and crossed >= 20


def test_the_cli_filter_binds_the_fallback_to_the_other_language(teams, monkeypatch, capsys):
    index, metadata = teams
    translator = Translator()
    monkeypatch.setattr("app.services.build.make_llm", lambda settings: translator)
    filters = ["language=zh", "team=infra"]
    code, out, err = ragqa(monkeypatch, capsys, "ask", GPUS_EN, "--index", index, "--filter",
                           filters[0], "--filter", filters[1], "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert {Path(c["source"]).name for c in answer["citations"]} <= admits(metadata, filters)
    # Translated, and answered from the one document both conditions admit: 6 GPUs, not the
    # 2 (sales_en.md), 8 (infra_en.md) or 3 (sales_zh.md) of the documents filtered out.
    assert translator.calls and answer["standalone_question"] == GPUS_ZH
    assert not answer["abstained"], answer["answer"]
    assert Path(answer["evidence"]["source"]).name == "infra_zh.md"
    assert "6" in answer["short_answer"]["text"]


def test_the_ui_filter_binds_the_fallback_to_the_other_language(teams, tmp_path, monkeypatch):
    index, metadata = teams
    translator = Translator()
    monkeypatch.setattr("app.services.build.make_llm", lambda settings: translator)
    # An LLM name of its own: the UI's process-wide LLM load is keyed by it, so no other
    # test's real model answers for the double, and the double for no other test.
    config = write_config(tmp_path / "ragqa.toml", index=index, llm="openai:translator-double",
                          base_url="http://127.0.0.1:9/v1",
                          feedback_db=tmp_path / "feedback.sqlite3")
    monkeypatch.setenv("RAGQA_CONFIG", str(config))
    at = AppTest.from_file(str(ROOT / "app" / "ui" / "streamlit_app.py"),
                           default_timeout=120).run()
    assert not at.exception, at.exception
    # The sidebar's filter: the Languages choice and a typed condition.
    at.multiselect(key="filter-language").set_value(["zh"])
    at.text_input(key="filter-other").input("team=sales")
    at.run()
    at.chat_input(key="question").set_value(CUSTOMERS_EN).run()
    assert not at.exception, at.exception
    turn = at.session_state["turns"][0]
    assert turn.error is None, turn.error
    answer = turn.answer
    # Cited and shown (the source cards): only Chinese sales documents.
    shown = {Path(c.source).name for c in answer.citations} | {
        Path(h.chunk.source).name for h in answer.hits}
    assert shown and shown <= admits(metadata, ["language=zh", "team=sales"]), shown
    # 40 customers from the sales PDF, not sales_en.md's 12.
    assert translator.calls and answer.standalone_question == CUSTOMERS_ZH
    assert not answer.abstained and "40" in answer.short.text
    assert Path(answer.citations[0].source).name == "sales_targets.pdf"
