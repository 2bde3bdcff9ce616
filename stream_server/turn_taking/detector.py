"""Turn-taking: who has the floor, decided frame by frame from the caller's audio.

Two layers, both free of I/O:

* `VoiceActivityDetector` classifies one 20 ms PCM16 frame as speech or not: an energy gate
  first (line hiss and digital silence never reach the VAD, which saves most of its CPU on a
  phone line where the caller is mostly listening), then WebRTC's GMM VAD.
* `TurnDetector` is a pure state machine over those booleans plus a clock the caller passes in.
  It says when the caller started a turn, when they have finished (a configurable stretch of
  silence, per persona), and when speech over the bot has lasted long enough to count as a
  barge-in rather than a cough or a "mm-hm".

Because time is an argument, tests and benchmarks replay whole calls faster than real time and
get the same decisions as a live call. See docs/turn-taking.md for the VAD choice and its cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
import webrtcvad

from stream_server.audio.codec import FRAME_MS, SAMPLE_RATE

__all__ = [
    "BargeIn",
    "EndOfTurn",
    "SpeechStarted",
    "TurnDetector",
    "TurnEvent",
    "TurnSettings",
    "VoiceActivityDetector",
    "frame_dbfs",
]


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """Tunables for turn-taking (all from the process settings; silence also per persona).

    Attributes:
        vad_aggressiveness: WebRTC VAD mode 0-3; higher rejects more non-speech.
        energy_floor_dbfs: frames quieter than this are silence without asking the VAD.
        end_of_turn_silence_ms: silence after speech that ends the caller's turn.
        min_speech_ms: voiced time needed before a caller turn counts as started (clicks and
            single-frame noise never open a turn).
        barge_in_ms: voiced time over the bot's speech needed to interrupt it.
        speech_gap_ms: a pause shorter than this inside an onset does not restart the count.
        min_end_of_turn_silence_ms / max_end_of_turn_silence_ms: the adaptive end of turn's
            bounds (`stream_server.turn_taking.end_of_turn`): a complete question ends after the minimum, a
            trailing "and..." waits up to the maximum.
        semantic_end_of_turn: False = plain VAD silence (the persona's) for every turn.
        barge_in_words_grace_ms: when the recogniser gives partials, how much longer than
            ``barge_in_ms`` speech may run without words before it interrupts anyway.
        false_interruption_ms: after an interruption, how long to wait for words before deciding
            it was noise and re-saying the cut sentence.
        speculation_stable_ms: a partial unchanged this long during silence starts the LLM early.
        speculation_silence_ms: silence needed before a speculative reply starts.
        speculative_replies: False = never start the LLM before the final transcript.
        echo_suppression: ignore inbound audio that correlates with what the bot just played.
        stt_commit_silence_ms: a pause this long in the caller's speech commits the recogniser's
            segment, so its final words arrive while we still listen (`stream_server.turn_taking.segments`).
        stt_final_timeout_ms: a commit the recogniser leaves unanswered this long is given up: the
            best partial stands in for its words (or the caller is asked again).
    """

    vad_aggressiveness: int = 2
    energy_floor_dbfs: float = -50.0
    end_of_turn_silence_ms: int = 700
    min_speech_ms: int = 100
    barge_in_ms: int = 240
    speech_gap_ms: int = 100
    min_end_of_turn_silence_ms: int = 250
    max_end_of_turn_silence_ms: int = 1600
    semantic_end_of_turn: bool = True
    barge_in_words_grace_ms: int = 250
    false_interruption_ms: int = 900
    speculation_stable_ms: int = 120
    speculation_silence_ms: int = 120
    speculative_replies: bool = True
    echo_suppression: bool = True
    stt_commit_silence_ms: int = 200
    stt_final_timeout_ms: int = 2000


def frame_dbfs(pcm: np.ndarray) -> float:
    """RMS level of a PCM16 frame relative to full scale (-inf for digital silence)."""
    if pcm.size == 0:
        return -math.inf
    # float32 dot product: ~4x cheaper than square/mean on a 160-sample frame, exact enough.
    samples = pcm.astype(np.float32)
    energy = float(np.dot(samples, samples)) / pcm.size
    return -math.inf if energy <= 0.0 else 10.0 * math.log10(energy / (32768.0 * 32768.0))


class VoiceActivityDetector:
    """Energy gate + WebRTC VAD over 10/20/30 ms PCM16 frames at 8 kHz."""

    __slots__ = ("_floor", "_vad")

    def __init__(self, *, aggressiveness: int = 2, energy_floor_dbfs: float = -50.0) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError("VAD aggressiveness must be 0..3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._floor = energy_floor_dbfs

    def is_speech(self, pcm: np.ndarray) -> bool:
        """Classify one frame; frames of the wrong length are treated as silence."""
        if pcm.size * 1000 // SAMPLE_RATE not in (10, 20, 30):
            return False
        if frame_dbfs(pcm) < self._floor:
            return False
        return bool(self._vad.is_speech(pcm.astype("<i2").tobytes(), SAMPLE_RATE))


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller has begun a turn (after `min_speech_ms` of voice)."""

    onset_at: float


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The caller has talked over the bot for `barge_in_ms`; stop the bot now."""

    onset_at: float
    decided_at: float


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    """The caller has finished: silence since `last_speech_at` reached the configured length."""

    onset_at: float
    last_speech_at: float
    decided_at: float


TurnEvent = SpeechStarted | BargeIn | EndOfTurn


class _Floor(Enum):
    LISTENING = "listening"
    CALLER = "caller"


class TurnDetector:
    """End-of-turn and barge-in decisions from per-frame speech flags and timestamps.

    Feed every frame in order with ``feed(is_speech, now, bot_speaking=...)`` where ``now`` is
    the time (seconds) at the *end* of the frame. The detector holds no clock of its own.
    """

    def __init__(self, settings: TurnSettings, *, frame_ms: int = FRAME_MS) -> None:
        self._settings = settings
        self._frame_s = frame_ms / 1000.0
        self._floor = _Floor.LISTENING
        self._turn_onset_at = 0.0
        # The current run of speech: voiced frames with no pause longer than speech_gap_ms.
        self._run_onset_at = 0.0
        self._run_voiced_s = 0.0
        self._last_speech_at = -1.0
        self._barged = False
        self._silence_target_ms = settings.end_of_turn_silence_ms

    @property
    def caller_speaking(self) -> bool:
        """True between `SpeechStarted` and `EndOfTurn`."""
        return self._floor is _Floor.CALLER

    @property
    def end_of_turn_silence_ms(self) -> int:
        return self._settings.end_of_turn_silence_ms

    @property
    def turn_silence_ms(self) -> int:
        """The silence that will end the current turn (adaptive; see `set_turn_silence`)."""
        return self._silence_target_ms

    @property
    def run_voiced_ms(self) -> float:
        """Voiced time of the current run of speech (0 once a pause longer than the gap passed)."""
        return self._run_voiced_s * 1000.0

    @property
    def run_onset_at(self) -> float:
        return self._run_onset_at

    @property
    def turn_onset_at(self) -> float:
        """Where the caller's current turn began (meaningful while `caller_speaking`)."""
        return self._turn_onset_at

    def silence_ms(self, now: float) -> float:
        """How long the caller has been quiet at ``now`` (large before any speech)."""
        return (now - self._last_speech_at) * 1000.0 if self._last_speech_at >= 0 else 1e9

    def reset(self) -> None:
        """Forget any half-heard onset and give the floor back to the bot."""
        self._floor = _Floor.LISTENING
        self._run_voiced_s = 0.0
        self._barged = False
        self._silence_target_ms = self._settings.end_of_turn_silence_ms

    def set_turn_silence(self, ms: int) -> None:
        """Adapt the silence that ends the current turn (the words so far decide; see end_of_turn)."""
        self._silence_target_ms = ms

    def feed(self, is_speech: bool, now: float, *, bot_speaking: bool) -> list[TurnEvent]:
        """Advance one frame; returns the decisions it triggered (usually none).

        Barge-in counts one *run* of speech (pauses up to ``speech_gap_ms`` bridged), so two
        separate "mm-hm"s over the bot never add up to an interruption.
        """
        s = self._settings
        events: list[TurnEvent] = []
        if is_speech:
            gap_ms = (now - self._frame_s - self._last_speech_at) * 1000.0
            if self._run_voiced_s == 0.0 or gap_ms > s.speech_gap_ms + 1e-6:
                self._run_onset_at = now - self._frame_s
                self._run_voiced_s = 0.0
                self._barged = False
            self._run_voiced_s += self._frame_s
            self._last_speech_at = now
            voiced_ms = self._run_voiced_s * 1000.0 + 1e-6
            if self._floor is _Floor.LISTENING and voiced_ms >= s.min_speech_ms:
                self._floor = _Floor.CALLER
                self._turn_onset_at = self._run_onset_at
                events.append(SpeechStarted(self._run_onset_at))
            if bot_speaking and not self._barged and voiced_ms >= s.barge_in_ms:
                self._barged = True
                events.append(BargeIn(self._run_onset_at, now))
            return events
        silence_ms = (now - self._last_speech_at) * 1000.0 + 1e-6
        if self._floor is _Floor.CALLER and silence_ms >= self._silence_target_ms:
            events.append(EndOfTurn(self._turn_onset_at, self._last_speech_at, now))
            self.reset()
        elif silence_ms > s.speech_gap_ms:
            self._run_voiced_s = 0.0
        return events

    def set_end_of_turn_silence(self, ms: int) -> None:
        """Apply the persona's own silence threshold once it is known."""
        self._settings = replace(self._settings, end_of_turn_silence_ms=ms)
        if self._floor is _Floor.LISTENING:
            self._silence_target_ms = ms
