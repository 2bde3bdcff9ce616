"""The caller's turn, from the silence that may end it to the words the conductor answers.

`Floor` (turn_taking) hears the audio and the recogniser. `CallerTurn` follows one caller turn on
top of it: it commits the recogniser at the end of the turn, asks for speculative replies while
the last words are still with the recogniser, gives up on a final that never comes, and, once the
turn is over and every word is final, hands the conductor one `TurnOver` with the text, its span
and its latencies. It never speaks, interrupts or stores anything: it returns steps, and
`CallState` turns them into actions given the rest of the call.

Sans I/O; times are passed in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from stream_server.conversation.actions import CommitStt, DiscardSpeculation
from stream_server.turn_taking.detector import EndOfTurn
from stream_server.turn_taking.floor import DropSpeculation, Floor, Speculate
from stream_server.turn_taking.speculation import Speculation

__all__ = ["CallerTurn", "Reask", "SpeculateOn", "TurnOver", "TurnStep", "is_goodbye"]

log = logging.getLogger("stream_server.call")

_GOODBYE = re.compile(
    r"\b(good ?bye|bye(?: bye)?|hang up|that'?s all(?: for now)?|talk to you later|see you)\b[.!]?\s*$",
    re.IGNORECASE,
)


def is_goodbye(text: str) -> bool:
    """Did the caller end the conversation? Only when the farewell closes what they said."""
    return bool(_GOODBYE.search(text.strip()))


@dataclass(frozen=True, slots=True)
class SpeculateOn:
    """Start a speculative reply on ``text`` (None: the current partial) if the call allows it."""

    text: str | None
    turn_ended: bool = False


@dataclass(frozen=True, slots=True)
class Reask:
    """The turn ended but the recogniser lost its words: ask the caller to say it again."""


@dataclass(frozen=True, slots=True)
class TurnOver:
    """The caller's turn is over and all its words are final: answer ``text``.

    ``adopted``: the speculative reply these very words confirmed (its audio may be waiting);
    ``dropped``: the one they did not.
    """

    text: str
    onset: float
    last_speech: float
    latency: dict[str, float]
    adopted: Speculation | None
    dropped: Speculation | None


TurnStep = CommitStt | DiscardSpeculation | Speculate | DropSpeculation | SpeculateOn | Reask | TurnOver
"""What following the caller's turn asks of the call."""


class CallerTurn:
    """The current caller turn: whether the silence ended it, and when things happened."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.ended = False  # the silence ended the caller's turn; its last finals may be due
        self._onset: float | None = None
        self._last_speech: float | None = None
        self._decided_at: float | None = None  # when the end of turn was decided
        self._end_of_turn_ms: float | None = None
        self.final_at: float | None = None

    def end_of_turn(self, event: EndOfTurn, now: float, *, active: bool, replying: bool) -> list[TurnStep]:
        """The detector's silence ended the caller's turn: commit, then answer or speculate."""
        floor = self.floor
        # The turn's times on the session's clock, counted back from the decision (the audio clock
        # runs ahead of it after a burst of late frames).
        self._onset = now - (event.decided_at - event.onset_at)
        self._last_speech = now - (event.decided_at - event.last_speech_at)
        # Measured on the audio clock: the silence we waited for, plus frame granularity.
        self._end_of_turn_ms = round((event.decided_at - event.last_speech_at) * 1000.0, 2)
        self._decided_at = now
        floor.turn_ended()
        if not active:
            return []
        self.ended = True
        steps: list[TurnStep] = [CommitStt()] if floor.commit_at_end_of_turn(now) else []
        if not floor.turn_text.awaiting_final:
            return steps + self.finish(now, replying=replying)
        # The last words are still with the recogniser: start on the partial meanwhile.
        text = floor.joined_with_partial()
        return [*steps, SpeculateOn(text or None, turn_ended=True)]

    def during_turn(self, now: float, *, active: bool, undecided: bool) -> list[TurnStep]:
        """Per frame while the caller speaks: the early commit, a speculation the caller talked
        past, and the speculation started on the committed words while the silence is confirmed."""
        floor = self.floor
        if not floor.caller_speaking:
            return []
        steps: list[TurnStep] = [CommitStt()] if active and floor.commit_due(now) else []
        stale = floor.caller_went_on(at_least_base=undecided)
        if stale is not None:
            return [*steps, DiscardSpeculation(stale.speculation_id)]
        if floor.turn_text.up_to_date and floor.turn_text.segments:
            steps.append(SpeculateOn(floor.turn_text.text))
        return steps

    def final_heard(self, now: float, *, replying: bool) -> list[TurnStep]:
        """A final transcript joined the turn: answer it if the silence has already ended the turn."""
        self.final_at = now
        if self.ended or not self.floor.caller_speaking:
            if self.floor.turn_text.awaiting_final:
                return []
            return self.finish(now, replying=replying)
        return []  # the caller's turn is open: the next frame judges its words (and may speculate)

    def final_overdue(self, now: float, *, active: bool, replying: bool) -> list[TurnStep]:
        """The recogniser left a commit unanswered: its best partial stands in, or we ask again."""
        floor = self.floor
        log.warning("no final transcript within %d ms of a commit", floor.segments.final_timeout_ms)
        floor.turn_text.give_up(floor.partial, now)
        floor.partial = ""
        if not active or (floor.caller_speaking and not self.ended):
            return []
        if not floor.turn_text.segments:
            self.ended = False
            if replying:
                return []
            return [*floor.drop_speculation(), Reask()]
        self.final_at = now
        return self.finish(now, replying=replying)

    def finish(self, now: float, *, replying: bool) -> list[TurnStep]:
        """The caller's turn has ended and all its words are final: hand it over (once)."""
        floor = self.floor
        text = floor.turn_text.text
        floor.turn_text.clear()
        floor.partial = ""
        self.ended = False
        if not text:
            floor.speculation.new_turn()
            return list(floor.drop_speculation())
        if replying and floor.is_backchannel(text):
            log.info("caller backchannel while the bot speaks; not taking the floor")
            floor.speculation.new_turn()
            return list(floor.drop_speculation())
        adopted, dropped = floor.confirm(text)
        onset = self._onset if self._onset is not None else now
        last = self._last_speech if self._last_speech is not None else now
        return [TurnOver(text, onset, last, self._latency(now, adopted), adopted, dropped)]

    def _latency(self, now: float, adopted: Speculation | None) -> dict[str, float]:
        """The turn's waits in milliseconds: end of turn, the final after it, and from the last voice."""
        latency: dict[str, float] = {}
        final_at = self.final_at if self.final_at is not None else now
        decided_at, end_of_turn_ms = self._decided_at, self._end_of_turn_ms
        if decided_at is None or end_of_turn_ms is None:
            return latency
        latency["end_of_turn"] = end_of_turn_ms
        # The final's wait after the end of turn (0 when it came first, as after an early commit).
        latency["stt"] = round(max(0.0, final_at - decided_at) * 1000.0, 2)
        if self._last_speech is not None:
            # From the caller's last voice, on one clock (end of turn decided = last voice + its
            # silence): for the per-stage waterfall of bench/bench_vs_pipecat.py.
            voice_at = decided_at - end_of_turn_ms / 1000.0
            start = adopted.started_at if adopted is not None else now
            latency["final_after_speech"] = round(max(0.0, final_at - voice_at) * 1000.0, 2)
            latency["reply_start_after_speech"] = round(max(0.0, start - voice_at) * 1000.0, 2)
        return latency
