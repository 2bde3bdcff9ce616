"""The caller's turn, from the silence that may end it to the words the conductor answers.

`Floor` (turn_taking) hears the audio and the recogniser. `CallerTurn` follows one caller turn on
top of it: it commits the recogniser at the end of the turn, asks for speculative replies while
the last words are still with the recogniser, gives up on a final that never comes, and, once the
turn is over and every word is final, hands the conductor one `TurnOver` with the text, its span
and its latencies. It never speaks, interrupts or stores anything: it returns steps, and
`CallState` turns them into actions given the rest of the call (`speculation_actions` for the
speculative replies). It reads the rest of the call through a narrow `CallView`.

Sans I/O; times are passed in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from stream_server.behaviours.call_behaviours import CallBehaviours
from stream_server.conversation.actions import Action, CommitStt, DiscardSpeculation, Phase, SpeculateReply
from stream_server.providers.base import ChatMessage, ToolSpec
from stream_server.turn_taking.detector import BargeIn, EndOfTurn, SpeechStarted
from stream_server.turn_taking.floor import DropSpeculation, Floor, Speculate
from stream_server.turn_taking.interruption import Verdict
from stream_server.turn_taking.speculation import Speculation

__all__ = [
    "CallView",
    "CallerActive",
    "CallerTurn",
    "Judged",
    "Reask",
    "TurnOver",
    "TurnStep",
    "is_goodbye",
    "speculation_actions",
]

log = logging.getLogger("stream_server.call")

_GOODBYE = re.compile(
    r"\b(good ?bye|bye(?: bye)?|hang up|that'?s all(?: for now)?|talk to you later|see you)\b[.!]?\s*$",
    re.IGNORECASE,
)


def is_goodbye(text: str) -> bool:
    """Did the caller end the conversation? Only when the farewell closes what they said."""
    return bool(_GOODBYE.search(text.strip()))


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


@dataclass(frozen=True, slots=True)
class CallerActive:
    """The caller spoke (their speech began, or their turn ended): the idle clock starts over."""


@dataclass(frozen=True, slots=True)
class Judged:
    """The interruption judge's verdict on the caller's speech over the bot (``onset``: where that
    speech began, when a barge-in candidate says so; None: the judge knows)."""

    verdict: Verdict
    onset: float | None = None


TurnStep = (
    CommitStt | DiscardSpeculation | Speculate | DropSpeculation | Reask | TurnOver | CallerActive | Judged
)
"""What following the caller's turn asks of the call."""


class CallView(Protocol):
    """What following the caller's turn reads of the rest of the call. Read when needed, so a step
    the conductor has just acted on (a barge-in that stopped the bot) is seen by the next one."""

    @property
    def phase(self) -> Phase: ...
    @property
    def bot_speaking(self) -> bool: ...
    @property
    def replying(self) -> bool: ...
    @property
    def may_speculate(self) -> bool: ...
    @property
    def behaviours(self) -> CallBehaviours: ...


def speculation_actions(
    events: Sequence[Speculate | DropSpeculation], history: Sequence[ChatMessage], tools: tuple[ToolSpec, ...]
) -> list[Action]:
    """The floor's speculation events as actions: a speculative reply on the conversation so far
    plus the caller's words, or the discarding of one."""
    return [
        SpeculateReply(e.speculation_id, (*history, ChatMessage("user", e.text)), tools)
        if isinstance(e, Speculate)
        else DiscardSpeculation(e.speculation_id)
        for e in events
    ]


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

    def hear_frame(self, speech: bool, now: float, call: CallView) -> Iterator[TurnStep]:
        """One heard frame: turn events, interruption follow-ups, a final given up, the turn going on.

        A generator: the conductor acts on each step before the next is worked out."""
        floor = self.floor
        for event in floor.turn_events(speech, bot_speaking=call.bot_speaking):
            if isinstance(event, BargeIn):
                if call.phase is not Phase.ENDING and call.replying:
                    yield Judged(floor.candidate(event.onset_at, now), event.onset_at)
            elif isinstance(event, SpeechStarted):
                yield CallerActive()
            elif isinstance(event, EndOfTurn):
                yield CallerActive()
                yield from self.end_of_turn(event, now, call)
        verdict = floor.frame_verdict(now)
        if verdict is Verdict.INTERRUPT or verdict is Verdict.RESUME:
            yield Judged(verdict)
        if floor.final_overdue(now):
            yield from self.final_overdue(now, call)
        yield from self.during_turn(now, call)

    def hear_partial(self, text: str, now: float, call: CallView) -> list[TurnStep]:
        """A partial transcript: feeds the adaptive end of turn, barge-in words and speculation."""
        heard = self.floor.hear_partial(text, now, bot_speaking=call.replying)
        if heard is None:
            return []
        dropped, verdict = heard
        return [*dropped, Judged(verdict)]

    def hear_final(self, text: str, now: float, call: CallView) -> list[TurnStep]:
        """The committed transcript of one segment of the caller's turn (after our commit).

        Segments join into one turn; the turn is answered once the silence has ended it and every
        commit has its final. The final of a commit already given up is stale and dropped: its
        turn has moved on.
        """
        verdict = self.floor.hear_final(text, now)
        if verdict is None:
            log.info("stale final transcript dropped: its turn has moved on")
            return []
        self.final_at = now
        if verdict is Verdict.RESUME:  # the caller's words ended a false interruption: not a turn
            return [*self.floor.drop_speculation(), Judged(verdict)]
        if self.ended or not self.floor.caller_speaking:
            if self.floor.turn_text.awaiting_final:
                return []
            return self.finish(now, call)
        return []  # the caller's turn is open: the next frame judges its words (and may speculate)

    def end_of_turn(self, event: EndOfTurn, now: float, call: CallView) -> list[TurnStep]:
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
        if call.phase is not Phase.ACTIVE:
            return []
        self.ended = True
        steps: list[TurnStep] = [CommitStt()] if floor.commit_at_end_of_turn(now) else []
        if not floor.turn_text.awaiting_final:
            return steps + self.finish(now, call)
        # The last words are still with the recogniser: start on the partial meanwhile.
        text = floor.joined_with_partial()
        return steps + self._speculate(now, text or None, call, turn_ended=True)

    def during_turn(self, now: float, call: CallView) -> list[TurnStep]:
        """Per frame while the caller speaks: the early commit, a speculation the caller talked
        past, and the speculation started on the committed words while the silence is confirmed."""
        floor = self.floor
        if not floor.caller_speaking:
            return []
        active = call.phase is Phase.ACTIVE
        steps: list[TurnStep] = [CommitStt()] if active and floor.commit_due(now) else []
        stale = floor.caller_went_on(at_least_base=call.behaviours.machine_undecided)
        if stale is not None:
            return [*steps, DiscardSpeculation(stale.speculation_id)]
        if floor.turn_text.up_to_date and floor.turn_text.segments:
            steps += self._speculate(now, floor.turn_text.text, call)
        return steps

    def _speculate(
        self, now: float, text: str | None, call: CallView, *, turn_ended: bool = False
    ) -> list[TurnStep]:
        """Start the LLM on ``text`` (None: the current partial) if the call allows it now and the
        policy says it is ready."""
        if not call.may_speculate or is_goodbye(text if text is not None else self.floor.partial):
            return []  # a caller who is leaving: the goodbye needs no model
        return list(self.floor.speculate(now, turn_ended=turn_ended, text=text))

    def final_overdue(self, now: float, call: CallView) -> list[TurnStep]:
        """The recogniser left a commit unanswered: its best partial stands in, or we ask again."""
        floor = self.floor
        log.warning("no final transcript within %d ms of a commit", floor.segments.final_timeout_ms)
        floor.turn_text.give_up(floor.partial, now)
        floor.partial = ""
        if call.phase is not Phase.ACTIVE or (floor.caller_speaking and not self.ended):
            return []
        if not floor.turn_text.segments:
            self.ended = False
            if call.replying:
                return []
            return [*floor.drop_speculation(), Reask()]
        self.final_at = now
        return self.finish(now, call)

    def finish(self, now: float, call: CallView) -> list[TurnStep]:
        """The caller's turn has ended and all its words are final: hand it over (once)."""
        floor = self.floor
        text = floor.turn_text.text
        floor.turn_text.clear()
        floor.partial = ""
        self.ended = False
        if not text:
            floor.speculation.new_turn()
            return list(floor.drop_speculation())
        if call.replying and floor.is_backchannel(text):
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
