"""Answering machines: knowing we reached one, and speaking only after its beep.

Two sources decide that a machine answered, whichever comes first:

* Twilio's asynchronous AMD (``AnsweredBy`` on the status callback, stored on the call record
  by the control plane; the session polls the record during the first seconds). With
  ``DetectMessageEnd`` the ``machine_end_beep`` / ``machine_end_silence`` / ``machine_end_other``
  results arrive once the greeting is over, so the message can start at once. ``machine_start``
  (plain ``Enable``) and ``fax`` arrive early, while the greeting still plays; a fax is hung up
  on at once (it would record nothing).
* The first seconds of audio: a "caller" who talks without a break for several seconds right
  after answering is almost always a recorded greeting (people say "Hello?" and wait).

Once a machine is known and its greeting may still be playing, we wait for the beep (a
sustained, narrow-band tone, found with single-bin DFTs, which is what the Goertzel algorithm
computes, over a bank of frequencies) or for the greeting to fall silent, bounded by a maximum
wait. Speaking before the beep would leave a message with its first words missing.

Pure: frames and times in, a verdict out. `CallState` turns the verdict into the message and the
hang-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

import numpy as np
from callcore.models import AMD_TIMEOUT_SECONDS

from stream_server.audio.codec import SAMPLE_RATE
from stream_server.behaviours.intents import Count, EndReason, Hold, Intent, LeaveMessage

log = logging.getLogger("stream_server.call")

__all__ = [
    "GREETING_OVER",
    "MACHINE_RESULTS",
    "AnsweringMachine",
    "MachineVerdict",
    "ToneDetector",
    "VoicemailSettings",
    "VoicemailWatch",
]

MACHINE_RESULTS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
GREETING_OVER = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})


class MachineVerdict(Enum):
    UNKNOWN = "unknown"
    HUMAN = "human"
    WAIT_FOR_BEEP = "wait-for-beep"
    SPEAK_NOW = "speak-now"


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    """Tunables; defaults fit common carrier and handset voicemail greetings.

    Attributes:
        monologue_s: uninterrupted speech this long within ``detect_window_s`` means a machine.
        detect_window_s: the audio heuristic only runs this long after the call starts.
        monologue_gap_s: pauses up to this long do not break the monologue (greetings breathe).
        silence_after_greeting_s: with no beep, this much silence after the greeting = speak.
        max_wait_s: never wait longer than this for a beep or silence.
        tone_min_s: a tone must last this long to count as the beep.
        tone_purity: share of a frame's energy in one frequency for it to count as tone.
        tone_floor_dbfs: quieter frames are never tone.
        amd_poll_interval_s / amd_poll_for_s: how often and how long the session reads the call
            record for Twilio's AMD result.
    """

    monologue_s: float = 5.5
    detect_window_s: float = 12.0
    monologue_gap_s: float = 0.7
    silence_after_greeting_s: float = 2.0
    max_wait_s: float = 30.0
    tone_min_s: float = 0.16
    tone_purity: float = 0.6
    tone_floor_dbfs: float = -35.0
    amd_poll_interval_s: float = 0.5
    # Twilio gives up detecting after AMD_TIMEOUT_SECONDS from answer; the callback and its write
    # to the call record come after that, so reading stops only well past it.
    amd_poll_for_s: float = AMD_TIMEOUT_SECONDS + 15.0


class ToneDetector:
    """Finds a sustained pure tone (300-2100 Hz) in 8 kHz PCM16 frames.

    Each frame is correlated with complex exponentials every 25 Hz: a single-bin DFT per
    frequency, exactly what Goertzel computes, done as one matrix product so it costs
    microseconds in numpy instead of a Python loop per sample. A tone puts nearly all of a
    frame's energy in one bin; speech spreads it over harmonics and formants.
    """

    __slots__ = ("_basis", "_floor", "_freqs", "_min_frames", "_purity", "_run", "_run_freq", "_size")

    def __init__(self, settings: VoicemailSettings, *, frame_samples: int = 160) -> None:
        self._freqs = np.arange(300.0, 2100.0 + 1.0, 25.0)
        n = np.arange(frame_samples)
        self._basis = np.exp(-2j * np.pi * np.outer(self._freqs, n) / SAMPLE_RATE)
        self._size = frame_samples
        self._purity = settings.tone_purity
        self._floor = settings.tone_floor_dbfs
        self._min_frames = max(1, round(settings.tone_min_s * SAMPLE_RATE / frame_samples))
        self._run = 0
        self._run_freq = 0.0

    def tone_of(self, pcm: np.ndarray) -> float | None:
        """The frame's tone frequency in Hz, or None when the frame is not a clean tone."""
        if pcm.size != self._size:
            return None
        x = pcm.astype(np.float64)
        energy = float(np.dot(x, x))
        if energy <= 0.0 or 10.0 * np.log10(energy / self._size / 32768.0**2) < self._floor:
            return None
        power = np.abs(self._basis @ x) ** 2
        best = int(np.argmax(power))
        purity = 2.0 * float(power[best]) / (self._size * energy)
        return float(self._freqs[best]) if purity >= self._purity else None

    def feed(self, pcm: np.ndarray) -> bool:
        """True while a tone has lasted at least ``tone_min_s`` at a steady frequency."""
        freq = self.tone_of(pcm)
        if freq is None:
            self._run = 0
            return False
        if self._run and abs(freq - self._run_freq) > 50.0:
            self._run = 0
        self._run += 1
        self._run_freq = freq
        return self._run >= self._min_frames


class VoicemailWatch:
    """Per call: is this a machine, and if so, may the message start yet?"""

    def __init__(self, settings: VoicemailSettings, *, started_at: float) -> None:
        self.settings = settings
        self.verdict = MachineVerdict.UNKNOWN
        self.reason = ""
        self._started_at = started_at
        self._tone = ToneDetector(settings)
        self._run_start: float | None = None
        self._last_speech: float | None = None
        self._waiting_since: float | None = None
        self._beeping = False

    @property
    def machine(self) -> bool:
        return self.verdict in (MachineVerdict.WAIT_FOR_BEEP, MachineVerdict.SPEAK_NOW)

    def on_answered_by(self, answered_by: str, now: float) -> MachineVerdict:
        """Twilio's AMD result; a verdict already reached by the audio is only ever advanced."""
        if answered_by in GREETING_OVER:
            return self._decide(MachineVerdict.SPEAK_NOW, f"amd-{answered_by}", now)
        if answered_by in MACHINE_RESULTS:
            return self._decide(MachineVerdict.WAIT_FOR_BEEP, f"amd-{answered_by}", now)
        if answered_by == "human" and self.verdict is MachineVerdict.UNKNOWN:
            self.verdict = MachineVerdict.HUMAN
        return self.verdict

    def on_frame(self, pcm: np.ndarray, speech: bool, t: float) -> MachineVerdict:
        """One 20 ms inbound frame (``t`` = its end on the audio clock)."""
        s = self.settings
        if self.verdict is MachineVerdict.UNKNOWN:
            if speech:
                gap = t - self._last_speech if self._last_speech is not None else None
                if self._run_start is None or (gap is not None and gap > s.monologue_gap_s):
                    self._run_start = t
                self._last_speech = t
                if t - self._started_at <= s.detect_window_s and t - self._run_start >= s.monologue_s:
                    return self._decide(MachineVerdict.WAIT_FOR_BEEP, "greeting-monologue", t)
            return self.verdict
        if self.verdict is not MachineVerdict.WAIT_FOR_BEEP:
            return self.verdict
        if self._tone.feed(pcm):
            self._beeping = True
            return self.verdict
        if self._beeping:
            # The beep just ended: the machine is recording now.
            return self._decide(MachineVerdict.SPEAK_NOW, "beep", t)
        if speech:
            self._last_speech = t
        quiet_since = max(self._last_speech or self._started_at, self._waiting_since or t)
        if t - quiet_since >= s.silence_after_greeting_s:
            return self._decide(MachineVerdict.SPEAK_NOW, "silence", t)
        if self._waiting_since is not None and t - self._waiting_since >= s.max_wait_s:
            return self._decide(MachineVerdict.SPEAK_NOW, "timeout", t)
        return self.verdict

    def _decide(self, verdict: MachineVerdict, reason: str, now: float) -> MachineVerdict:
        if self.verdict in (MachineVerdict.SPEAK_NOW, verdict):
            return self.verdict
        self.verdict = verdict
        self.reason = f"{self.reason}+{reason}" if self.reason else reason
        if verdict is MachineVerdict.WAIT_FOR_BEEP:
            self._waiting_since = now
        return verdict


class AnsweringMachine:
    """Voicemail as a call behaviour: `Hold` when a machine answers, `LeaveMessage` after its beep."""

    def __init__(self, settings: VoicemailSettings, *, started_at: float, message: str | None) -> None:
        self.watch = VoicemailWatch(settings, started_at=started_at)
        self._message = message

    @property
    def machine(self) -> bool:
        return self.watch.machine

    @property
    def undecided(self) -> bool:
        """Neither human nor machine yet: nothing should be said to whoever answered."""
        return self.watch.verdict is MachineVerdict.UNKNOWN

    def on_frame(self, pcm: np.ndarray, speech: bool, t: float) -> list[Intent]:
        watch = self.watch
        if watch.verdict in (MachineVerdict.HUMAN, MachineVerdict.SPEAK_NOW):
            return []
        before = watch.verdict
        return self._intents(before, watch.on_frame(pcm, speech, t))

    def on_answered_by(self, answered_by: str, now: float) -> list[Intent]:
        watch = self.watch
        if answered_by == "fax" and watch.verdict is not MachineVerdict.SPEAK_NOW:
            # A fax records nothing: no beep to wait for, no message to leave. Hang up.
            log.info("fax machine answered: hanging up without a message")
            held = watch.machine
            watch.verdict, watch.reason = MachineVerdict.SPEAK_NOW, "amd-fax"
            hold: list[Intent] = [] if held else [Hold(EndReason.VOICEMAIL), Count("AnsweringMachines")]
            return [*hold, Count("FaxMachines"), LeaveMessage(None)]
        before = watch.verdict
        return self._intents(before, watch.on_answered_by(answered_by, now))

    def _intents(self, before: MachineVerdict, verdict: MachineVerdict) -> list[Intent]:
        if verdict is before or verdict in (MachineVerdict.UNKNOWN, MachineVerdict.HUMAN):
            return []
        intents: list[Intent] = []
        if before is MachineVerdict.UNKNOWN:
            log.info("answering machine detected (%s)", self.watch.reason)
            intents += [Hold(EndReason.VOICEMAIL), Count("AnsweringMachines")]
        if verdict is MachineVerdict.SPEAK_NOW:
            log.info("machine ready for the message (%s)", self.watch.reason)
            intents.append(LeaveMessage(self._message or None))
        return intents
