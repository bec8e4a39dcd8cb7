"""The trained sentence scorer of extracted explanations: the reader's margin per sentence, the
shipped model, and the sentences an explanation shows around the likeliest one; and the model
files of both trained checks (this and the claim checker), which name themselves when broken."""

from __future__ import annotations

import json
import math

import pytest
from generation_fixtures import CACHE_DIR, FixedRetriever, ScriptedLLM

from generation import AnswerEngine, GenerationSettings
from generation.explain.claims import FEATURES as CLAIM_FEATURES
from generation.explain.claims import ClaimModel
from generation.explain.extract import extract_explanation
from generation.explain.scorer import FEATURES, SentenceModel, SentenceScorer
from generation.reader.model import ExtractiveReader
from ingest.core.errors import ModelUnavailableError
from ingest.core.types import Chunk
from retrieval.types import Hit


@pytest.fixture(scope="module")
def reader():
    return ExtractiveReader.load(CACHE_DIR)


BACKUPS = ["The office opens at nine and closes at six.",
           "Backups are kept for 14 days because the audit rules ask for two weeks of history.",
           "Printing is free for every member of staff."]


def test_the_reader_is_surest_of_the_sentence_that_holds_the_answer(reader):
    (margins,) = reader.sentence_margins("Why are backups kept for 14 days?", [BACKUPS])
    assert max(range(3), key=margins.__getitem__) == 1
    # A passage longer than one input is read in pieces: every sentence still gets a margin.
    long = [f"Filler sentence number {i} talks about nothing in particular." for i in range(80)]
    (margins,) = reader.sentence_margins("Why are backups kept for 14 days?",
                                         [[*long, BACKUPS[1]]])
    assert len(margins) == 81 and all(math.isfinite(m) for m in margins)
    assert max(range(81), key=margins.__getitem__) == 80


def test_the_shipped_model_ranks_the_answering_sentence_first(reader):
    model = SentenceModel.load()
    # Fitted on questions the reader never saw; on held-out ones it ranks better than the
    # reader's margin alone, and its best sentence holds the answer most of the time.
    for held in model.provenance["held_out"].values():
        assert held["auc"] >= held["auc_margin_alone"] and held["top1"] > 0.7
    scorer = SentenceScorer(reader.sentence_margins, model)
    distractor = ["Backups of the mail server run every night.",
                  "They are written to the tape library in the basement."]
    probabilities = scorer("Why are backups kept for 14 days?", [distractor, BACKUPS])
    assert [len(p) for p in probabilities] == [2, 3]
    assert max(probabilities[1]) == probabilities[1][1] > 0.5 > max(probabilities[0])


@pytest.mark.parametrize("model,name,script,other_features", [
    (SentenceModel, "sentence_scorer.json", "train_sentence_scorer", [*FEATURES[:-1], "length"]),
    (ClaimModel, "claim_checker.json", "train_claims", [*CLAIM_FEATURES, "length"]),
])
def test_a_trained_check_file_that_cannot_be_read_names_itself_and_its_script(
        tmp_path, model, name, script, other_features):
    broken = tmp_path / name
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match=name.replace(".", r"\.")):
        model.load(broken)
    other = json.loads(model.load().to_json())
    other["features"] = other_features
    broken.write_text(json.dumps(other), encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match=script):
        model.load(broken)


ENTRIES = """Mail for the list server goes to majordom, which runs the mailing lists.
Majordom has a statically allocated user id for historical reasons.
The operator account was once used to dump filesystem backups to tape.
It was in the root group, which made it a security risk.
That is why the operator account is no longer created by default.
Printing jobs are queued by the lp daemon.
The lp daemon owns the spool directory.

# Backups

Backups run every night.
"""


def hits_of(text: str) -> list[Hit]:
    return [Hit(Chunk("users.txt#0", text, "kb/users.txt", None, 0), 0.9, relevance=0.6)]


def test_the_scored_sentences_are_the_likeliest_and_its_likely_neighbours_in_order():
    # P(the sentence holds the answer), by how it starts.
    given = {"Majordom": 0.6, "Mail": 0.05, "The operator": 0.3, "It was": 0.02,
             "That is why": 0.9, "Printing": 0.2, "The lp": 0.01, "Backups run": 0.5}

    def score(question, passages):
        return [[next(p for k, p in given.items() if s.startswith(k)) for s in passage]
                for passage in passages]

    question = "Why is the operator account no longer created by default?"
    shown = extract_explanation(question, hits_of(ENTRIES), from_hits=5, score=score, keep=0.1)
    # The likeliest sentence ("That is why"), the likely ones within two of it in its section
    # and those between; not "Majordom" (likely, but three away), nor "Backups run" (under
    # another heading).
    texts = [s.text for s in shown]
    assert texts[0].startswith("The operator") and texts[-1].startswith("Printing")
    assert all(s.n == 1 for s in shown) and len(texts) == 4
    assert not any(t.startswith(("Mail", "Majordom", "The lp", "Backups")) for t in texts)
    # At most `max_sentences`: the less likely end goes first.
    two = extract_explanation(question, hits_of(ENTRIES), from_hits=5, score=score, keep=0.1,
                              max_sentences=2)
    assert [s.text[:11] for s in two] == ["It was in t", "That is why"]


def test_an_explanation_with_the_reader_shows_the_reason_not_the_entries_around_it():
    answer = AnswerEngine(FixedRetriever(hits_of(ENTRIES)), ScriptedLLM("never asked"),
                          GenerationSettings(answer_form="explained")).ask(
        "Why is the operator account no longer created by default?")
    texts = [s.text for s in answer.sentences]
    # The reason shares no word with the question; the scorer finds it all the same.
    assert "It was in the root group, which made it a security risk." in texts
    assert texts[0].startswith("The operator account"), texts
    assert any(t.startswith("That is why the operator account") for t in texts)
    assert "majordom" not in answer.text.lower() and "spool" not in answer.text
    assert "Backups run" not in answer.text and answer.citations[0].source == "kb/users.txt"


RECORDER = """# DataRecorder

进行数据采集的时候，常常要保存数据到文件，频繁开关文件会影响效率。
它们还相当可靠，作者曾一次过连续记录超过 300 万条数据，\
也曾 50 个线程同时运行写入数万条数据到一个文件，依然轻松胜任。
工具还对表格文件（xlsx、csv）做了很多优化，封装了实用功能。
"""


def test_a_translated_question_is_explained_where_the_scorer_is_sure_despite_its_wording(reader):
    # The LLM's translation of "Why is DataRecorder said to be reliable?" holds few of the
    # passage's words (说它, 它可, 原因): under the usual cover nothing is shown; the scorer is
    # sure of the sentence that answers it, so with `sure` the window is taken.
    score = SentenceScorer(reader.sentence_margins, SentenceModel.load())
    question = "DataRecorder说它可靠的原因是什么？"
    hits = [Hit(Chunk("recorder.md#0", RECORDER, "kb/recorder.md", None, 0), 0.9,
                relevance=0.6)]
    assert extract_explanation(question, hits, from_hits=5, score=score, cover=0.5) == []
    shown = extract_explanation(question, hits, from_hits=5, score=score, cover=0.5, sure=0.5)
    assert any("300 万条数据" in s.text for s in shown), [s.text for s in shown]
    # Sureness stands in for cover only: a passage about something else is still declined.
    other = [Hit(Chunk("lp.md#0", "打印任务由 lp 守护进程排队。lp 守护进程拥有假脱机目录。",
                       "kb/lp.md", None, 0), 0.9, relevance=0.6)]
    assert extract_explanation(question, other, from_hits=5, score=score, cover=0.5,
                               sure=0.5) == []


KESTREL = """# Kestrel-1.5B distillation

Kestrel-1.5B is a small model for phones and laptops.
It was distilled from Kestrel-7B rather than instruction-tuned on its own.

## Method

The teacher is Kestrel-7B and the student is Kestrel-1.5B.
The student learns from true labels and from the teacher's output probabilities.

# Merch

Kestrel-1.5B mugs and shirts are sold in the online shop of Kestrel.
"""


def test_an_explanation_goes_on_into_its_subsections_but_not_into_the_next_chapter():
    def score(question, passages):  # sure of one sentence only
        return [[0.9 if s.startswith("It was distilled") else 0.001 for s in passage]
                for passage in passages]

    hits = [Hit(Chunk("kestrel.md#0", KESTREL, "kb/kestrel.md", None, 0), 0.9, relevance=0.6)]
    shown = [s.text for s in extract_explanation(
        "How was Kestrel-1.5B distilled from Kestrel-7B, teacher and student?", hits,
        from_hits=5, score=score)]
    # BM25's window runs over the whole file: "## Method" goes on explaining under the
    # likeliest's heading; "# Merch" is the next chapter.
    assert shown[0].startswith("It was distilled"), shown
    assert any(s.startswith("The teacher is Kestrel-7B") for s in shown), shown
    assert not any("mugs" in s for s in shown), shown


MODES = """7.3 Cipher modes

Besides ECB, the library provides other modes of operation: Cipher Block Chaining and Counter mode.
Cipher Block Chaining is widely used, but Counter mode is usually preferred by new protocols.

7.3.1 Cipher Block Chaining

When using this mode, plaintext blocks are not encrypted independently of each other.
Instead, the previous ciphertext block is XORed with the plaintext before it is encrypted.
The first block is XORed with a random block called the initialization vector.
"""


def test_an_explanation_comes_from_the_section_titled_by_the_question_without_its_heading():
    # A web page's numbered headings are plain lines: "7.3.1 Cipher Block Chaining" is a
    # heading (never shown as a sentence), and its section explains the mode, though the
    # scorer likes the overview above it best.
    def score(question, passages):
        return [[0.9 if s.startswith("Besides ECB") else 0.5 if s.startswith("Instead") else 0.1
                 for s in passage] for passage in passages]

    hits = [Hit(Chunk("nettle.html#0", MODES, "kb/nettle.html", None, 0), 0.9, relevance=0.6)]
    shown = [s.text for s in extract_explanation("How does Cipher Block Chaining work?", hits,
                                                 from_hits=5, score=score)]
    assert any(s.startswith("Instead, the previous ciphertext block") for s in shown), shown
    assert not any(s.startswith(("Besides ECB", "7.3")) for s in shown), shown
    # A heading that names only part of what is asked does not move the explanation.
    moved = [s.text for s in extract_explanation(
        "Why is Counter mode preferred over Cipher Block Chaining by new protocols?", hits,
        from_hits=5, score=score)]
    assert moved[0].startswith("Besides ECB"), moved


INSTALL = """# kestrel-cli

A command line client for the Kestrel fleet service.

## Install

For users, install the last published version from PyPI:

```bash
pip install kestrel-cli
```

## Use

Run the status command to see every drone of the fleet and its battery level.
"""


@pytest.mark.parametrize("question", ["How do I install kestrel-cli?", "怎么安装 kestrel-cli？"])
def test_a_how_to_install_explanation_shows_the_command_not_the_fence(reader, question):
    score = SentenceScorer(reader.sentence_margins, SentenceModel.load())
    hits = [Hit(Chunk("readme#0", INSTALL, "kb/README.md", None, 0), 0.9, relevance=0.6)]
    shown = [s.text for s in extract_explanation(question, hits, from_hits=5, score=score)]
    assert "pip install kestrel-cli" in shown, shown
    assert not any("```" in s or s.startswith("bash") for s in shown), shown
    assert all(s in INSTALL for s in shown)  # verbatim, so each is cited as it stands
