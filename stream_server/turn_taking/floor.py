"""One call's turn-taking in one object: who has the floor, heard frame by frame.

`Floor` gathers what used to be spread over `CallState`: the audio clock, the frame assembler, the
VAD, the echo check, the turn detector, the adaptive end of turn, the interruption judge and the
speculation policy, plus the caller's latest partial transcript. The conductor (`CallState`) asks
it questions and hands it what it hears; `Floor` answers with plain values (detector events,
`Verdict`, `Speculate` / `DropSpeculation`) and never decides what the call does about them.
It also assembles the caller's turn from the recogniser's committed segments (`segments.py`):
it says when to commit (the first short pause) and judges the end of turn on the committed words.

Sans I/O: times are the caller's, never read from a clock here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from stream_server.audio.codec import FRAME_BYTES, FRAME_MS, FrameAssembler, ulaw_to_pcm16
from stream_server.audio.echo import EchoDetector
from stream_server.turn_taking.backchannel import is_backchannel
from stream_server.turn_taking.detector import TurnDetector, TurnEvent, TurnSettings, VoiceActivityDetector
from stream_server.turn_taking.end_of_turn import EndOfTurnSettings
from stream_server.turn_taking.interruption import InterruptionJudge, InterruptionSettings, Verdict
from stream_server.turn_taking.segments import CallerTurnText, SegmentSettings, turn_silence_ms
from stream_server.turn_taking.speculation import Speculation, SpeculationPolicy, same_words

__all__ = ["DropSpeculation", "Floor", "HeardFrame", "Speculate"]


@dataclass(frozen=True, slots=True)
class HeardFrame:
    """One 20 ms caller frame: its PCM and whether it is caller speech (echo already excluded)."""

    pcm: np.ndarray
    speech: bool


@dataclass(frozen=True, slots=True)
class Speculate:
    """Start a reply early on this stable partial (``text``)."""

    speculation_id: int
    text: str


@dataclass(frozen=True, slots=True)
class DropSpeculation:
    """The speculative reply answered words the caller did not end up saying."""

    speculation_id: int


class Floor:
    """Turn-taking for one call. Times are monotonic seconds on the caller's audio clock."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = t = settings
        self._vad = VoiceActivityDetector(
            aggressiveness=t.vad_aggressiveness, energy_floor_dbfs=t.energy_floor_dbfs
        )
        self.detector = TurnDetector(t)
        self.echo = EchoDetector() if t.echo_suppression else None
        self.echo_frames = 0
        self._eot = EndOfTurnSettings(
            min_silence_ms=t.min_end_of_turn_silence_ms,
            max_silence_ms=t.max_end_of_turn_silence_ms,
            semantic=t.semantic_end_of_turn,
        )
        self.interruptions = InterruptionJudge(
            InterruptionSettings(
                barge_in_ms=t.barge_in_ms,
                barge_in_words_grace_ms=t.barge_in_words_grace_ms,
                false_interruption_ms=t.false_interruption_ms,
            )
        )
        self.speculation = SpeculationPolicy(
            stable_ms=t.speculation_stable_ms,
            silence_ms=t.speculation_silence_ms,
            enabled=t.speculative_replies,
        )
        self.partial = ""
        self._partial_at = 0.0
        self._partial_heard_at = -1.0  # the audio clock when the latest partial arrived
        # The caller's turn as committed segments, and when their voice was last heard (audio clock).
        self.turn_text = CallerTurnText()
        self.segments = SegmentSettings(
            commit_silence_ms=t.stt_commit_silence_ms, final_timeout_ms=t.stt_final_timeout_ms
        )
        self.voice_at = -1.0
        self._frames = FrameAssembler(FRAME_BYTES)
        self._clock: float | None = None

    # -- the audio clock ---------------------------------------------------------------------------

    def clock(self, now: float) -> float:
        """The caller's audio clock (advanced by the audio itself), or ``now`` before any audio."""
        return self._clock if self._clock is not None else now

    @property
    def caller_speaking(self) -> bool:
        return self.detector.caller_speaking

    # -- caller audio -------------------------------------------------------------------------------

    def hear(self, payload: bytes, now: float) -> Iterator[HeardFrame]:
        """The 20 ms frames in one media payload, each classified (VAD, then the echo check).

        A generator on purpose: the conductor feeds each frame to `turn_events` and acts on them
        before the next frame is judged, as the bot's state may change in between.
        """
        # The audio clock advances by the audio itself, so decisions do not depend on jitter.
        if self._clock is None or self._clock < now - 1.0:
            self._clock = now - len(payload) / 8000.0
        for frame in self._frames.push(payload):
            self._clock += FRAME_MS / 1000.0
            pcm = ulaw_to_pcm16(frame)
            speech = self._vad.is_speech(pcm)
            if self.echo is not None:
                # The bot's own voice coming back is never caller speech (see stream_server.audio.echo).
                if speech and self.echo.is_echo(pcm, self._clock):
                    speech = False
                    self.echo_frames += 1
                elif not speech:
                    self.echo.hear(pcm, self._clock)
            yield HeardFrame(pcm, speech)

    def turn_events(self, speech: bool, *, bot_speaking: bool) -> list[TurnEvent]:
        """The turn detector's verdict on the frame just heard."""
        events = self.detector.feed(speech, self.clock(0.0), bot_speaking=bot_speaking)
        if speech and self.detector.caller_speaking:
            self.turn_text.heard_speech()
            self.voice_at = self.clock(0.0)
        return events

    def commit_due(self, now: float) -> bool:
        """The caller paused long enough after speaking: commit the recogniser's segment now (noted)."""
        silence = self.detector.silence_ms(self.clock(now))
        if not self.detector.caller_speaking or not self.turn_text.should_commit(silence, self.segments):
            return False
        self.turn_text.committed(now)
        return True

    def commit_at_end_of_turn(self, now: float) -> bool:
        """The turn ended with voice not yet committed: commit it now (noted)."""
        if not self.turn_text.voiced_since_commit:
            return False
        self.turn_text.committed(now)
        return True

    def final_overdue(self, now: float) -> bool:
        return self.turn_text.overdue(now, self.segments)

    def joined_with_partial(self) -> str:
        """The turn's committed words and the latest partial after them."""
        return f"{self.turn_text.text} {self.partial}".strip()

    def frame_verdict(self, now: float) -> Verdict:
        """The interruption judge's per-frame follow-up (a pending barge-in, a false one)."""
        clock = self.clock(now)
        d = self.detector
        return self.interruptions.on_frame(
            clock, run_voiced_ms=d.run_voiced_ms, silence_ms=d.silence_ms(clock)
        )

    def caller_went_on(self, *, at_least_base: bool = False) -> DropSpeculation | None:
        """While the caller's turn is open: set the silence that ends it from their words (the
        committed text of the whole turn, or a fresh complete partial; `at_least_base` keeps the
        persona's silence as the minimum); a speculation they talked over is stale."""
        d = self.detector
        silence = turn_silence_ms(
            self.turn_text,
            partial=self.partial,
            partial_fresh=self._partial_heard_at >= self.voice_at,
            base_ms=d.end_of_turn_silence_ms,
            settings=self._eot,
        )
        d.set_turn_silence(max(silence, d.end_of_turn_silence_ms) if at_least_base else silence)
        current = self.speculation.current
        if current is not None and self.detector.run_voiced_ms + 1e-6 >= self.settings.min_speech_ms:
            self.speculation.discard()
            return DropSpeculation(current.speculation_id)
        return None

    def speculate(
        self, now: float, *, turn_ended: bool = False, text: str | None = None
    ) -> list[Speculate | DropSpeculation]:
        """Start a speculative reply on ``text`` (final words, stable by nature) or, by default, the
        current partial if it is stable enough (the policy decides)."""
        clock = self.clock(now)
        current = self.speculation.current
        started = self.speculation.should_start(
            self.partial if text is None else text,
            partial_age_ms=(now - self._partial_at) * 1000.0 if text is None else 1e9,
            silence_ms=self.detector.silence_ms(clock),
            turn_silence_ms=self.detector.turn_silence_ms,
            now=now,
            turn_ended=turn_ended,
        )
        if started is None:
            return []
        dropped = [DropSpeculation(current.speculation_id)] if current is not None else []
        return [*dropped, Speculate(started.speculation_id, started.text)]

    def candidate(self, onset_at: float, now: float) -> Verdict:
        """Speech over the bot lasted long enough to be a barge-in candidate."""
        return self.interruptions.on_candidate(onset_at, self.partial, self.clock(now))

    def interruption_onset(self) -> float:
        """Where the speech behind the latest interruption began, on the audio clock: the candidate's
        onset (a pause after its first word does not move it), else the caller's turn's."""
        onset = self.interruptions.cut_onset
        if onset is not None:
            return onset
        d = self.detector
        return d.turn_onset_at if d.caller_speaking else d.run_onset_at

    def barge_in_reaction_ms(self, now: float, onset: float | None = None) -> float:
        """From where the interrupting speech began (``onset``, else `interruption_onset`) to the
        cut, both on the audio clock: after a burst of late frames it runs ahead of ``now``."""
        start = onset if onset is not None else self.interruption_onset()
        return (self.clock(now) - start) * 1000.0

    def turn_ended(self) -> None:
        """The detector ended the caller's turn (its last finals may still be due)."""

    # -- transcripts --------------------------------------------------------------------------------

    def hear_partial(
        self, text: str, now: float, *, bot_speaking: bool = False
    ) -> tuple[list[DropSpeculation], Verdict] | None:
        """A new partial transcript; None when it repeats the last one (nothing to decide)."""
        self.interruptions.saw_words()
        if text == self.partial:
            return None
        self.partial, self._partial_at = text, now
        self._partial_heard_at = self.clock(now)
        dropped: list[DropSpeculation] = []
        current = self.speculation.current
        if current is not None and not same_words(current.text, self.joined_with_partial()):
            self.speculation.discard()
            dropped.append(DropSpeculation(current.speculation_id))
        overlapping = bot_speaking and self.detector.caller_speaking
        return dropped, self.interruptions.on_partial(text, self.clock(now), overlapping=overlapping)

    def hear_final(self, text: str, now: float) -> Verdict | None:
        """The final transcript of one committed segment. None if it is stale (its commit was given
        up: the turn moved on); else the interruption judge's word on it (a false interruption may
        be over; then the segment is not the caller's turn)."""
        if not self.turn_text.on_final(text, now):
            return None
        self.partial = ""
        verdict = self.interruptions.on_final(text)
        if verdict is Verdict.RESUME and text.strip():
            self.turn_text.drop_last()
        return verdict

    def drop_speculation(self) -> list[DropSpeculation]:
        dropped = self.speculation.discard()
        return [DropSpeculation(dropped.speculation_id)] if dropped is not None else []

    def confirm(self, text: str) -> tuple[Speculation | None, Speculation | None]:
        """(adopted, dropped) speculations for the caller's final words."""
        return self.speculation.confirm(text)

    @staticmethod
    def is_backchannel(text: str) -> bool:
        return is_backchannel(text)

    # -- the bot's audio ----------------------------------------------------------------------------

    def bot_played(self, audio: bytes, now: float) -> None:
        if self.echo is not None:
            self.echo.played(audio, self.clock(now))

    def bot_cut(self, now: float) -> None:
        if self.echo is not None:
            self.echo.cut(self.clock(now))

    def bot_finished(self, *, caller_took_floor: bool = False) -> None:
        """The bot's utterance is over. A half-heard onset over it is forgotten, unless the caller
        cut the bot: then their turn is real and stays open (with its onset and silence so far)."""
        if caller_took_floor and self.detector.caller_speaking:
            return
        self.detector.reset()
