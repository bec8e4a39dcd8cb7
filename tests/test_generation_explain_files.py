"""An explained answer over real files, through the CLI on the default settings: the document's
own sentences that carry the explanation, in document order, each cited, with the page's
furniture (breadcrumbs, a flattened table of contents, share lines, headings, a PDF's running
heads and page numbers) absent."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import asked, ingested
from ingest_fixtures import MANUAL_HEAD, MANUAL_PAGES, pdf_bytes

ARTICLE = """首页 > 运维手册 > 备份

目录 1 备份策略 2 恢复演练 3 常见问题

分享到：微信 微博

# 为什么备份要保留14天？

备份保留14天，是因为审计规定要求保留两周的历史记录。
保留更久会让备份集群的存储费用翻倍。
每天夜里的备份都会通过恢复一张表来检查。

# 恢复演练

运维团队每个季度做一次恢复演练，演练结果写入季度报告。

返回顶部
"""
GUIDE = """Home > Handbook > Releases

# Why do we freeze the branch before a release?

The release branch is frozen two days before a release so that the test suite runs on a fixed
set of changes. A change that lands during the freeze needs the release manager's approval.
Frozen branches are unfrozen as soon as the release is tagged.

# Holidays

The office is closed between Christmas and New Year.
"""


def test_a_why_question_is_answered_by_the_documents_explaining_sentences(tmp_path, monkeypatch,
                                                                          capsys):
    files = {"backup.md": ARTICLE, "release.md": GUIDE}
    index = ingested(monkeypatch, capsys, tmp_path, files)

    for question, first, source in [
        ("为什么备份要保留14天？", "备份保留14天，是因为审计规定要求保留两周的历史记录。",
         "backup.md"),
        ("Why do we freeze the branch before a release?",
         "The release branch is frozen two days before a release", "release.md"),
    ]:
        got = asked(monkeypatch, capsys, index, question)
        assert got["form"] == "explained" and not got["abstained"], got["answer"]
        sentences = [s["text"] for s in got["sentences"]]
        assert sentences[0].startswith(first) and len(sentences) >= 2
        cited = {Path(c["source"]).name for c in got["citations"]}
        assert cited == {source} and all(s["n"] == got["citations"][0]["n"]
                                         for s in got["sentences"])
        # In document order, verbatim from the file.
        text = files[source].replace("\n", " ")
        positions = [text.find(s[:20]) for s in sentences]
        assert -1 not in positions and positions == sorted(positions)
        for furniture in ("首页 >", "目录", "分享到", "返回顶部", "Home >", "#"):
            assert furniture not in got["answer"]


# A package description in reST, as wheels ship it (METADATA, README.rst): headings are
# underlined, code blocks are indented under "::" or ".. code::".
RST_README = """Usage
-----

The bar wraps any iterable and shows its progress in the terminal.

Writing messages
~~~~~~~~~~~~~~~~

Since the progress bar is drawn by printing, you should not write any message in the
terminal using ``print()`` while a progress bar is open.
To write messages without any collision with the bar, a ``.write()`` method is provided:

.. code:: python

    bar = trange(10)
    for i in bar:
        # Print using the class method .write()
        if not (i % 3):
            tqdm.write("Done task %i" % i)

By default, this prints to standard output, but any file-like object can be given.

Merch
-----

You can buy branded mugs and shirts in the online shop now!
"""


def test_a_rest_readme_is_explained_from_its_section_without_its_code(tmp_path, monkeypatch,
                                                                       capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"tqdm_readme.txt": RST_README})
    got = asked(monkeypatch, capsys, index,
                "How can I print messages without breaking the progress bar?")
    assert got["form"] == "explained" and not got["abstained"], got["answer"]
    assert "a ``.write()`` method is provided" in got["answer"]
    # The code block is code (its comment may be shown, never its statements), the heading
    # and its underline are no sentences, and the next chapter is not part of the answer.
    for absent in ("for i in bar", "bar = trange", "~~~", "Writing messages", "Merch", "mugs"):
        assert absent not in got["answer"], got["answer"]


def test_a_pdf_answer_quotes_its_page_without_the_running_head(tmp_path, monkeypatch, capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"manual.pdf": pdf_bytes(MANUAL_PAGES)})
    got = asked(monkeypatch, capsys, index,
                "How long should the Kestrel battery charge before its first flight?")
    assert not got["abstained"] and got["short_answer"]["text"] == "two hours", got["answer"]
    assert got["evidence"]["page"] == 2
    assert got["evidence"]["text"] == ("Charge the Kestrel battery for two hours before its "
                                       "first flight.")
    assert MANUAL_HEAD not in got["answer"] and "Charging" not in got["answer"]
