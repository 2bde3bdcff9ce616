"""One caller turn from committed segments: joining, stale finals, and the silence that ends it."""

from __future__ import annotations

from stream_server.turn_taking.end_of_turn import EndOfTurnSettings
from stream_server.turn_taking.segments import CallerTurnText, SegmentSettings, turn_silence_ms

EOT = EndOfTurnSettings(min_silence_ms=250, max_silence_ms=1600)
SEG = SegmentSettings(commit_silence_ms=200, final_timeout_ms=2000)


def silence(turn: CallerTurnText, partial: str = "", *, fresh: bool = False) -> int:
    return turn_silence_ms(turn, partial=partial, partial_fresh=fresh, base_ms=700, settings=EOT)


def test_a_short_pause_after_speech_commits_once() -> None:
    turn = CallerTurnText()
    assert not turn.should_commit(500, SEG)  # nothing said yet
    turn.heard_speech()
    assert not turn.should_commit(180, SEG)
    assert turn.should_commit(200, SEG)
    turn.committed(1.0)
    assert not turn.should_commit(900, SEG)  # the same pause does not commit twice
    assert turn.awaiting_final and not turn.up_to_date


def test_segments_of_one_turn_join_into_one_text() -> None:
    turn = CallerTurnText()
    turn.heard_speech()
    turn.committed(1.0)
    assert turn.on_final("I would like to book a table for", 1.1)
    turn.heard_speech()
    turn.committed(2.0)
    assert turn.on_final("two people tonight.", 2.1)
    assert turn.up_to_date and turn.text == "I would like to book a table for two people tonight."
    turn.clear()
    assert turn.text == "" and turn.segments == []


def test_the_committed_words_decide_once_they_cover_all_the_speech() -> None:
    turn = CallerTurnText()
    turn.heard_speech()
    turn.committed(1.0)
    assert silence(turn) == 700  # waiting for the final: the persona's silence
    turn.on_final("I would like to book a table for", 1.1)
    assert silence(turn) == 1600  # "...for": keep listening
    turn.heard_speech()
    turn.committed(2.0)
    turn.on_final("two.", 2.1)
    assert silence(turn) == 250  # the whole turn is a complete sentence


def test_a_stale_partial_never_lengthens_and_a_fresh_complete_one_shortens() -> None:
    turn = CallerTurnText()
    turn.heard_speech()
    # The partial trails the audio: it stops on "for" although the caller said more.
    assert silence(turn, "a table for", fresh=False) == 700
    assert silence(turn, "a table for", fresh=True) == 700  # incomplete partials never lengthen
    assert silence(turn, "What time do you open?", fresh=True) == 250
    assert silence(turn, "What time do you open?", fresh=False) == 700  # older than the last voice


def test_a_commit_left_unanswered_is_given_up_and_its_late_final_dropped() -> None:
    turn = CallerTurnText()
    turn.heard_speech()
    turn.committed(1.0)
    assert not turn.overdue(2.9, SEG)
    assert turn.overdue(3.0, SEG)
    turn.give_up("what time do you", 3.0)
    assert turn.text == "what time do you" and turn.up_to_date
    assert not turn.on_final("What time do you open?", 3.5)  # the turn moved on
    assert turn.text == "what time do you"
    turn.clear()
    turn.heard_speech()
    turn.committed(5.0)
    assert turn.on_final("Thanks.", 5.1)  # the next commit's final is this turn's again
    assert turn.text == "Thanks."


def test_a_final_with_no_commit_is_the_recognisers_own_and_kept() -> None:
    turn = CallerTurnText()
    assert turn.on_final("and then I said", 90.0)  # Scribe auto-commits long segments
    assert turn.text == "and then I said"


def test_plain_vad_ignores_the_words() -> None:
    turn = CallerTurnText()
    turn.heard_speech()
    turn.committed(1.0)
    turn.on_final("a table for", 1.1)
    plain = EndOfTurnSettings(semantic=False)
    assert turn_silence_ms(turn, partial="", partial_fresh=False, base_ms=700, settings=plain) == 700
