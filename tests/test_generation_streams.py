"""Streams as objects: iterating gives the text, `result()` the final value afterwards, and
`decode_in_thread`, the one way the local backends stream, hands over text, results, errors
and the stop signal between the decoding thread and the caller."""

from __future__ import annotations

import threading

import pytest

from generation.backends.base import decode_in_thread
from generation.types import GenerationError, Stream


def test_a_stream_yields_its_text_and_then_holds_the_final_value():
    def pieces():
        yield "330 "
        yield "metres"
        return "the answer"

    stream = Stream(pieces())
    assert list(stream) == ["330 ", "metres"]
    assert stream.result() == "the answer" and stream.text() == "330 metres"


def test_result_reads_what_is_left_of_the_stream():
    def pieces():
        yield "a"
        yield "b"
        return 2

    stream = Stream(pieces())
    assert next(stream) == "a"
    assert stream.result() == 2 and stream.text() == "ab"


def test_a_stream_closed_before_its_end_has_no_result():
    def pieces():
        yield "a"
        yield "b"
        return 2

    stream = Stream(pieces())
    next(stream)
    stream.close()
    with pytest.raises(GenerationError, match="closed before it finished"):
        stream.result()


def test_decoding_in_a_thread_hands_over_the_text_and_the_result():
    def decode(emit, stop):
        assert threading.current_thread().name == "ragqa-generate"
        for word in ("one", "", " two"):  # empty pieces are not passed on
            emit(word)
        return 42

    stream = Stream(decode_in_thread(decode))
    assert list(stream) == ["one", " two"] and stream.result() == 42


def test_an_error_while_decoding_is_raised_in_the_callers_thread():
    def decode(emit, stop):
        emit("half")
        raise GenerationError("the model broke")

    stream = Stream(decode_in_thread(decode))
    assert next(stream) == "half"
    with pytest.raises(GenerationError, match="the model broke"):
        stream.result()


def test_closing_the_stream_tells_the_decoder_to_stop():
    stopped = threading.Event()

    def decode(emit, stop):
        emit("first")
        if stop.wait(10):
            stopped.set()

    stream = Stream(decode_in_thread(decode))
    assert next(stream) == "first"
    stream.close()
    assert stopped.wait(10), "the decoder never heard that the stream was closed"
