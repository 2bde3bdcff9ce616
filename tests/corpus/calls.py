"""The replay corpus: scripted calls and the behaviour each must show.

Each case is a caller script for `tests.corpus.simulator.run_call`. The assertions live in
``tests/unit/stream_server/turn_taking/test_corpus.py``; `bench/bench_turns.py` replays the same cases for its
figures, so the numbers and the tests describe the same calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.corpus.simulator import Backchannel, Echo, Mumble, Noise, Pause, Say, Step, WaitBot

__all__ = ["CASES", "LONG_REPLY", "Case"]

LONG_REPLY = [
    "We are open from nine in the morning until ten at night, every day of the week.",
    "On Sundays the kitchen closes a little earlier, at nine o'clock.",
    "We also take bookings for large groups if you call a day ahead.",
]


@dataclass(frozen=True)
class Case:
    name: str
    script: list[Step]
    echo: Echo | None = None
    long_reply: bool = False
    interrupts: int = 0  # clears the caller meant to cause
    notes: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)


def _reply_heard(then_ms: int) -> list[Step]:
    """Wait for the bot to start answering, then for it to finish, then ``then_ms``."""
    return [WaitBot(audible_ms=20), WaitBot(done=True, then_ms=then_ms)]


def _after_greeting(*steps: Step) -> list[Step]:
    return [*_reply_heard(400), *steps, *_reply_heard(300)]


CASES = [
    Case("question", _after_greeting(Say(("What time do you open tomorrow?",)))),
    Case("short_answer", _after_greeting(Say(("Yes please.",)))),
    Case("mid_sentence_pause", _after_greeting(Say(("I'd like to book", 900, "a table for two.")))),
    Case(
        "pause_after_and", _after_greeting(Say(("A table for two, and", 1200, "a high chair for the baby.")))
    ),
    Case("pause_after_um", _after_greeting(Say(("We will arrive at um", 1000, "eight o'clock.")))),
    Case(
        "two_questions",
        _after_greeting(
            Say(("Are you open on Sunday?",)), *_reply_heard(500), Say(("Do you have parking?",))
        ),
    ),
    Case(
        "backchannels",
        _after_greeting(
            Say(("What are your opening hours?",)),
            WaitBot(audible_ms=1200),
            Backchannel("uh-huh"),
            Pause(1500),
            Backchannel("okay"),
            Pause(1500),
            Backchannel("I see"),
        ),
        long_reply=True,
    ),
    Case(
        "real_interruption",
        _after_greeting(
            Say(("What are your opening hours?",)),
            WaitBot(audible_ms=1500),
            Say(("No wait, I need to change my booking instead.",)),
        ),
        long_reply=True,
        interrupts=1,
    ),
    Case(
        "noise_burst",
        _after_greeting(
            Say(("What are your opening hours?",)),
            WaitBot(audible_ms=1500),
            Noise(250),
            Pause(800),
            Noise(150),
        ),
        long_reply=True,
    ),
    Case(
        "false_interruption",
        _after_greeting(
            Say(("What are your opening hours?",)), WaitBot(audible_ms=1500), Mumble("hold on a second there")
        ),
        long_reply=True,
        interrupts=1,
        notes="voice without words: cut, then the cut sentence is said again",
    ),
    Case(
        "speakerphone_echo",
        _after_greeting(Say(("What are your opening hours?",))),
        echo=Echo(delay_ms=180, gain_db=-10.0),
        long_reply=True,
    ),
    Case(
        "speakerphone_echo_then_interruption",
        _after_greeting(
            Say(("What are your opening hours?",)),
            WaitBot(audible_ms=2000),
            Say(("Sorry, can you repeat that last part?",)),
        ),
        echo=Echo(delay_ms=300, gain_db=-14.0),
        long_reply=True,
        interrupts=1,
    ),
    Case("silence_only", [Pause(6000)]),
]
