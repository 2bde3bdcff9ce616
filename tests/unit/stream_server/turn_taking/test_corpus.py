"""The replay corpus: each scripted call through CallState, and the behaviour it must show."""

from __future__ import annotations

from functools import cache

import pytest

from stream_server.turn_taking.detector import TurnSettings
from tests.corpus.calls import CASES, LONG_REPLY, Case
from tests.corpus.simulator import CallRun, run_call

BY_NAME = {c.name: c for c in CASES}
BARGE_IN_MS = TurnSettings().barge_in_ms
TARGET_MS = 250  # clear within this long after (speech onset + BARGE_IN_MS)


@cache
def replay(name: str) -> CallRun:
    case: Case = BY_NAME[name]
    return run_call(
        list(case.script), echo=case.echo, reply=(lambda _n: list(LONG_REPLY)) if case.long_reply else None
    )


def caller_texts(run: CallRun) -> list[str]:
    return [t.text for t in run.turns("caller")]


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_no_interruption_the_caller_did_not_mean(name: str) -> None:
    run = replay(name)
    assert len(run.clears) == BY_NAME[name].interrupts
    if BY_NAME[name].interrupts == 0:
        assert not any(t.interrupted for t in run.turns("assistant"))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("mid_sentence_pause", "I'd like to book a table for two."),
        ("pause_after_and", "A table for two, and a high chair for the baby."),
        ("pause_after_um", "We will arrive at um eight o'clock."),
    ],
)
def test_a_pause_mid_sentence_does_not_end_the_turn(name: str, words: str) -> None:
    run = replay(name)
    first, second = run.say_segments(0)
    # The pause commits the first half (its final arrives while we listen), but nothing is answered
    # or played before the second half: one caller turn holding all the words, one LLM message.
    assert [c for c in run.commits if first.end < c < second.start]
    assert not [r for r in run.replies_at + run.reply_audio_at if first.end < r <= second.start]
    assert caller_texts(run) == [words]
    assert [m.content for m in run.state.history if m.role == "user"] == [words]


def test_the_same_pause_ends_the_turn_with_plain_vad() -> None:
    case = BY_NAME["mid_sentence_pause"]
    run = run_call(list(case.script), turn=TurnSettings(semantic_end_of_turn=False))
    assert len(run.turns("caller")) == 2


def test_the_final_words_keep_the_turn_open_without_any_partial() -> None:
    # The offline recogniser sends no partials: the first half's committed words decide.
    case = BY_NAME["mid_sentence_pause"]
    run = run_call(list(case.script), partials=False)
    assert caller_texts(run) == ["I'd like to book a table for two."]


@pytest.mark.parametrize("name", ["question", "short_answer"])
def test_a_finished_turn_ends_fast(name: str) -> None:
    run = replay(name)
    (segment,) = run.say_segments(0)
    decided = min(r for r in run.replies_at if r > segment.end)
    base = 700  # the persona's silence; the semantic signal must beat it clearly
    assert (decided - segment.end) * 1000 < base - 300


def test_backchannels_never_interrupt_or_take_a_turn() -> None:
    run = replay("backchannels")
    assert run.clears == []
    assert caller_texts(run) == ["What are your opening hours?"]
    reply = run.turns("assistant")[-1]
    assert reply.text == " ".join(LONG_REPLY) and not reply.interrupted


@pytest.mark.parametrize(
    ("name", "segment"), [("real_interruption", 1), ("speakerphone_echo_then_interruption", 1)]
)
def test_a_real_interruption_stops_the_bot_within_target(name: str, segment: int) -> None:
    run = replay(name)
    onset = run.say_segments(segment)[0].start
    (clear,) = run.clears
    assert (clear - onset) * 1000 <= BARGE_IN_MS + TARGET_MS
    cut = run.turns("assistant")[1]
    assert cut.interrupted and cut.text.endswith("...")
    assert run.state.history[3].content == cut.text  # the model remembers only what was heard


def test_a_false_interruption_re_says_the_cut_sentence() -> None:
    run = replay("false_interruption")
    assert len(run.clears) == 1
    assert run.utterance_kinds[-1] == "resume"
    resumed = run.turns("assistant")[-1]
    assert resumed.text.startswith(LONG_REPLY[0]) and not resumed.interrupted
    assert caller_texts(run) == ["What are your opening hours?"]


def test_speakerphone_echo_is_not_caller_speech() -> None:
    run = replay("speakerphone_echo")
    assert run.state.floor.echo_frames > 100
    assert len(run.commits) == 1 and caller_texts(run) == ["What are your opening hours?"]


def test_silence_only_caller_gets_no_reply() -> None:
    run = replay("silence_only")
    assert run.commits == [] and run.llm_requests == 0


def test_speculation_is_adopted_when_the_words_hold_and_saves_time() -> None:
    case = BY_NAME["mid_sentence_pause"]
    fast = replay("mid_sentence_pause")
    slow = run_call(list(case.script), turn=TurnSettings(speculative_replies=False))
    assert fast.speculations["adopted"] == 1 and fast.speculations["discarded"] == 1  # the first half's
    end = fast.say_segments(0)[-1].end
    assert fast.reply_audio_at[1] - end < slow.reply_audio_at[1] - end - 0.05
