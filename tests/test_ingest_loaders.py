"""Loaders and cleaning: every supported kind of file, and every kind of bad input."""

from __future__ import annotations

import codecs

import pytest
from ingest_fixtures import (
    GBK_TEXT,
    HTML_DOC,
    MANUAL_HEAD,
    MANUAL_PAGES,
    ZH_PAGE,
    encrypted_pdf_bytes,
    make_bad_files,
    pdf_bytes,
    write,
)

from ingest.cleaning import clean_text, normalize_whitespace, rejoin_broken_lines
from ingest.core.text import has_cjk
from ingest.furniture import page_furniture
from ingest.loaders import LoadError, decode_text, load_bytes, read_bytes


def load_file(path):
    """What the ingest pipeline does with one file."""
    return load_bytes(read_bytes(path), str(path))


def test_pdf_gives_one_page_text_per_page_numbered_from_one(tmp_path):
    path = write(tmp_path / "two.pdf", pdf_bytes([["First page text."], [], ["Third page."]]))
    pages = load_file(path)
    assert [(p.page, p.text) for p in pages] == [(1, "First page text."), (3, "Third page.")]
    assert all(p.source == str(path.resolve()) for p in pages)


def test_pdf_lines_broken_mid_sentence_are_rejoined_and_hyphenation_undone(tmp_path):
    path = write(tmp_path / "rag.pdf", pdf_bytes([[
        "Retrieval augmented generation combines a search step with a lan-",
        "guage model so that answers",
        "cite sources.",
        "Next sentence.",
    ]]))
    (page,) = load_file(path)
    assert page.text == ("Retrieval augmented generation combines a search step with a language "
                         "model so that answers cite sources.\nNext sentence.")


def test_pdf_pages_lose_running_heads_page_numbers_and_contents_lines(tmp_path):
    # ... and a numbered section heading is a Markdown heading, a paragraph of its own.
    loaded = load_file(write(tmp_path / "manual.pdf", pdf_bytes(MANUAL_PAGES)))
    assert {p.page: p.text for p in loaded} == {
        1: MANUAL_HEAD,  # the title, once
        2: "# 1 Charging\n\nCharge the Kestrel battery for two hours before its first flight.",
        3: "# 2 Storage\n\nStore the drone in a dry place below 30 degrees Celsius.",
        4: "# 3 Repairs\n\nSend a damaged drone back to the depot.",
    }


def test_page_furniture_knows_chinese_page_numbers_and_leaves_the_text():
    bodies = ["备份每天夜里进行。", "恢复演练每季度一次。", "备份保留十四天。"]
    pages = [f"运维手册\n{body}\n第 {n} 页 共 3 页" for n, body in enumerate(bodies, 1)]
    assert page_furniture(pages) == [{2}, {0, 2}, {0, 2}]
    # A sentence is never a running head, even at the top of every page.
    assert page_furniture(["Back up nightly.\n" + b for b in bodies]) == [set()] * 3
    # Two pages are not enough to call a line a running head.
    assert page_furniture(["Notes\nA line.", "Notes\nAnother line."]) == [set(), set()]


def test_chinese_pdf_text_is_extracted_and_rejoined_without_spaces(tmp_path):
    path = write(tmp_path / "zh.pdf", pdf_bytes([ZH_PAGE], font="STSong-Light"))
    (page,) = load_file(path)
    assert page.page == 1
    assert "检索增强生成把搜索和语言模型结合起来，使每个回答都可以引用它的来源。" in page.text
    assert " " not in page.text


def test_pdf_with_only_an_owner_password_opens(tmp_path):
    path = write(tmp_path / "owner.pdf", encrypted_pdf_bytes(user_password="",
                                                             owner_password="owner"))
    (page,) = load_file(path)
    assert "Retrieval augmented generation" in page.text


@pytest.mark.parametrize("kind", ["empty", "truncated", "encrypted", "no text layer",
                                  "binary", "unsupported"])
def test_bad_file_raises_load_error_naming_the_problem(tmp_path, kind):
    path = make_bad_files(tmp_path)[kind]
    with pytest.raises(LoadError) as err:
        load_file(path)
    assert kind in err.value.reason


def test_file_that_is_not_a_pdf_but_named_one_is_corrupt():
    with pytest.raises(LoadError, match="no %PDF header"):
        load_bytes(b"<html>not a pdf</html>", "/docs/fake.pdf")


def test_unreadable_paths_say_so(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(LoadError, match="unreadable: it is a directory"):
        load_file(tmp_path / "folder.txt")
    with pytest.raises(LoadError, match="unreadable: the file does not exist"):
        load_file(tmp_path / "gone.txt")


def test_gbk_text_file_is_decoded(tmp_path):
    path = write(tmp_path / "old.txt", GBK_TEXT.encode("gbk"))
    (page,) = load_file(path)
    assert page.page is None
    assert page.text == GBK_TEXT.strip()


@pytest.mark.parametrize("encoded", [
    GBK_TEXT.encode("utf-8"),
    codecs.BOM_UTF8 + GBK_TEXT.encode("utf-8"),
    GBK_TEXT.encode("utf-16"),  # with its BOM
    codecs.BOM_UTF16_BE + GBK_TEXT.encode("utf-16-be"),
    GBK_TEXT.encode("gb18030"),
], ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom", "gb18030"])
def test_text_encodings_are_detected(encoded):
    assert decode_text(encoded) == GBK_TEXT


def test_latin_text_is_not_mistaken_for_chinese():
    assert decode_text("Le café est très bon, merci beaucoup à vous.".encode("cp1252")
                       ).startswith("Le caf")
    assert not has_cjk(decode_text("Größe und Übermaß".encode("latin-1")))


def test_markdown_keeps_its_lines(tmp_path):
    path = write(tmp_path / "n.md", "# Title\n\n- one\n- two\r\n\n\n\nEnd   here.\n")
    (page,) = load_file(path)
    assert page.text == "# Title\n\n- one\n- two\n\nEnd here."


def test_text_copied_from_a_web_page_gets_its_hard_wrapped_sentences_back(tmp_path):
    from eval.messy import Mess, Paragraph, render_messy

    zh = ("大语言模型的训练通常分为预训练、有监督微调和基于人类反馈的强化学习三个阶段，其中预训练"
          "阶段使用海量无标注文本，让模型学习语言的统计规律和世界知识。")
    en = ("LoRA freezes the pretrained weights and injects trainable low-rank matrices into "
          "each layer of the Transformer, which greatly reduces the trainable parameters.")
    wrapped = render_messy("模型", [Paragraph(zh), Paragraph(en)], seed=0,
                           mess=Mess(kinds=("wraps", "table", "nav")))
    assert zh not in wrapped and en not in wrapped  # the renderer broke both mid-sentence
    (page,) = load_file(write(tmp_path / "copied.txt", wrapped))
    assert zh in page.text and en in page.text
    # The short lines of the flattened table keep theirs; the table of contents is page
    # furniture (ingest.furniture) and goes.
    assert "\n项目\n内容\n" in page.text and "目录" not in page.text


def test_markdown_structure_is_never_joined_into_a_wrapped_line(tmp_path):
    long = "This line is long enough to be a hard wrap but it is followed by"
    text = (f"{long}\n# A heading\n{long}\n| a | b |\n{long}\n- an item\n```\n{long}\n"
            "code()\n```\n")
    (page,) = load_file(write(tmp_path / "n.md", text))
    assert page.text == text.strip()


def test_html_gives_only_visible_text(tmp_path):
    (page,) = load_file(write(tmp_path / "s.html", HTML_DOC))
    assert page.text.startswith("Serving guide")
    assert "Batching requests raises throughput on a GPU." in page.text
    assert "first item" in page.text and "second item" in page.text
    for hidden in ("secret", "color: red", "hidden text", "invisible text", "a comment",
                   "DOCTYPE", "W3C", "loose.dtd", "xml version"):
        assert hidden not in page.text


def test_html_hard_wrapped_in_its_source_reads_as_a_browser_shows_it(tmp_path):
    html = ("<html><body><p>Daemons that need not own any files sometimes run as user\n"
            "  nobody and group nogroup.</p>\n<p>检索增强生成把搜索和\n语言模型结合起来。</p>\n"
            "<pre>make\nmake install</pre></body></html>")
    (page,) = load_file(write(tmp_path / "wrapped.html", html))
    lines = page.text.splitlines()
    assert "Daemons that need not own any files sometimes run as user nobody and group " \
           "nogroup." in lines
    assert "检索增强生成把搜索和语言模型结合起来。" in lines
    assert lines[-2:] == ["make", "make install"]  # preformatted text keeps its lines


def test_html_with_nothing_visible_fails():
    with pytest.raises(LoadError, match="no text"):
        load_bytes(b"<html><script>x()</script></html>", "/w/empty.html")


def test_normalize_whitespace_unifies_spaces_and_blank_lines():
    text = "a\u00a0\u00a0b\t c\u200b\r\n\r\n\r\n\r\nd  \u3000e\x0c"
    assert normalize_whitespace(text) == "a b c\n\nd e"


def test_rejoin_keeps_sentence_ends_paragraphs_and_list_items():
    text = "A heading:\nfirst line that goes\non here.\n\nNew paragraph\n- item one\n- item two"
    assert rejoin_broken_lines(text) == (
        "A heading:\nfirst line that goes on here.\n\nNew paragraph\n- item one\n- item two")


def test_rejoin_between_cjk_and_latin_inserts_no_space():
    assert clean_text("模型使用\nTransformer架构\n来编码文本。", rejoin_lines=True) == \
        "模型使用Transformer架构来编码文本。"


def test_full_width_punctuation_is_kept():
    assert clean_text("你好！世界？是的；好。", rejoin_lines=True) == "你好！世界？是的；好。"
