"""A Markdown file's links are shown as their words in an answer ("`Writable` streams", not
"[`Writable`][] streams"), while the answer's spans and sentences keep the file's own text, so
that they are still found in their passage. Real files, the CLI, the embedded models."""

from __future__ import annotations

from cli_helpers import asked, ingested, ragqa

STREAMS = """# Streams in Kestrel

## Stream types

A [`Duplex`][] stream is readable and writable at once. The [`Transform`][] stream is a
[`Duplex`][] stream whose output is computed from its input, as described in the
[stream guide](https://kestrel.example/guide/streams).

## Buffering

Each stream buffers at most 64 chunks in memory. When the buffer is full, the stream stops
reading from its [source][kestrel-source] until [`stream.drain()`][] has been called, because
an unbounded buffer would exhaust the memory of a small device.

[`Duplex`]: #duplex
[`Transform`]: #transform
[`stream.drain()`]: #drain
[kestrel-source]: https://kestrel.example/source
"""


def test_links_are_shown_as_their_words_and_spans_stay_on_the_file(tmp_path, monkeypatch,
                                                                    capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"streams.md": STREAMS})

    got = asked(monkeypatch, capsys, index, "How many chunks does a stream buffer at most?")
    assert got["short_answer"]["text"] == "64", got["answer"]
    assert "64 chunks" in got["answer"] and "](" not in got["answer"] \
        and "][" not in got["answer"], got["answer"]

    got = asked(monkeypatch, capsys, index, "Why does a stream stop reading when its buffer "
                                            "is full?")
    assert got["form"] == "explained" and not got["abstained"], got["answer"]
    shown = got["answer"]
    assert "until `stream.drain()` has been called" in shown, shown
    assert "[`" not in shown and "][" not in shown, shown
    # Each sentence keeps the file's text (a slice of it, the link markup too); no link
    # definition ("[`Duplex`]: #duplex") is shown.
    flat = " ".join(STREAMS.split())
    for sentence in got["sentences"]:
        assert " ".join(sentence["text"].split()) in flat, sentence
        assert "]: " not in sentence["text"], sentence
    assert any("[`stream.drain()`][]" in s["text"] for s in got["sentences"])


def test_the_cli_prints_a_short_answer_inside_a_link_as_its_words(tmp_path, monkeypatch,
                                                                  capsys):
    index = ingested(monkeypatch, capsys, tmp_path, {"streams.md": STREAMS})
    question = "Until which call does a stream stop reading from its source?"
    got = asked(monkeypatch, capsys, index, question)
    short = got["short_answer"]["text"]
    assert "stream.drain()" in short and "[" in short, short  # the span keeps the markup
    code, out, _ = ragqa(monkeypatch, capsys, "ask", question, "--index", index, "--no-stream")
    assert code == 0 and "stream.drain()" in out and "[`" not in out and "][" not in out, out
