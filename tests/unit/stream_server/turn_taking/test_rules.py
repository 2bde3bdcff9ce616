"""The pure turn-taking rules: end-of-turn text cues, backchannels, speculation, interruption."""

from __future__ import annotations

from typing import Any

import pytest

from stream_server.turn_taking.backchannel import OverlapVerdict, is_backchannel, judge_overlap
from stream_server.turn_taking.end_of_turn import (
    Completeness,
    EndOfTurnSettings,
    judge_completeness,
    silence_needed_ms,
)
from stream_server.turn_taking.interruption import InterruptionJudge, InterruptionSettings, Verdict
from stream_server.turn_taking.speculation import SpeculationPolicy, same_words

EOT = EndOfTurnSettings(min_silence_ms=250, max_silence_ms=1600)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("What time do you open?", Completeness.COMPLETE),
        ("What is it?", Completeness.COMPLETE),
        ("I'd like to book", Completeness.INCOMPLETE),
        ("a table for two and", Completeness.INCOMPLETE),
        ("we will arrive at um", Completeness.INCOMPLETE),
        ("so the thing is,", Completeness.INCOMPLETE),
        ("yes", Completeness.LIKELY),
        ("what time do you open", Completeness.LIKELY),
        ("my name is john", Completeness.UNKNOWN),
        ("", Completeness.UNKNOWN),
    ],
)
def test_completeness(text: str, verdict: Completeness) -> None:
    assert judge_completeness(text) is verdict


def test_silence_bounds_and_plain_vad_fallback() -> None:
    assert silence_needed_ms("Is that right?", base_ms=700, settings=EOT) == 250
    assert silence_needed_ms("and the", base_ms=700, settings=EOT) == 1600
    assert silence_needed_ms("", base_ms=700, settings=EOT) == 700  # no partial: the persona's silence
    assert silence_needed_ms("and the", base_ms=2000, settings=EOT) == 2000  # never below the persona's
    off = EndOfTurnSettings(semantic=False)
    assert silence_needed_ms("Is that right?", base_ms=700, settings=off) == 700


@pytest.mark.parametrize(
    "text", ["uh-huh", "Mm-hmm.", "okay", "Right, right.", "yeah okay", "I see", "oh okay"]
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)
    assert judge_overlap(text) is OverlapVerdict.BACKCHANNEL


@pytest.mark.parametrize("text", ["okay but wait", "no stop", "yeah I have a question", "right now please"])
def test_words_that_take_the_floor(text: str) -> None:
    assert not is_backchannel(text)
    assert judge_overlap(text) is OverlapVerdict.TAKES_FLOOR


def test_the_start_of_a_backchannel_decides_nothing_yet() -> None:
    assert judge_overlap("I") is OverlapVerdict.NO_WORDS
    assert judge_overlap("") is OverlapVerdict.NO_WORDS


def test_same_words_ignores_case_punctuation_and_fillers_only() -> None:
    assert same_words("A table for two.", "a table, um, for two")
    assert not same_words("a table for two", "a table for ten")
    assert not same_words("a table for two", "a table for two people")


def test_speculation_waits_for_stable_words_and_silence() -> None:
    policy = SpeculationPolicy(stable_ms=120, silence_ms=120)
    kw: dict[str, Any] = {"turn_silence_ms": 700, "now": 1.0}
    assert policy.should_start("hello there", partial_age_ms=50, silence_ms=400, **kw) is None
    assert policy.should_start("hello there", partial_age_ms=200, silence_ms=200, **kw) is None  # < 700/2
    started = policy.should_start("hello there", partial_age_ms=200, silence_ms=360, **kw)
    assert started is not None
    assert policy.should_start("hello there", partial_age_ms=900, silence_ms=900, **kw) is None  # running
    adopted, dropped = policy.confirm("Hello there.")
    assert adopted == started and dropped is None


def test_speculation_on_other_words_is_discarded() -> None:
    policy = SpeculationPolicy(stable_ms=0, silence_ms=0)
    started = policy.should_start("two people", partial_age_ms=0, silence_ms=0, turn_silence_ms=0, now=0.0)
    assert policy.confirm("ten people") == (None, started)


def judge() -> InterruptionJudge:
    return InterruptionJudge(
        InterruptionSettings(barge_in_ms=240, barge_in_words_grace_ms=250, false_interruption_ms=900)
    )


def test_without_partials_voice_alone_interrupts() -> None:
    assert judge().on_candidate(1.0, "", 1.24) is Verdict.INTERRUPT


def test_with_partials_a_backchannel_is_ignored_and_words_interrupt() -> None:
    j = judge()
    j.saw_words()
    assert j.on_candidate(1.0, "mm-hmm", 1.24) is Verdict.IGNORE
    assert j.on_candidate(2.0, "", 2.24) is Verdict.WAIT
    assert j.on_partial("wait a moment", 2.3) is Verdict.INTERRUPT


def test_no_words_long_speech_interrupts_then_resumes_if_nothing_was_said() -> None:
    j = judge()
    j.saw_words()
    assert j.on_candidate(1.0, "", 1.24) is Verdict.WAIT
    assert j.on_frame(1.3, run_voiced_ms=300, silence_ms=0) is Verdict.WAIT
    assert j.on_frame(1.5, run_voiced_ms=500, silence_ms=0) is Verdict.INTERRUPT
    assert j.on_frame(2.0, run_voiced_ms=0, silence_ms=300) is Verdict.WAIT  # < 900 ms since the cut
    assert j.on_frame(2.41, run_voiced_ms=0, silence_ms=700) is Verdict.RESUME
    assert j.false_interruptions == 1


def test_a_short_run_without_words_was_noise() -> None:
    j = judge()
    j.saw_words()
    assert j.on_candidate(1.0, "", 1.24) is Verdict.WAIT
    assert j.on_frame(1.4, run_voiced_ms=0, silence_ms=120) is Verdict.WAIT  # a pause, maybe a comma
    assert j.on_frame(1.53, run_voiced_ms=0, silence_ms=250) is Verdict.IGNORE
    assert not j.pending


def test_speech_resuming_after_a_comma_pause_interrupts_once_the_grace_is_over() -> None:
    j = judge()
    j.saw_words()
    assert j.on_candidate(1.0, "", 1.24) is Verdict.WAIT  # "Sorry,"
    assert j.on_frame(1.5, run_voiced_ms=0, silence_ms=200) is Verdict.WAIT  # the comma: silent at the grace
    assert j.on_frame(1.6, run_voiced_ms=20, silence_ms=0) is Verdict.INTERRUPT  # "actually..."


def test_the_words_grace_runs_from_the_speech_onset_not_from_a_late_candidate() -> None:
    # Two of the caller's first frames were taken for the bot's echo: 240 ms of voice took 280 ms.
    j = judge()
    j.saw_words()
    assert j.on_candidate(1.0, "", 1.28) is Verdict.WAIT
    assert j.on_frame(1.48, run_voiced_ms=440, silence_ms=0) is Verdict.WAIT
    assert j.on_frame(1.5, run_voiced_ms=460, silence_ms=0) is Verdict.INTERRUPT  # 490 ms after the onset


def test_floor_taking_words_over_the_bot_interrupt_without_a_candidate() -> None:
    j = judge()
    j.saw_words()
    assert j.on_partial("no wait", 2.0) is Verdict.WAIT  # the caller is not talking over the bot
    assert j.on_partial("uh-huh", 2.1, overlapping=True) is Verdict.WAIT
    assert j.on_partial("sorry actually", 2.2, overlapping=True) is Verdict.INTERRUPT
