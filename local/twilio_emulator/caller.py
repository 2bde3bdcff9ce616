"""The person on the phone: a script of utterances, and when to say each one.

Sans-I/O state machine. Every 20 ms the media session asks `Caller.tick(now)` for the next frame
of caller audio; it tells the caller what the loudspeaker played with `heard_bot(...)`. The caller
speaks after the bot's reply has ended and a pause has passed (normal turn-taking), or a set time
after the bot's reply *starts* (a barge-in). Everything notable goes into a timeline, from which
per-turn latency is read: caller stopped speaking -> first bot audio heard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stream_server.audio.codec import silence_ulaw

__all__ = [
    "Caller",
    "CallerFrame",
    "CallerScript",
    "TimelineEvent",
    "Utterance",
    "turn_latencies_ms",
    "voice_to_voice_ms",
]

FRAME_SECONDS = 0.02
# Bot silence that separates one reply from the next (shorter gaps are buffer underruns).
_REPLY_GAP_SECONDS = 0.3
SILENCE_FRAME = silence_ulaw(20)


@dataclass(frozen=True)
class Utterance:
    """One thing the caller says (or keys in).

    Attributes:
        text: words to speak; empty for a DTMF-only turn.
        dtmf: digits pressed after speaking.
        pause_ms: how long the bot must have been quiet before the caller starts.
        barge_in_ms: if set, start this long after the bot's next reply starts, talking over it.
    """

    text: str = ""
    dtmf: str = ""
    pause_ms: int = 700
    barge_in_ms: int | None = None


@dataclass(frozen=True)
class CallerScript:
    """A whole call from the caller's side.

    Attributes:
        utterances: in order.
        hang_up: hang up after the bot's last reply; if False, wait for the bot to end the call.
        max_wait_ms: how long to wait for the bot before speaking (or hanging up) anyway.
    """

    utterances: tuple[Utterance, ...]
    hang_up: bool = True
    max_wait_ms: int = 15_000


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened, `at` seconds after the stream started."""

    at: float
    kind: str
    detail: str = ""
    value: float | None = None


@dataclass(frozen=True)
class CallerFrame:
    """What the caller does in one 20 ms tick."""

    audio: bytes
    dtmf: str = ""
    hang_up: bool = False


class Callee(Protocol):
    """Who answers an emulated call: a scripted `Caller`, or a live one (the browser phone)."""

    timeline: list[TimelineEvent]

    def tick(self, now: float) -> CallerFrame:
        """The callee's next 20 ms of audio (and keys, and whether it hangs up)."""
        ...

    def heard_bot(self, played: Sequence[tuple[float, bytes]], *, speaking: bool) -> None:
        """The bot's audio that just played (start time, bytes); ``speaking``: more is queued."""
        ...

    def note(self, now: float, kind: str, detail: str = "") -> None: ...


@dataclass
class _Turn:
    ended_at: float | None = None
    reply_started_at: float | None = None
    # Bot audio still playing when the caller stopped belongs to the old reply (not yet cleared).
    old_reply_playing: bool = False


@dataclass
class Caller:
    """Plays a `CallerScript` against what the loudspeaker reports.

    `render` turns text into 8 kHz mu-law (eSpeak NG in practice; anything in tests).
    """

    script: CallerScript
    render: Callable[[str], bytes]
    started_at: float
    timeline: list[TimelineEvent] = field(default_factory=list)
    _index: int = 0
    _speech: bytes = b""
    _speaking: bool = False
    _done: bool = False
    _turn: _Turn = field(default_factory=_Turn)
    _bot_last_audio_end: float | None = None
    _bot_speaking: bool = False

    def __post_init__(self) -> None:
        # The greeting counts as the reply to "turn -1": the call starting.
        self._turn = _Turn(ended_at=self.started_at)

    def _log(self, now: float, kind: str, detail: str = "", value: float | None = None) -> None:
        self.timeline.append(TimelineEvent(round(now - self.started_at, 3), kind, detail, value))

    def heard_bot(self, played: Sequence[tuple[float, bytes]], *, speaking: bool) -> None:
        """Report loudspeaker output (start time, bytes) and whether more is still queued."""
        turn = self._turn
        for start, chunk in played:
            last = self._bot_last_audio_end
            if turn.old_reply_playing and (last is None or start - last >= _REPLY_GAP_SECONDS):
                turn.old_reply_playing = False  # a real pause: whatever plays now is a new reply
            fresh = not turn.old_reply_playing and turn.reply_started_at is None
            if fresh and turn.ended_at is not None and not self._speaking:
                turn.reply_started_at = start
                latency = (start - turn.ended_at) * 1000
                kind = "greeting_start" if self._index == 0 else "bot_reply_start"
                self._log(start, kind, value=round(latency, 1))
            self._bot_last_audio_end = start + len(chunk) / 8000
        self._bot_speaking = speaking

    def note(self, now: float, kind: str, detail: str = "") -> None:
        """Record an event seen by the session (mark echoed, clear received...)."""
        self._log(now, kind, detail)

    @property
    def finished(self) -> bool:
        return self._done

    def _bot_quiet_for(self, now: float, ms: int) -> bool:
        if self._bot_speaking:
            return False
        end = self._bot_last_audio_end
        return end is not None and (now - end) * 1000 >= ms

    def _ready(self, now: float, utterance: Utterance | None) -> bool:
        turn = self._turn
        assert turn.ended_at is not None
        # Patience runs from the later of the caller's turn and the last bot audio heard, and never
        # runs out while the bot is talking: a slow bot is waited for, a silent one is not.
        waited_since = max(turn.ended_at, self._bot_last_audio_end or turn.ended_at)
        if not self._bot_speaking and (now - waited_since) * 1000 >= self.script.max_wait_ms:
            self._log(now, "caller_gave_up_waiting")
            return True
        if turn.reply_started_at is None:
            return False
        if utterance is not None and utterance.barge_in_ms is not None:
            return (now - turn.reply_started_at) * 1000 >= utterance.barge_in_ms
        pause = utterance.pause_ms if utterance is not None else 700
        return self._bot_quiet_for(now, pause)

    def tick(self, now: float) -> CallerFrame:
        """The caller's next 20 ms."""
        if self._done:
            return CallerFrame(SILENCE_FRAME)
        if self._speaking:
            frame, self._speech = self._speech[:160], self._speech[160:]
            if not self._speech:
                return self._finish_utterance(now + FRAME_SECONDS, frame)
            return CallerFrame(frame)
        utterances = self.script.utterances
        if self._index >= len(utterances):
            if self.script.hang_up and self._ready(now, None):
                self._done = True
                self._log(now, "caller_hang_up")
                return CallerFrame(SILENCE_FRAME, hang_up=True)
            return CallerFrame(SILENCE_FRAME)
        utterance = utterances[self._index]
        if not self._ready(now, utterance):
            return CallerFrame(SILENCE_FRAME)
        if not utterance.text:
            return self._finish_utterance(now, SILENCE_FRAME)
        self._speech = self.render(utterance.text)
        self._speaking = True
        self._log(now, "caller_start", utterance.text)
        if self._bot_speaking:
            self._log(now, "barge_in", utterance.text)
        return self.tick(now)

    def _finish_utterance(self, end: float, frame: bytes) -> CallerFrame:
        utterance = self.script.utterances[self._index]
        self._speaking = False
        self._index += 1
        if utterance.text:
            self._log(end, "caller_stop", utterance.text)
        if utterance.dtmf:
            self._log(end, "dtmf", utterance.dtmf)
        # Audio heard just before the caller stopped belongs to the reply the caller talked over,
        # even if it stutters (a slow TTS underruns the buffer): only a real pause ends that reply.
        recent = self._bot_last_audio_end is not None and end - self._bot_last_audio_end < _REPLY_GAP_SECONDS
        self._turn = _Turn(ended_at=end, old_reply_playing=self._bot_speaking or recent)
        return CallerFrame(frame + SILENCE_FRAME[len(frame) :], dtmf=utterance.dtmf)


def turn_latencies_ms(timeline: Sequence[TimelineEvent]) -> list[float]:
    """Caller stopped -> first bot audio heard, one figure per answered caller turn."""
    return [e.value for e in timeline if e.kind == "bot_reply_start" and e.value is not None]


def voice_to_voice_ms(timeline: Sequence[TimelineEvent], tail_ms: Callable[[str], float]) -> list[float]:
    """Per answered caller line: its last *speech* sample to the first bot audio played after it.

    A line's `caller_stop` comes at the end of its rendered audio; ``tail_ms(text)`` is the silence
    that audio ends with (`voice.trailing_silence_ms` of the rendering), added back so the figure
    counts from the caller's last word. The greeting answers no line and is not counted.
    """
    figures = []
    last_stop: str | None = None
    for event in timeline:
        if event.kind == "caller_stop":
            last_stop = event.detail
        elif event.kind == "bot_reply_start" and last_stop is not None and event.value is not None:
            figures.append(event.value + tail_ms(last_stop))
            last_stop = None
    return figures
