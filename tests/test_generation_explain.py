"""Explained answers: the form chosen per question, and every shown sentence checked against
the passage it cites (the engine's logic, with a scripted LLM; real models write explained
answers in tests/test_generation_openai.py, through `ragqa serve`, and in the browser test)."""

from __future__ import annotations

import pytest
from generation_fixtures import HITS, FixedRetriever, ScriptedLLM

from generation import AnswerEngine, GenerationSettings
from generation.explain.form import answer_form
from generation.explain.support import support
from generation.explain.writer import SentenceSplitter


def engine(reply, **settings) -> AnswerEngine:
    return AnswerEngine(FixedRetriever(HITS), ScriptedLLM(reply),
                        GenerationSettings(**({"answer_form": "explained", "reader": "llm",
                                                "explanation": "written"} | settings)))


def extracted(question: str, text: str, source: str):
    """The extracted explanation of `question` from one retrieved file holding `text`."""
    from ingest.core.types import Chunk
    from retrieval.types import Hit

    hits = [Hit(Chunk(f"{source}#0", text, f"kb/{source}", None, 0), 0.9, relevance=0.6)]
    return AnswerEngine(FixedRetriever(hits), ScriptedLLM("never asked"), GenerationSettings(
        answer_form="explained", reader="llm")).ask(question)


@pytest.mark.parametrize("question,form", [
    ("How tall is the Eiffel Tower?", "short"), ("Why was the tower built?", "explained"),
    ("What is RLHF?", "explained"), ("What is the capital of France?", "short"),
    ("为什么大模型要基于Transformer？", "explained"), ("知识蒸馏和量化有什么区别？", "explained"),
    ("埃菲尔铁塔是哪一年建成的？", "short"), ("铁塔有多高？", "short"),
    # An opening "how does" / "what does X do" wins over a fact word in a later clause.
    ("How does the override setting change which value a variable gets?", "explained"),
    ("What must a builder do when the Gain Root API is missing?", "explained"),
    ("What does load_dotenv() do by default?", "explained"),
    ("What is the effect of increasing the chunk size on recall?", "explained"),
    ("什么时候该用异步客户端而不是同步客户端？", "explained"),
    ("论文提到了哪些局限性？", "explained"),
    ("原理图在第几页？", "short"), ("What did the RAND Corporation do?", "short"),
    # What changed, what is new, the features, "tell me about": a list or an overview.
    ("What changed in version 5.0?", "explained"), ("What's new in release 2.3?", "explained"),
    ("What are the main features of Ninja?", "explained"),
    ("Tell me about the backup policy.", "explained"), ("这个库有什么特点？", "explained"),
    ("5.0 版本有哪些变化？", "explained"), ("When was the feature added?", "short"),
])
def test_the_answer_form_follows_the_question(question, form):
    assert answer_form(question) == form


def test_streamed_sentences_are_cut_with_their_citations():
    splitter = SentenceSplitter()
    out = []
    for piece in ["It is 330", " metres tall. [", "1] It was completed in 1", "889.", " [1]"]:
        out += splitter.feed(piece)
    assert out == ["It is 330 metres tall. [1]"]
    assert splitter.flush() == ["It was completed in 1889. [1]"]


def test_a_period_inside_a_file_name_or_an_address_ends_no_sentence():
    splitter = SentenceSplitter()
    out = []
    pieces = ["Put it in a `.", "env` file (see 12factor.", "net) [1]. Then run it.",
              " 训练低秩.它"]
    for piece in pieces:
        out += splitter.feed(piece)
    assert out == ["Put it in a `.env` file (see 12factor.net) [1].", "Then run it.", "训练低秩."]
    assert splitter.flush() == ["它"]


def test_a_supported_sentence_is_shown_and_an_unsupported_one_dropped():
    answer = engine("The Eiffel Tower is 330 metres tall. [1] It was painted red in 1850. [1] "
                    "Gustave Eiffel's company built the tower. [1]").ask("Explain the tower.")
    assert not answer.abstained and answer.form == "explained"
    texts = [s.text for s in answer.sentences]
    assert texts == ["The Eiffel Tower is 330 metres tall.",
                     "Gustave Eiffel's company built the tower."]
    # The third sentence cited [1] but comes from passage [2]: it is re-cited.
    assert [s.n for s in answer.sentences] == [1, 2]
    assert answer.text == ("The Eiffel Tower is 330 metres tall. [1] Gustave Eiffel's company "
                           "built the tower. [2]")
    assert {c.source for c in answer.citations} == {"kb/tower.pdf", "kb/eiffel.md"}
    assert all(s.support >= 0.5 for s in answer.sentences)
    row = answer.to_json("q1")
    assert row["form"] == "explained" and row["sentences"][1]["n"] == 2


def test_the_stream_shows_only_verified_text_and_never_withdraws_it():
    stream = engine("The Eiffel Tower is 330 metres tall. [1] It was painted red in 1850. [1]"
                    ).stream("Explain the tower.")
    pieces = list(stream)
    answer = stream.result()
    assert "".join(pieces) == answer.text == "The Eiffel Tower is 330 metres tall. [1]"


def test_a_decline_with_nothing_supported_abstains():
    answer = engine("unanswerable").ask("Why did the painters strike?")
    assert answer.abstained and answer.sentences == []


def test_numbers_and_names_must_be_in_the_cited_passage():
    passage = HITS[0].chunk.text
    assert support("The Eiffel Tower is 330 metres tall.", passage).holds()
    assert not support("The Eiffel Tower is 300 metres tall.", passage).holds()
    assert not support("The Eiffel Tower in Lyon is 330 metres tall.", passage).holds()


def test_forcing_the_short_form_keeps_the_factoid_path():
    answer = engine("330 metres", answer_form="short", no_answer_threshold=None).ask(
        "Explain how tall the tower is.")
    assert answer.form == "short" and answer.short.text == "330 metres"


def test_when_no_written_sentence_holds_the_best_evidence_is_quoted():
    answer = engine("It was painted red in 1850 by the mayor. [1]").ask(
        "Why is the Eiffel Tower 330 metres tall?")
    assert not answer.abstained and len(answer.sentences) == 1
    quote = answer.sentences[0]
    assert quote.support == 1.0 and quote.n == 1
    assert quote.text in HITS[0].chunk.text and "330 metres" in quote.text
    assert "1850" not in answer.text


GUIDE = """Docs > Operations > Backups

Contents 1 Backups 2 Restores 3 FAQ

# Why are backups kept for 14 days?

Backups are kept for 14 days because the audit rules ask for two weeks of history.
A longer retention would double the storage bill of the backup cluster.
- Each nightly backup is checked by restoring one table.
Restores are tested every quarter by the operations team.
"""


def test_an_extracted_explanation_is_the_documents_sentences_in_order_cited_without_furniture():
    from ingest.core.types import Chunk
    from retrieval.types import Hit

    hits = [Hit(Chunk("guide.md#0", "The office opens at 9 and closes at 18.", "kb/hours.md",
                      None, 0), 0.9, relevance=0.4),
            Hit(Chunk("guide.md#1", GUIDE, "kb/guide.md", None, 0), 0.8, relevance=0.6)]
    llm = ScriptedLLM("never asked")
    answer = AnswerEngine(FixedRetriever(hits), llm, GenerationSettings(
        answer_form="explained", reader="llm")).ask("Why are backups kept for 14 days?")
    assert llm.calls == []  # the built-in LLM's default: the documents' sentences, no LLM
    texts = [s.text for s in answer.sentences]
    assert texts[:3] == [
        "Backups are kept for 14 days because the audit rules ask for two weeks of history.",
        "A longer retention would double the storage bill of the backup cluster.",
        "- Each nightly backup is checked by restoring one table."]
    assert {s.n for s in answer.sentences} == {2} and answer.citations[0].n == 2
    assert not any(w in answer.text for w in ("Docs >", "Contents", "# Why"))
    assert answer.text.startswith("Backups are kept") and answer.text.count("[2]") == len(texts)


def test_an_extracted_explanation_declines_when_no_passage_is_about_the_question():
    llm = ScriptedLLM("never asked")
    answer = AnswerEngine(FixedRetriever(HITS), llm, GenerationSettings(
        answer_form="explained", reader="llm")).ask("Why do penguins migrate north in May?")
    assert answer.abstained and llm.calls == []


STEPS = """# Installing the agent

To install the monitoring agent on a new server:
1. Download the agent package from the internal mirror.
2. Check the package signature with the team's public key.
3. Install the package with the system package manager.
4. Copy the site configuration file into /etc/agent.
5. Start the agent service and enable it at boot.
6. Confirm that the server appears on the monitoring dashboard.
7. Record the server name in the inventory sheet.
"""


def test_an_extracted_how_to_shows_every_step_of_its_list():
    answer = extracted("How do I install the monitoring agent on a new server?", STEPS,
                       "install.md")
    texts = [s.text for s in answer.sentences]
    assert texts[0] == "To install the monitoring agent on a new server:"
    assert [t.split(".")[0] for t in texts[1:]] == [str(i) for i in range(1, 8)]
    assert "# Installing" not in answer.text


METADATA = """Metadata-Version: 2.1
Name: heron
Version: 2.0.1
Summary: Heron records build results to files
Home-page: https://example.org/heron
Author-email: team@example.org
Classifier: Programming Language :: Python :: 3
Requires-Dist: openpyxl
Description-Content-Type: text/markdown

Heron records build results to files because a build farm loses its logs when a machine is
recycled. Opening and closing a file for every record is slow, so Heron caches records and
writes them in batches. It saves the cache automatically when the program exits or crashes.
"""


def test_an_extracted_explanation_never_shows_a_packages_header_fields():
    answer = extracted("Why does Heron record build results?", METADATA, "METADATA")
    texts = [s.text for s in answer.sentences]
    assert texts and texts[0].startswith("Heron records build results to files because")
    for field in ("Home-page", "Author-email", "Classifier", "Requires-Dist", "Summary"):
        assert field not in answer.text


ENTRIES = """Mail for the list server goes to majordom, which runs the mailing lists.
The operator account was once used to dump filesystem backups to tape.
It was in the root group, which made it a security risk.
Tools such as sudo are the preferred way to gain privilege today.
That is why the operator account is no longer created by default.
Printing jobs are queued by the lp daemon.
"""


def test_an_extracted_explanation_drops_the_neighbouring_entries_that_share_nothing_with_it():
    answer = extracted("Why is the operator account no longer created by default?", ENTRIES,
                       "users.txt")
    texts = [s.text for s in answer.sentences]
    # The entries before and after share no word with the question; the middle sentence
    # ("It was in the root group…") shares none either, but stays: it carries the reason.
    assert texts[0].startswith("The operator account was once used")
    assert texts[-1].startswith("That is why the operator account")
    assert any(t.startswith("It was in the root group") for t in texts)
    assert "majordom" not in answer.text and "lp daemon" not in answer.text


# A Chinese README cut by the chunker inside a code block: the chunk starts with code and a
# bare fence closes the block. The modes are explained in the code's comments.
CUT_IN_CODE = """output = cn2an.cn2an("一百二十三")
# output:
# 123

# 在 normal 模式下，可以将 一二三 这样的数字进行转化
output = cn2an.cn2an("一二三", "normal")

# 在 smart 模式下，可以将混合拼写的 1百23 进行转化
output = cn2an.cn2an("1百23", "smart")
```

## 性能

三种模式的转化速度都很快，smart 模式稍慢一些，因为它要先识别混合拼写。

```python
import cn2an
```
"""


def test_a_chinese_why_question_is_covered_without_its_question_words():
    from generation.explain.support import question_units

    # "有什么不同" gives 有什, 什么, 么不: no passage holds them, so they must not count
    # against the passage that holds the question's own words.
    assert question_units("ByteRecorder 和 Recorder 有什么不同？") == {"byterecord", "record",
                                                                       "不同"}
    assert "为什" not in question_units("为什么说 DataRecorder 是可靠的？")


def test_a_chunk_cut_inside_a_code_block_shows_its_comments_as_sentences_and_never_its_code():
    from generation.explain.extract import shown_units

    texts = [u.text for u in shown_units(CUT_IN_CODE)]
    assert texts == ["在 normal 模式下，可以将一二三这样的数字进行转化",
                     "在 smart 模式下，可以将混合拼写的 1百23 进行转化",
                     "三种模式的转化速度都很快，smart 模式稍慢一些，因为它要先识别混合拼写。"]
    answer = extracted("cn2an 的 normal 和 smart 模式有什么区别？", CUT_IN_CODE, "README.md")
    assert not answer.abstained
    assert "normal 模式下" in answer.text and "smart 模式下" in answer.text
    assert "output =" not in answer.text and "import" not in answer.text


# Text as an HTML <pre> block or a hard-wrapped mail has it: lines broken inside sentences,
# some of them short.
HARD_WRAPPED = """daemon

Some unprivileged daemons that need to write to some
files on disk run as daemon.daemon (portmap,
atd, and others). Daemons that don't need to
own any files sometimes run as nobody.nogroup instead; a
dedicated user is better practice.
"""


def test_an_extracted_explanation_rejoins_sentences_broken_across_lines_or_at_a_semicolon():
    from generation.explain.extract import shown_units

    assert [u.text for u in shown_units(HARD_WRAPPED)] == [
        "Some unprivileged daemons that need to write to some files on disk run as "
        "daemon.daemon (portmap, atd, and others).",
        # Cut at its semicolon, the second half would be a sentence sharing no word with the
        # question, and be left out.
        "Daemons that don't need to own any files sometimes run as nobody.nogroup instead; "
        "a dedicated user is better practice."]
    answer = extracted("Why do some daemons run as nobody.nogroup?", HARD_WRAPPED, "users.txt")
    assert answer.sentences[-1].text.endswith("instead; a dedicated user is better practice.")


def test_quote_markers_go_and_a_bare_link_or_a_line_of_code_is_no_sentence():
    from generation.explain.extract import shown_units

    text = ("> For many other libraries, for example OpenMP, the limit is set\n"
            "> per thread, so generic code sets it both ways.\n\n"
            "[webtool](https://example.org/images/webtool.png)\n\n"
            ">>> threadpool_limits(limits=1)\n"
            # JavaScript from a chunk cut inside its code block (no fence before it).
            "const rs = fs.createReadStream('archive.tar');\n"
            "if (err) {\n});\nrs.resume(); // Drain the stream until the end of it.\n")
    assert [u.text for u in shown_units(text)] == [
        "For many other libraries, for example OpenMP, the limit is set per thread, so generic "
        "code sets it both ways."]


def test_a_row_of_badges_or_a_two_mark_prompt_is_no_sentence():
    # A README's badges sit in one paragraph (no blank line between them): joined, their
    # words would pass as a sentence and lead the answer ("[Pypi](…svg)](…) [1]").
    from generation.explain.extract import shown_units

    text = ("[![Pypi](https://img.shields.io/pypi/v/cn2an.svg)](https://pypi.org/project/cn2an/)\n"
            "[![MIT License](https://img.shields.io/badge/license-MIT-green.svg)](https://x.org/L)\n"
            "- [Install guide](docs/install.md)\n\n"
            "Pass `direct=True` to convert the digits one by one, without dates or ranges.\n"
            "    >> load_single_dict({ord('还'): 'hái,huán'})  # 调整拼音顺序\n"
            "See [the API page](https://x.org/api) for every mode it supports.\n")
    assert [u.text for u in shown_units(text)] == [
        "Pass `direct=True` to convert the digits one by one, without dates or ranges.",
        "See [the API page](https://x.org/api) for every mode it supports."]
