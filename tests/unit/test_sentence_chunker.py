"""Sentence chunking of streamed model text, so speech can start at the first sentence."""

from __future__ import annotations

import pytest

from oratio.agent.chunking import SentenceChunker


def chunk(deltas: list[str], max_chars: int = 220) -> list[str]:
    chunker = SentenceChunker(max_chars)
    out = [s for d in deltas for s in chunker.feed(d)]
    tail = chunker.flush()
    return [*out, tail] if tail else out


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (["Hello! How can I help?"], ["Hello!", "How can I help?"]),
        (["Hel", "lo there", ". We open at 9", ". Bye"], ["Hello there.", "We open at 9.", "Bye"]),
        (["Dr. Smith recommends it."], ["Dr. Smith recommends it."]),
        (["Pillows, e.g. the memory foam one, are popular."], ["Pillows, e.g. the memory foam one, are popular."]),
        (["It costs $4", ".99 today. Want one?"], ["It costs $4.99 today.", "Want one?"]),
        (["We ship across the U.S. and Canada."], ["We ship across the U.S. and Canada."]),
        (["Well… let me see. Yes!"], ["Well… let me see.", "Yes!"]),
        (["Really?! Great."], ["Really?!", "Great."]),
        (["First line\nSecond line"], ["First line", "Second line"]),
        (['He said "hello." Then left.'], ['He said "hello."', "Then left."]),
        (["Visit cozycomfort.com today."], ["Visit cozycomfort.com today."]),
    ],
)
def test_sentences_are_cut_at_real_sentence_ends(deltas: list[str], expected: list[str]) -> None:
    assert chunk(deltas) == expected


def test_a_sentence_is_released_as_soon_as_the_next_one_starts() -> None:
    chunker = SentenceChunker()

    assert chunker.feed("We're open until six.") == []  # could still be "six.5"…
    assert chunker.feed(" Anything") == ["We're open until six."]
    assert chunker.flush() == "Anything"


def test_long_run_on_text_is_split_at_a_comma_within_the_limit() -> None:
    text = "We have king duvets, queen duvets, twin duvets and many pillows in every size you could want"

    pieces = chunk([text], max_chars=40)

    assert all(len(p) <= 40 for p in pieces)
    assert pieces[0].endswith(",")
    assert " ".join(pieces) == text


def test_flush_on_empty_buffer_gives_none() -> None:
    assert SentenceChunker().flush() is None
