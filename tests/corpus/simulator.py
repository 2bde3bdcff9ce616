"""Replays a scripted phone call through `CallState` on an invented clock, sans I/O.

The simulated world around the call's brain is what Twilio, the phone and the providers would do:

* the *phone* plays every outbound media message in order at 8 kHz and echoes each mark when the
  audio before it has played (all pending marks at once after a ``clear``, as Twilio does);
  optionally it leaks the played audio back into the inbound stream (speakerphone echo);
* the *caller* follows a script (speech segments rendered by eSpeak NG with pauses, noise bursts,
  waits on the bot) mixed over a faint line hiss;
* the *recogniser* emits partial transcripts word by word as the audio is heard (after a fixed
  latency) and the final transcript ``stt_commit_s`` after each commit; with ``recognition`` (the
  fakes' shared `ProviderTiming`) it trails the audio as a real one does instead: a partial every
  200 ms showing the words that ended 300-500 ms before, and a commit finalising only the words
  spoken by then;
* the *LLM + TTS* produce a reply's first audio ``llm_first_token_s + tts_first_byte_s`` after
  the request (speculative requests too, held until adopted).

Every 20 ms tick the phone plays, the caller's frame (plus echo) goes in, then any due events.
The run records what happened on the timeline, for tests and `bench/bench_turns.py`.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from callcore.models import Persona

from local.fake_providers.recognition import ProviderTiming, TrailingTranscript, word_end_times
from stream_server.audio.codec import FRAME_BYTES, pcm16_to_ulaw, split_frames, ulaw_to_pcm16
from stream_server.conversation.actions import (
    Action,
    AdoptSpeculation,
    CancelReply,
    CommitStt,
    DiscardSpeculation,
    Hangup,
    Send,
    SpeakReply,
    SpeakText,
    SpeculateReply,
)
from stream_server.conversation.call_state import CallConfig, CallState
from stream_server.speech.pipeline import ReplyAudio
from stream_server.telephony.twilio_protocol import OutboundClear, OutboundMark, OutboundMedia
from stream_server.turn_taking.detector import TurnSettings, frame_dbfs
from tests.shell_frames import feed_frame
from tests.unit.stream_server.espeak_audio import speech_ulaw

__all__ = [
    "Backchannel",
    "CallRun",
    "Echo",
    "Latencies",
    "Mumble",
    "Noise",
    "Pause",
    "Say",
    "Step",
    "WaitBot",
    "persona",
    "run_call",
    "trimmed_speech",
]

TICK = 0.02
START = 100.0


def persona(**overrides: Any) -> Persona:
    base: dict[str, Any] = {
        "persona_id": "corpus",
        "name": "Corpus",
        "voice_id": "v",
        "prompt": "Be brief.",
        "greeting": "Hello, thanks for calling the restaurant.",
        "goodbye": "Goodbye.",
        "end_of_turn_silence_ms": 700,
        "max_duration_seconds": 600,
    }
    base.update(overrides)
    return Persona(**base)


def trimmed_speech(text: str) -> bytes:
    """eSpeak audio without quiet frames at either end, so word timings are exact."""
    frames = [f for f in split_frames(speech_ulaw(text)) if len(f) == FRAME_BYTES]
    loud = [i for i, f in enumerate(frames) if frame_dbfs(ulaw_to_pcm16(f)) > -45]
    return b"".join(frames[loud[0] : loud[-1] + 1])


# --- the caller's script ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Speech segments (str) and pauses (int ms) making up one caller turn's words."""

    parts: tuple[str | int, ...]
    heard_as: str | None = None  # what the recogniser makes of it (default: the words)


@dataclass(frozen=True)
class Backchannel:
    """A listener's acknowledgement while the bot talks."""

    text: str


@dataclass(frozen=True)
class Mumble:
    """Voice with no words the recogniser can catch (a side conversation, a cough)."""

    text: str


@dataclass(frozen=True)
class Noise:
    """A burst of broadband noise (door slam, rustle)."""

    ms: int
    dbfs: float = -25.0


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class WaitBot:
    """Wait until the bot has been audible for ``audible_ms`` (or, with ``done``, has finished)."""

    audible_ms: int = 0
    done: bool = False
    then_ms: int = 0


Step = Say | Backchannel | Mumble | Noise | Pause | WaitBot


@dataclass(frozen=True)
class Echo:
    """Speakerphone: the played audio comes back ``delay_ms`` later, ``gain_db`` quieter."""

    delay_ms: int = 150
    gain_db: float = -12.0


@dataclass(frozen=True)
class Latencies:
    """Fixed provider latencies (seconds), defaults at published figures."""

    stt_partial_s: float = 0.1
    stt_commit_s: float = 0.15
    llm_first_token_s: float = 0.2
    tts_first_byte_s: float = 0.15

    @classmethod
    def published(cls, timing: ProviderTiming) -> Latencies:
        """The fakes' shared figures (STT final 120 ms, LLM first token 150 ms, TTS first audio 150 ms)."""
        return cls(
            stt_commit_s=timing.final_after_commit_ms / 1000,
            llm_first_token_s=timing.llm_first_token_ms / 1000,
            tts_first_byte_s=timing.tts_first_audio_ms / 1000,
        )


@dataclass
class _Segment:
    """One stretch of caller audio with words: where it sits on the timeline."""

    words: list[str]
    start: float
    end: float
    kind: str  # "say", "backchannel", "mumble"
    turn: int


@dataclass
class CallRun:
    """What happened, on the simulated clock."""

    state: CallState
    actions: list[tuple[float, Action]] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)
    reply_audio_at: list[float] = field(default_factory=list)  # first played audio of each utterance
    replies_at: list[float] = field(default_factory=list)  # a reply decided (spoken, or speculation adopted)
    utterance_kinds: list[str] = field(default_factory=list)
    speculations: dict[str, int] = field(default_factory=lambda: {"started": 0, "adopted": 0, "discarded": 0})
    llm_requests: int = 0
    ended_at: float = 0.0

    def turns(self, role: str) -> list[Any]:
        return [t for t in self.state.turns if t.role == role]

    def say_segments(self, turn: int) -> list[_Segment]:
        return [s for s in self.segments if s.turn == turn]


class _World:
    def __init__(
        self,
        script: list[Step],
        *,
        turn: TurnSettings,
        latencies: Latencies,
        partials: bool,
        punctuation: bool,
        echo: Echo | None,
        reply: Callable[[int], list[str]],
        persona_: Persona,
        seed: int,
        recognition: ProviderTiming | None = None,
    ) -> None:
        self.state = CallState(CallConfig(turn=turn))
        self.recognition = recognition
        self.trailing: list[TrailingTranscript] = []  # realistic mode: lines not yet fully committed
        self.last_partial = ""
        self.lag_rng = random.Random(seed)
        self.run = CallRun(self.state)
        self.t = START
        self.lat = latencies
        self.partials = partials
        self.punctuation = punctuation
        self.echo = echo
        self.reply = reply
        self.persona = persona_
        self.rng = np.random.default_rng(seed)
        self.script = list(script)
        self.events: list[tuple[float, int, Callable[[], list[Action]]]] = []
        self.seq = itertools.count()
        # Phone playback: queued audio and marks, in order.
        self.queue: list[bytes | str] = []
        self.played = np.zeros(0, dtype=np.float64)
        self.audible_since: float | None = None
        self.generation = 0  # bumps on CancelReply: drops that reply's pending chunks
        self.replies = 0
        self.held: dict[int, list[tuple[float, ReplyAudio | None]]] = {}
        self.utterance_first_audio: bool = False
        # Caller audio still to send, and the words heard since the last commit.
        self.caller_audio = bytearray()
        self.turn_index = 0
        self.uncommitted: list[_Segment] = []
        self.step_started = START

    # -- scheduling ---------------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[[], list[Action]]) -> None:
        heapq.heappush(self.events, (when, next(self.seq), fn))

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            self.run.actions.append((self.t, action))
            self.perform(action)

    def perform(self, action: Action) -> None:
        st = self.state
        if isinstance(action, Send):
            msg = action.message
            if isinstance(msg, OutboundMedia):
                self.queue.append(msg.payload)
            elif isinstance(msg, OutboundMark):
                self.queue.append(msg.name)
            elif isinstance(msg, OutboundClear):
                self.run.clears.append(self.t)
                marks = [m for m in self.queue if isinstance(m, str)]
                self.queue.clear()
                for name in marks:
                    self.apply(feed_frame(st, _mark(name), self.t))
        elif isinstance(action, CommitStt):
            self.run.commits.append(self.t)
            if self.recognition is not None:
                text = " ".join(filter(None, (line.commit(self.t) for line in self.trailing)))
                self.trailing = [line for line in self.trailing if not line.done]
                self.last_partial = ""
            else:
                words = [w for s in self.uncommitted if s.kind != "mumble" for w in s.words]
                text = " ".join(words)
            self.uncommitted = []
            self.at(self.t + self.lat.stt_commit_s, lambda: st.on_transcript(text, self.t))
        elif isinstance(action, SpeakReply):
            self.run.replies_at.append(self.t)
            self.run.llm_requests += 1
            self.run.utterance_kinds.append("reply")
            self.start_audio(self.reply(self.replies), self.lat.llm_first_token_s + self.lat.tts_first_byte_s)
            self.replies += 1
        elif isinstance(action, SpeakText):
            self.run.utterance_kinds.append(action.kind)
            self.start_audio([action.text], self.lat.tts_first_byte_s)
        elif isinstance(action, CancelReply):
            self.generation += 1
        elif isinstance(action, SpeculateReply):
            self.run.llm_requests += 1
            self.run.speculations["started"] += 1
            ready = self.t + self.lat.llm_first_token_s + self.lat.tts_first_byte_s
            self.held[action.speculation_id] = [(ready, c) for c in self.chunks(self.reply(self.replies))]
        elif isinstance(action, DiscardSpeculation):
            if self.held.pop(action.speculation_id, None) is not None:
                self.run.speculations["discarded"] += 1
        elif isinstance(action, AdoptSpeculation):
            self.run.replies_at.append(self.t)
            self.run.speculations["adopted"] += 1
            self.replies += 1
            self.run.utterance_kinds.append("reply")
            held = self.held.pop(action.speculation_id)
            self.generation += 1
            gen = self.generation
            self.utterance_first_audio = False
            for ready, chunk in held:
                self.at(max(ready, self.t), self.deliver(gen, chunk))
        elif isinstance(action, Hangup):
            self.script = []

    def chunks(self, sentences: list[str]) -> list[ReplyAudio | None]:
        out: list[ReplyAudio | None] = []
        for index, sentence in enumerate(sentences):
            audio = trimmed_speech(sentence) + b"\xff" * 800
            out += [ReplyAudio(index, sentence, audio[i : i + 800]) for i in range(0, len(audio), 800)]
        return [*out, None]

    def start_audio(self, sentences: list[str], first_s: float) -> None:
        self.generation += 1
        gen = self.generation
        self.utterance_first_audio = False
        for chunk in self.chunks(sentences):
            self.at(self.t + first_s, self.deliver(gen, chunk))

    def deliver(self, gen: int, chunk: ReplyAudio | None) -> Callable[[], list[Action]]:
        def go() -> list[Action]:
            if gen != self.generation:
                return []
            if chunk is None:
                return self.state.on_reply_finished(self.t)
            return self.state.on_reply_audio(chunk, self.t)

        return go

    # -- the phone ----------------------------------------------------------------------------------

    def play_tick(self) -> tuple[np.ndarray, list[str]]:
        """Play 20 ms of queued audio; returns the samples and the marks now reached."""
        out = bytearray()
        marks: list[str] = []
        while self.queue and (len(out) < FRAME_BYTES or isinstance(self.queue[0], str)):
            head = self.queue[0]
            if isinstance(head, str):
                marks.append(head)
                self.queue.pop(0)
                continue
            need = FRAME_BYTES - len(out)
            out += head[:need]
            if len(head) > need:
                self.queue[0] = head[need:]
            else:
                self.queue.pop(0)
        if out and not self.utterance_first_audio:
            self.utterance_first_audio = True
            self.run.reply_audio_at.append(self.t)
        if out:
            self.audible_since = self.audible_since or self.t
        elif not self.queue:
            self.audible_since = None
        pcm = ulaw_to_pcm16(bytes(out) + b"\xff" * (FRAME_BYTES - len(out))).astype(np.float64)
        return pcm, marks

    # -- the caller ---------------------------------------------------------------------------------

    def caller_tick(self) -> np.ndarray:
        if not self.caller_audio:
            self.next_step()
        frame = bytes(self.caller_audio[:FRAME_BYTES])
        del self.caller_audio[:FRAME_BYTES]
        return ulaw_to_pcm16(frame + b"\xff" * (FRAME_BYTES - len(frame))).astype(np.float64)

    def next_step(self) -> None:
        while self.script and not self.caller_audio:
            step = self.script[0]
            if isinstance(step, WaitBot):
                if step.done:
                    ready = not self.state.bot_speaking and not self.queue
                else:
                    ready = (
                        self.audible_since is not None
                        and (self.t - self.audible_since) * 1000 >= step.audible_ms
                    )
                if not ready:
                    return
                self.script.pop(0)
                if step.then_ms:
                    self.caller_audio += b"\xff" * (step.then_ms * 8)
                continue
            self.script.pop(0)
            start = self.t + TICK  # the next frame sent carries the first sample
            if isinstance(step, Pause):
                self.caller_audio += b"\xff" * (step.ms * 8)
            elif isinstance(step, Noise):
                n = step.ms * 8
                noise = self.rng.normal(0.0, 32768.0 * 10 ** (step.dbfs / 20.0), n)
                self.caller_audio += pcm16_to_ulaw(np.clip(noise, -32768, 32767).astype(np.int16))
            else:
                parts: tuple[str | int, ...]
                kind = "say"
                if isinstance(step, Say):
                    parts = step.parts
                elif isinstance(step, Backchannel):
                    parts, kind = (step.text,), "backchannel"
                else:
                    parts, kind = (step.text,), "mumble"
                offset = 0.0
                for part in parts:
                    if isinstance(part, int):
                        self.caller_audio += b"\xff" * (part * 8)
                        offset += part / 1000.0
                        continue
                    audio = trimmed_speech(part)
                    segment = _Segment(
                        part.split(),
                        start + offset,
                        start + offset + len(audio) / 8000.0,
                        kind,
                        self.turn_index,
                    )
                    self.run.segments.append(segment)
                    self.schedule_partials(segment)
                    self.caller_audio += audio
                    offset += len(audio) / 8000.0
                self.turn_index += 1

    def schedule_partials(self, segment: _Segment) -> None:
        def hear() -> list[Action]:
            self.uncommitted.append(segment)
            if self.recognition is not None and segment.kind != "mumble":
                text = " ".join(segment.words)
                ends = word_end_times(text, segment.end - segment.start)
                self.trailing.append(TrailingTranscript(text, ends, segment.start))
            return []

        self.at(segment.start, hear)
        if not self.partials or segment.kind == "mumble" or self.recognition is not None:
            return
        span = (segment.end - segment.start) / len(segment.words)
        for i in range(len(segment.words)):

            def partial(i: int = i) -> list[Action]:
                done = [s for s in self.uncommitted if s.kind != "mumble" and s is not segment]
                words = [w for s in done for w in s.words] + segment.words[: i + 1]
                if segment not in self.uncommitted:
                    return []
                text = " ".join(words)
                if not self.punctuation:
                    text = re.sub(r"[^\w' ]", "", text)
                return self.state.on_partial(text, self.t)

            self.at(segment.start + span * (i + 1) + self.lat.stt_partial_s, partial)

    def trailing_partial(self) -> list[Action]:
        """Realistic mode, every `partial_every_ms`: the words heard `lag` ago, if they changed."""
        assert self.recognition is not None
        lag = self.recognition.partial_lag_s(self.lag_rng)
        text = " ".join(filter(None, (line.partial(self.t, lag) for line in self.trailing)))
        if not self.punctuation:
            text = re.sub(r"[^\w' ]", "", text)
        if not text or text == self.last_partial:
            return []
        self.last_partial = text
        return self.state.on_partial(text, self.t)

    # -- the loop -----------------------------------------------------------------------------------

    def tick(self) -> None:
        self.t = round(self.t + TICK, 6)
        played, marks = self.play_tick()
        self.played = np.concatenate([self.played, played])
        inbound = self.caller_tick() + self.rng.normal(0.0, 20.0, FRAME_BYTES)
        if self.echo is not None:
            d = int(self.echo.delay_ms * 8)
            end = len(self.played) - d
            if end > 0:
                seg = self.played[max(0, end - FRAME_BYTES) : end]
                inbound[FRAME_BYTES - seg.size :] += seg * 10 ** (self.echo.gain_db / 20.0)
        for name in marks:
            self.apply(feed_frame(self.state, _mark(name), self.t))
        frame = pcm16_to_ulaw(np.clip(inbound, -32768, 32767).astype(np.int16))
        self.apply(feed_frame(self.state, _media(frame), self.t))
        if self.recognition is not None and self.partials:
            every = round(self.recognition.partial_every_ms / 1000 / TICK)
            if round((self.t - START) / TICK) % max(1, every) == 0:
                self.apply(self.trailing_partial())
        while self.events and self.events[0][0] <= self.t + 1e-9:
            _, _, fn = heapq.heappop(self.events)
            self.apply(fn())


def _media(frame: bytes) -> str:
    return json.dumps(
        {"event": "media", "media": {"track": "inbound", "payload": base64.b64encode(frame).decode()}}
    )


def _mark(name: str) -> str:
    return json.dumps({"event": "mark", "mark": {"name": name}})


def _start() -> str:
    return json.dumps(
        {
            "event": "start",
            "start": {
                "streamSid": "MZsim",
                "callSid": "CAsim",
                "accountSid": "ACsim",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"token": "t"},
            },
        }
    )


DEFAULT_REPLY = [
    "Of course, we have tables available tonight.",
    "Would seven o'clock suit you, or would you prefer a later time?",
]


def run_call(
    script: list[Step],
    *,
    turn: TurnSettings | None = None,
    latencies: Latencies | None = None,
    partials: bool = True,
    punctuation: bool = True,
    echo: Echo | None = None,
    reply: Callable[[int], list[str]] | None = None,
    persona_: Persona | None = None,
    tail_s: float = 3.0,
    max_s: float = 60.0,
    seed: int = 7,
    recognition: ProviderTiming | None = None,
) -> CallRun:
    """Run ``script`` to its end plus ``tail_s`` of silence; returns the recorded timeline.

    ``recognition`` makes the recogniser trail the audio as the bench fakes do (see the module
    docstring); pair it with ``latencies=Latencies.published(recognition)``.
    """
    p = persona_ or persona()
    world = _World(
        script,
        turn=turn or TurnSettings(end_of_turn_silence_ms=p.end_of_turn_silence_ms),
        latencies=latencies or Latencies(),
        partials=partials,
        punctuation=punctuation,
        echo=echo,
        reply=reply or (lambda _n: list(DEFAULT_REPLY)),
        persona_=p,
        seed=seed,
        recognition=recognition,
    )
    st = world.state
    world.apply(feed_frame(st, _start(), world.t))
    world.apply(st.authenticated("call-sim", p, world.t))
    idle_since: float | None = None
    while world.t - START < max_s:
        world.tick()
        busy = world.script or world.caller_audio or st.bot_speaking or world.queue or world.events
        if busy:
            idle_since = None
        else:
            idle_since = idle_since or world.t
            if world.t - idle_since >= tail_s:
                break
    world.run.ended_at = world.t
    return world.run
