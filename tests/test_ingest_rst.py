"""reST structure read as Markdown's before lines lose their indentation (ingest.loaders.rst):
headings by their underlines, levels in order of appearance, code blocks fenced; prose
directives, Markdown fences and text that only looks like markup left alone."""

from __future__ import annotations

from ingest.loaders import load_bytes
from ingest.loaders.rst import as_markdown


def test_underlined_headings_take_levels_in_the_order_their_marks_appear():
    text = ("=====\nTitle\n=====\n\nIntro.\n\nUsage\n-----\n\nUse it.\n\nDetails\n~~~~~~~\n\n"
            "More.\n\nFAQ\n---\n\nAsk.\n")
    lines = as_markdown(text).splitlines()
    assert [x for x in lines if x.startswith("#")] == ["# Title", "## Usage", "### Details",
                                                       "## FAQ"]
    assert "=====" not in lines  # the overline went with its title


def test_a_heading_needs_an_underline_as_wide_as_itself():
    # A short rule under a long line, or a line of marks under nothing, is no heading.
    text = "A sentence that is rather long\n---\n\n-----\n\n备份策略\n========\n"
    out = as_markdown(text)
    assert "# A sentence" not in out and "# 备份策略" in out


def test_literal_and_code_blocks_are_fenced_and_dedented():
    text = ("Run it::\n\n    $ tqdm --help\n    $ tqdm --version\n\nThen read.\n\n"
            ".. code:: python\n    :linenos:\n\n    for i in trange(4):\n        sleep(0.01)\n\n"
            "Done.\n")
    assert as_markdown(text).splitlines() == [
        "Run it:", "", "```", "$ tqdm --help", "$ tqdm --version", "```", "", "Then read.", "",
        "```python", "for i in trange(4):", "    sleep(0.01)", "```", "", "Done."]


def test_prose_directives_markdown_fences_and_lone_double_colons_are_left_alone():
    text = (".. note::\n\n    This is prose.\n\nA ratio of 3::2 is fine.\n\n```python\nx = 1\n"
            "~~~~~~~~\n```\n\nVersion::\n\nNo indented block follows.\n")
    out = as_markdown(text)
    assert "    This is prose." in out  # not fenced: a note holds prose
    assert "A ratio of 3::2 is fine." in out
    assert "x = 1\n~~~~~~~~\n```" in out and "# x = 1" not in out  # inside a fence
    assert "Version::" in out  # nothing indented after it: no block


def test_a_rest_text_file_loads_with_markdown_headings_and_fenced_code():
    data = (b"Pandas Integration\n~~~~~~~~~~~~~~~~~~\n\nRegister it first:\n\n.. code:: python\n\n"
            b"    # Register progress_apply with tqdm\n    tqdm.pandas(desc='my bar!')\n\n"
            b"Then call ``progress_apply`` instead of ``apply``.\n")
    (page,) = load_bytes(data, "/docs/README.txt", ocr="off")
    assert page.text.splitlines()[0] == "# Pandas Integration"
    assert "```python\n# Register progress_apply with tqdm\ntqdm.pandas(desc='my bar!')\n```" \
        in page.text
