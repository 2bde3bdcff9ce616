"""Mark accounting: played vs flushed, and the heard text after a barge-in."""

from __future__ import annotations

from stream_server.telephony.playback import MarkOutcome, PlaybackLedger


def _utterance(ledger: PlaybackLedger, sentences: list[tuple[str, list[int]]]) -> list[str]:
    u = ledger.start_utterance()
    marks = []
    for text, chunks in sentences:
        index = u.add_sentence(text)
        marks += [ledger.add_chunk(u, index, n) for n in chunks]
    return marks


def test_all_marks_echoed_means_all_heard() -> None:
    ledger = PlaybackLedger()
    marks = _utterance(ledger, [("Hello there.", [800, 800]), ("How can I help?", [1600])])
    assert ledger.outstanding == 3
    assert [ledger.on_mark(m) for m in marks] == [MarkOutcome.PLAYED] * 3
    assert ledger.outstanding == 0
    u = ledger.start_utterance()
    assert u.utterance_id == 1


def test_marks_after_clear_are_flushed_and_text_is_cut() -> None:
    ledger = PlaybackLedger()
    u = ledger.start_utterance()
    s0 = u.add_sentence("Our opening hours are nine to five.")
    m0 = ledger.add_chunk(u, s0, 1000)
    s1 = u.add_sentence("On Saturdays we open at ten and close at two in the afternoon.")
    m1 = ledger.add_chunk(u, s1, 1000)
    m2 = ledger.add_chunk(u, s1, 1000)
    m3 = ledger.add_chunk(u, s1, 1000)
    assert ledger.on_mark(m0) is MarkOutcome.PLAYED
    assert ledger.on_mark(m1) is MarkOutcome.PLAYED
    assert ledger.clear() == 2
    assert ledger.outstanding == 0
    assert ledger.on_mark(m2) is MarkOutcome.FLUSHED
    assert ledger.on_mark(m3) is MarkOutcome.FLUSHED
    assert u.interrupted
    # One third of sentence 2's audio played: 4 of its 13 words.
    assert u.heard_text() == "Our opening hours are nine to five. On Saturdays we open..."
    assert u.played_bytes() == 2000


def test_nothing_played_means_nothing_heard() -> None:
    ledger = PlaybackLedger()
    u = ledger.start_utterance()
    s = u.add_sentence("Sure.")
    ledger.add_chunk(u, s, 500)
    ledger.clear()
    assert u.heard_text() == ""


def test_a_later_mark_settles_earlier_chunks() -> None:
    ledger = PlaybackLedger()
    marks = _utterance(ledger, [("One two.", [100, 100, 100])])
    assert ledger.on_mark(marks[2]) is MarkOutcome.PLAYED
    assert ledger.outstanding == 0


def test_unknown_and_duplicate_marks() -> None:
    ledger = PlaybackLedger()
    marks = _utterance(ledger, [("Hi.", [100])])
    assert ledger.on_mark("someone-else") is MarkOutcome.UNKNOWN
    assert ledger.on_mark(marks[0]) is MarkOutcome.PLAYED
    assert ledger.on_mark(marks[0]) is MarkOutcome.UNKNOWN
