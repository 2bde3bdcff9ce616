"""Mark accounting: played vs flushed, and the heard text after a barge-in."""

from __future__ import annotations

import random

import pytest

from stream_server.telephony.playback import (
    MAX_MEDIA_BYTES,
    ChunkState,
    MarkOutcome,
    PlaybackLedger,
    Utterance,
    media_pieces,
)


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


@pytest.mark.parametrize("seed", range(5))
def test_outstanding_counts_agree_with_the_chunks_through_marks_clears_and_lost_marks(seed: int) -> None:
    rng = random.Random(seed)
    ledger = PlaybackLedger()
    utterances: list[Utterance] = []
    sent: list[str] = []
    for _ in range(400):
        step = rng.random()
        if step < 0.05 or not utterances:
            utterances.append(ledger.start_utterance())
        elif step < 0.5:
            utterance = utterances[-1]
            sentence = utterance.add_sentence("one two three") if rng.random() < 0.2 else 0
            sent.append(ledger.add_chunk(utterance, sentence, rng.randint(1, 400)))
        elif step < 0.95 and sent:
            # Marks come back in order, some are lost, a few are repeated.
            index = min(len(sent) - 1, rng.randint(0, 2))
            ledger.on_mark(sent[index])
            if rng.random() < 0.9:
                del sent[: index + 1]
        else:
            ledger.clear()
        for utterance in utterances:
            assert utterance.outstanding == sum(c.state is ChunkState.QUEUED for c in utterance.chunks)
        assert ledger.outstanding == sum(c.state is ChunkState.QUEUED for u in utterances for c in u.chunks)


@pytest.mark.parametrize("size", [0, 1, 1599, 1600, 1601, 1700, 3200, 8000, 12345])
def test_media_pieces_cover_the_audio_in_order_in_nearly_equal_pieces_of_at_most_200_ms(size: int) -> None:
    audio = bytes(i % 251 for i in range(size))
    pieces = media_pieces(audio)
    assert b"".join(pieces) == audio
    assert all(len(p) <= MAX_MEDIA_BYTES for p in pieces)
    assert len(pieces) == max(1, -(-size // MAX_MEDIA_BYTES))  # no more pieces than needed
    assert max(map(len, pieces)) - min(map(len, pieces)) <= 1  # no sliver at the end
