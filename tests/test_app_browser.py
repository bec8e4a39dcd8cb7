"""End to end in a real browser: `ragqa app` on localhost, driven by Debian's Chromium.

Needs /usr/bin/chromium (`make browser` installs it with fonts-noto-cjk). Saves a screenshot
to reports/ui/screenshot.png and the measured answer times to reports/ui/timings.json.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from app_fixtures import ROOT, AppServer, sample_index_copy, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPORT_DIR = ROOT / "reports" / "ui"
CURSOR = "▌"
MAX_PROMPT_TOKENS = 1024
QUESTION_EN = "Under which license was Kestrel-7B released?"
QUESTION_EN2 = "What share of the Kestrel pretraining mixture was source code?"
QUESTION_ZH = "什么是知识蒸馏？"
UPLOAD_FACT = "# 灯塔项目\n\n灯塔项目（Project Lighthouse）于 2024 年 3 月启动，预算为 42 万元。\n"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the end-to-end UI test needs Debian's Chromium; "
                    "install it with `make browser` (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def assistant_messages(page):
    return page.get_by_test_id("stChatMessage").filter(
        has=page.get_by_test_id("stChatMessageAvatarAssistant"))


@contextmanager
def app_page(chromium, server, failure_png: str, width: int = 1280, height: int = 1000):
    """A new page for `server`'s app; if the test fails on it, a full-page screenshot
    (REPORT_DIR / `failure_png`) and the server's log come before the error."""
    page = chromium.new_page(viewport={"width": width, "height": height})
    try:
        yield page
    except Exception:
        page.screenshot(path=str(REPORT_DIR / failure_png), full_page=True)
        print(server.log_text())
        raise
    finally:
        page.close()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Until the script run triggered by the last interaction has finished."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout_ms)


def click_until_visible(button, appears, tries: int = 3, timeout_ms: int = 20_000) -> None:
    """Clicks `button` until `appears` is visible. A click that lands while a script run is
    still drawing the page can be dropped by Streamlit; clicking again is harmless for the
    buttons this is used on (they only set a pending state)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        button.click()
        try:
            appears.wait_for(state="visible", timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def ask_and_watch(page, question: str, timeout_s: float = 180) -> dict:
    """Sends `question`; samples the answer while it streams. Returns what was seen."""
    before = assistant_messages(page).count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    start = time.perf_counter()
    box.press("Enter")
    partial: list[str] = []
    first_text_s = None
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        msgs = assistant_messages(page)
        if msgs.count() > before:
            text = msgs.nth(before).inner_text()
            if CURSOR in text:
                first_text_s = first_text_s or time.perf_counter() - start
                if not partial or partial[-1] != text:
                    partial.append(text)
            if "answered in" in text:
                caption = next(line for line in text.splitlines() if "answered in" in line)
                return {"message": msgs.nth(before), "partial": partial, "caption": caption,
                        "seconds": time.perf_counter() - start, "first_text_s": first_text_s}
        time.sleep(0.03)
    raise AssertionError(f"no answer to {question!r} within {timeout_s} s")


def test_chat_upload_and_feedback_in_chromium(chromium, tmp_path, tmp_path_factory, embedder):
    from playwright.sync_api import expect

    index = sample_index_copy(tmp_path_factory, embedder, tmp_path / "indexes" / "sample")
    feedback_db = tmp_path / "feedback.sqlite3"
    # The default LLM, as users get it: short answers take about a second each on 2 cores
    # (the abstention model is fitted to it; it declines most of the 135M model's answers).
    config = write_config(tmp_path / "ragqa.toml", max_new_tokens=64,
                          max_prompt_tokens=MAX_PROMPT_TOKENS, feedback_db=feedback_db)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    with (AppServer(config, index, log=tmp_path / "server.log") as server,
          app_page(chromium, server, "failure.png", 1440, 1100) as page):
        page.goto(server.url)
        # The sidebar names the LLM and its device once it is loaded: answers are timed
        # from then on, without the one-time model load.
        expect(page.get_by_test_id("stSidebar").get_by_text("Device:")).to_be_visible(
            timeout=180_000)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("13 documents")

        # 1. An English question: the short answer in bold first, then its sentence, and
        # the cited card open with the answer highlighted inside its sentence.
        en = ask_and_watch(page, QUESTION_EN)
        short = en["message"].locator("strong").first
        expect(short).to_have_text(re.compile(r"\S"))
        card = en["message"].get_by_test_id("stExpander").first
        expect(card).to_contain_text(re.compile(r"\[\d+\] \S+\.(md|txt|pdf)"))
        expect(card).to_contain_text("score")
        expect(card.get_by_test_id("stExpanderDetails")).to_be_visible()
        mark = card.locator("mark")
        expect(mark).to_have_count(1)
        assert mark.inner_text() == short.inner_text()
        assert "Apache" in mark.inner_text()  # the corpus: "released under Apache 2.0"
        evidence = card.locator(".ragqa-evidence").inner_text()
        assert mark.inner_text() in evidence and len(evidence) > len(mark.inner_text())
        assert CURSOR not in en["message"].inner_text()

        # 2. Thumbs up on that answer lands in the SQLite database.
        thumbs_up = en["message"].get_by_role("radio", name="Thumbs up")
        thumbs_up.click()
        expect(thumbs_up).to_have_attribute("aria-checked", "true")
        expect(en["message"].get_by_text("Feedback saved")).to_be_visible(timeout=30_000)
        with sqlite3.connect(feedback_db) as db:
            rows = db.execute("SELECT rating, question, citations FROM feedback").fetchall()
        assert len(rows) == 1 and rows[0][:2] == (1, QUESTION_EN)
        sources = json.loads(rows[0][2])
        assert sources, "the rating was stored without its sources"
        assert all(Path(c["source"]).suffix in {".md", ".txt", ".pdf"} for c in sources)
        # ... and comes back out of the export button as JSONL.
        wait_idle(page)
        export = page.get_by_role("button", name="Export feedback (1 ratings, JSONL)")
        with page.expect_download() as download:
            export.click()
        [line] = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
        exported = json.loads(line)
        assert (exported["rating"], exported["question"]) == ("up", QUESTION_EN)

        # 3. Upload a new document (and a broken one): it is ingested with its failure listed.
        doc = tmp_path / "upload" / "灯塔 项目.md"
        doc.parent.mkdir()
        doc.write_text(UPLOAD_FACT, encoding="utf-8")
        broken = tmp_path / "upload" / "broken.pdf"
        broken.write_bytes(b"%PDF-1.4 truncated")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([doc, broken])
        page.get_by_role("button", name="Ingest 2 file(s)").click()
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Ingested 1 file(s)")).to_be_visible(timeout=120_000)
        expect(sidebar).to_contain_text("broken.pdf")
        expect(sidebar).to_contain_text("14 documents")
        # Added to the index as it was built: not re-chunked with the default chunk size.
        expect(sidebar).to_contain_text("chunk 500/60")

        # 4. Two users at once: a second browser session asks just before this one asks a
        #    Chinese question; the one shared LLM answers both, one after the other.
        other = chromium.new_page(viewport={"width": 1200, "height": 900})
        other.goto(server.url)
        expect(other.get_by_test_id("stSidebar").get_by_text("Device:")).to_be_visible(
            timeout=60_000)
        other.get_by_test_id("stChatInputTextArea").fill(QUESTION_EN2)
        other.get_by_test_id("stChatInputTextArea").press("Enter")
        zh = ask_and_watch(page, QUESTION_ZH)
        expect(zh["message"].get_by_test_id("stExpander").first).to_contain_text(
            re.compile(r"\[\d+\] "))
        # "什么是…" is answered in sentences, each [n] naming its passage on hover.
        cite = zh["message"].locator(".ragqa-explained sup.ragqa-cite").first
        expect(cite).to_have_attribute("title", re.compile(r"zh_\w+\.(md|txt|pdf)"))
        # ... and its source card marks the passage sentence that supports it.
        expect(zh["message"].locator(".ragqa-evidence mark").first).to_be_visible()
        other_answer = assistant_messages(other).first
        expect(other_answer).to_contain_text("answered in", timeout=180_000)
        expect(other_answer.get_by_test_id("stExpander").first).to_contain_text(
            re.compile(r"\[\d+\] en_"))
        # Each session keeps its own conversation.
        assert assistant_messages(other).count() == 1
        assert assistant_messages(page).count() == 2
        other.close()

        # 5. The uploaded file answers a question; removed from the sidebar (with a
        #    confirmation), the same question is declined.
        lighthouse = "灯塔项目的预算是多少？"
        before = ask_and_watch(page, lighthouse)
        expect(before["message"].locator("strong").first).to_contain_text("42")
        sidebar.get_by_text("Files (14)").click()
        row = sidebar.get_by_test_id("stHorizontalBlock").filter(has_text="灯塔 项目.md")
        click_until_visible(row.get_by_role("button"),
                            sidebar.get_by_text("Remove 灯塔 项目.md from the knowledge base?"))
        sidebar.get_by_role("button", name="Remove", exact=True).click()
        expect(sidebar).to_contain_text("Removed 灯塔 项目.md", timeout=60_000)
        expect(sidebar).to_contain_text("13 documents")
        after = ask_and_watch(page, lighthouse)
        expect(after["message"]).to_contain_text("No answer found in the documents")

        # Tall enough to show both conversations and most of the sidebar in one picture.
        page.set_viewport_size({"width": 1440, "height": 2200})
        wait_idle(page)
        page.wait_for_timeout(500)
        page.screenshot(path=str(REPORT_DIR / "screenshot.png"), full_page=True)
    timings = {
        "llm": "builtin:qwen2.5-0.5b", "max_new_tokens": 64, "max_prompt_tokens": MAX_PROMPT_TOKENS,
        "answer_seconds": {"en": round(en["seconds"], 2), "zh": round(zh["seconds"], 2)},
        "first_text_seconds": {"en": en["first_text_s"] and round(en["first_text_s"], 2),
                               "zh": zh["first_text_s"] and round(zh["first_text_s"], 2)},
        "ui_captions": {"en": en["caption"], "zh": zh["caption"]},
    }
    (REPORT_DIR / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(json.dumps(timings))


def test_first_question_on_a_cold_model_cache_says_what_is_loading(chromium, tmp_path,
                                                                   tmp_path_factory, embedder):
    """A new user's first question to the LLM reader: the model is not prepared yet. The page
    says so within seconds, keeps the question, and answers it once the model is ready."""
    from playwright.sync_api import expect

    index = sample_index_copy(tmp_path_factory, embedder, tmp_path / "indexes" / "sample")
    cold_cache = tmp_path / "empty-model-cache"  # nothing prepared: the app must do it
    config = write_config(tmp_path / "ragqa.toml", llm="builtin:smollm2-135m", reader="llm",
                          cache_dir=cold_cache, max_new_tokens=16,
                          feedback_db=tmp_path / "feedback.sqlite3")
    with (AppServer(config, index, log=tmp_path / "server.log") as server,
          app_page(chromium, server, "cold-failure.png", 1280, 1000) as page):
        page.goto(server.url)
        box = page.get_by_test_id("stChatInputTextArea")
        expect(box).to_be_editable(timeout=30_000)
        box.fill(QUESTION_EN)
        asked = time.perf_counter()
        box.press("Enter")
        reply = assistant_messages(page).first
        expect(reply).to_contain_text("Preparing the language model", timeout=5_000)
        seen_s = time.perf_counter() - asked
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(REPORT_DIR / "first-question-loading.png"))
        expect(reply).to_contain_text("one-time step")
        expect(page.get_by_test_id("stChatMessage").first).to_contain_text(QUESTION_EN)
        expect(reply).to_contain_text("answered in", timeout=600_000)
        expect(reply).not_to_contain_text("Preparing the language model")
        expect(page.get_by_test_id("stSidebar").get_by_text("Device:")).to_be_visible(
            timeout=60_000)
    assert seen_s < 5, f"the loading message came {seen_s:.1f} s after the question"
    assert list((cold_cache / "models").glob("*-openvino*")), "the app prepared nothing"


def test_a_factoid_is_answered_without_the_llm(chromium, tmp_path, tmp_path_factory, embedder):
    """With the extractive reader (the default) a factoid question never waits for the LLM:
    here the LLM cannot even load, the sidebar says why, and the answer still comes."""
    from playwright.sync_api import expect

    index = sample_index_copy(tmp_path_factory, embedder, tmp_path / "indexes" / "sample")
    config = write_config(tmp_path / "ragqa.toml", llm=str(tmp_path / "no-such-llm"),
                          feedback_db=tmp_path / "feedback.sqlite3")
    with (AppServer(config, index, log=tmp_path / "server.log") as server,
          app_page(chromium, server, "no-llm-failure.png", 1280, 1000) as page):
        page.goto(server.url)
        expect(page.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=30_000)
        reply = ask_and_watch(page, QUESTION_EN, timeout_s=120)["message"]
        expect(reply.locator("strong").first).to_contain_text("Apache")
        expect(page.get_by_test_id("stSidebar")).to_contain_text("no-such-llm")


def test_team_sign_in_roles_reload_sign_out_and_lock_in_chromium(chromium, tmp_path,
                                                                 tmp_path_factory, embedder):
    """The chat with sign-in (`sign_in = "always"` on loopback takes the path a team server on
    0.0.0.0 takes): a signed-out visitor gets the sign-in page; a reader asks, survives a
    reload, and has no upload control; a writer's click on "Ingest" after being made a reader
    is refused by the server; a writer uploads and removes; sign-out ends the session; 20 wrong
    passwords lock the name."""
    from playwright.sync_api import expect

    from app.services.access import Role
    from app.services.accounts import AccountStore
    from ingest.store import read_store_manifest

    password = "correct horse battery"
    index = sample_index_copy(tmp_path_factory, embedder, tmp_path / "indexes" / "sample")
    n = read_store_manifest(index).num_files
    store = AccountStore(tmp_path / "indexes" / "ragqa-accounts.sqlite3")
    for name, role in (("ana", Role.WRITER), ("ben", Role.READER), ("eve", Role.READER)):
        store.add_user(name, password, actor="test")
        store.grant(name, "sample", role, actor="test")
    # No LLM can load: factoids are answered by the extractive reader, and nothing waits.
    config = write_config(tmp_path / "ragqa.toml", llm=str(tmp_path / "no-such-llm"),
                          sign_in="always", feedback_db=tmp_path / "feedback.sqlite3")
    doc = tmp_path / "upload" / "heron.md"
    doc.parent.mkdir()
    doc.write_text("# Heron\n\nThe grey heron nests in the reed bed by the old mill.\n",
                   encoding="utf-8")

    def sign_in(page, name: str, secret: str = password) -> None:
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password", exact=True).fill(secret)
        page.get_by_test_id("stBaseButton-primaryFormSubmit").click()

    with (AppServer(config, index, log=tmp_path / "server.log") as server,
          app_page(chromium, server, "sign-in-failure.png", 1280, 1000) as page):
        # 1. Signed out: the sign-in page, nothing of the knowledge base.
        page.goto(server.url)
        expect(page.get_by_text("Sign in to ragqa")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)

        # 2. A reader signs in, asks, has no upload control, and stays signed in on reload.
        sign_in(page, "ben")
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("Signed in as ben", timeout=60_000)
        expect(sidebar).to_contain_text("needs the writer role")
        expect(page.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(0)
        answer = ask_and_watch(page, QUESTION_EN)
        expect(answer["message"].locator("strong").first).to_contain_text("Apache")
        page.reload()
        expect(sidebar).to_contain_text("Signed in as ben", timeout=60_000)
        expect(page.get_by_text("Sign in to ragqa")).to_have_count(0)
        expect(page.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(0)

        # 3. Sign-out ends the session: a reload shows the sign-in page again.
        sidebar.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("Sign in to ragqa")).to_be_visible(timeout=30_000)
        page.reload()
        expect(page.get_by_text("Sign in to ragqa")).to_be_visible(timeout=30_000)

        # 4. A writer's page shows "Ingest"; made a reader meanwhile, the click is refused
        #    by the server and nothing is saved.
        writer = chromium.new_page(viewport={"width": 1280, "height": 1000})
        writer.goto(server.url)
        sign_in(writer, "ana")
        wsidebar = writer.get_by_test_id("stSidebar")
        expect(wsidebar).to_contain_text("Signed in as ana", timeout=60_000)
        writer.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([doc])
        ingest = writer.get_by_role("button", name="Ingest 1 file(s)")
        expect(ingest).to_be_visible(timeout=30_000)
        store.grant("ana", "sample", Role.READER, actor="test")
        ingest.click()
        expect(wsidebar).to_contain_text("Not uploaded: ana is a reader of 'sample'",
                                         timeout=60_000)
        expect(writer.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(0)
        assert not (index.parent / "sample.uploads" / "heron.md").exists()

        # 5. A writer again: uploads, then removes the document; both are in the trail.
        store.grant("ana", "sample", Role.WRITER, actor="test")
        writer.reload()
        expect(wsidebar).to_contain_text("Signed in as ana", timeout=60_000)
        writer.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([doc])
        writer.get_by_role("button", name="Ingest 1 file(s)").click()
        expect(wsidebar.get_by_text("Ingested 1 file(s)")).to_be_visible(timeout=120_000)
        expect(wsidebar).to_contain_text(f"{n + 1} documents")
        wait_idle(writer)  # a click while a run is still drawing the page can be lost
        wsidebar.get_by_text(f"Files ({n + 1})").click()
        row = wsidebar.get_by_test_id("stHorizontalBlock").filter(has_text="heron.md")
        remove = wsidebar.get_by_role("button", name="Remove", exact=True)
        click_until_visible(row.get_by_role("button"), remove)
        wait_idle(writer)
        remove.click()
        expect(wsidebar).to_contain_text("Removed heron.md", timeout=60_000)
        expect(wsidebar).to_contain_text(f"{n} documents")
        actions = [(e.actor, e.action, Path(e.target).name) for e in store.trail("sample")
                   if e.action in ("upload", "delete")]
        assert actions == [("ana", "delete", "heron.md"), ("ana", "upload", "heron.md")]
        writer.close()

        # 6. Twenty wrong passwords: the name is locked, the right password too.
        for i in range(20):
            sign_in(page, "eve", f"wrong guess {i}")
            expect(page.get_by_test_id("stAlert")).to_be_visible(timeout=30_000)
            wait_idle(page)
        expect(page.get_by_test_id("stAlert")).to_contain_text(
            "too many wrong passwords for eve")
        sign_in(page, "eve")
        wait_idle(page)
        expect(page.get_by_test_id("stAlert")).to_contain_text("locked")
        expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)
