"""The sentence splitter on the awkward cases, fed one character at a time as an LLM would."""

from __future__ import annotations

import pytest

from stream_server.speech.sentences import SentenceSplitter


def split(text: str, *, step: int = 1, first_flush_chars: int = 1000) -> list[str]:
    splitter = SentenceSplitter(first_flush_chars=first_flush_chars)
    out: list[str] = []
    for i in range(0, len(text), step):
        out += splitter.push(text[i : i + step])
    return out + splitter.flush()


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_plain_sentences(step: int) -> None:
    assert split("Hello there! How are you? I am fine.", step=step) == [
        "Hello there!",
        "How are you?",
        "I am fine.",
    ]


def test_abbreviations_decimals_initials() -> None:
    text = (
        "Dr. Smith sees you at 3.30 p.m. on Monday. Bring e.g. your card, i.e. the blue one. "
        "J. R. Tolkien wrote it."
    )
    assert split(text) == [
        "Dr. Smith sees you at 3.30 p.m. on Monday.",
        "Bring e.g. your card, i.e. the blue one.",
        "J. R. Tolkien wrote it.",
    ]


def test_ellipses() -> None:
    assert split("Well... let me check. Hmm... Yes, we have it.") == [
        "Well... let me check.",
        "Hmm...",
        "Yes, we have it.",
    ]


def test_sentence_is_emitted_as_soon_as_its_end_is_certain() -> None:
    s = SentenceSplitter()
    assert s.push("Sure thing.") == []  # could still be "Sure thing.com"
    assert s.push(" The") == ["Sure thing."]
    assert s.flush() == ["The"]


def test_first_piece_flushes_early_on_a_comma() -> None:
    text = "Thanks for calling the downtown clinic today, I can help you book an appointment, or cancel one."
    assert split(text, first_flush_chars=30) == [
        "Thanks for calling the downtown clinic today,",
        "I can help you book an appointment, or cancel one.",
    ]


def test_quotes_and_newlines() -> None:
    assert split('He said "yes." Then left.\nNext line') == ['He said "yes."', "Then left.", "Next line"]


def test_run_on_text_is_cut_at_a_space() -> None:
    splitter = SentenceSplitter(max_chars=50)
    pieces = splitter.push("word " * 30)
    assert pieces and all(len(p) <= 50 for p in pieces)
