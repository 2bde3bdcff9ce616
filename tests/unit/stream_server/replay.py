"""The one sans-I/O call replay: frames, marks and an invented clock through CallState, as the shell would.

Used by the conductor's and the behaviours' tests; the corpus simulator (tests/corpus) builds a
whole two-sided call on top of the same idea for the turn-taking corpus and its benchmark.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import replace

from callcore.models import Persona

from stream_server.audio.codec import FRAME_BYTES, silence_ulaw, split_frames
from stream_server.conversation.actions import Action, Send, SpeakReply, SpeakText
from stream_server.conversation.call_state import CallConfig, CallState
from stream_server.speech.pipeline import ReplyAudio
from stream_server.telephony.twilio_protocol import OutboundMark
from stream_server.turn_taking.detector import TurnSettings
from tests.shell_frames import feed_frame

__all__ = ["PERSONA", "Replay", "mark", "media", "persona", "start_frame"]

PERSONA = Persona(
    persona_id="p",
    name="P",
    voice_id="v",
    prompt="You answer questions about the shop.",
    greeting="Hi there.",
    goodbye="Bye now.",
    end_of_turn_silence_ms=300,
    max_duration_seconds=600,
    idle_prompt="Are you still there?",
    idle_timeout_seconds=5,
    max_idle_prompts=2,
)


def persona(**changes: object) -> Persona:
    return replace(PERSONA, **changes)  # type: ignore[arg-type]


def media(frame: bytes) -> str:
    return json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}})


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "mark": {"name": name}})


def start_frame() -> str:
    return json.dumps(
        {
            "event": "start",
            "start": {
                "streamSid": "MZ1",
                "callSid": "CA1",
                "accountSid": "AC1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"token": "t"},
            },
        }
    )


class Replay:
    """Drives one CallState like the session would, at an invented clock; records every action."""

    def __init__(
        self, who: Persona = PERSONA, config: CallConfig | None = None, *, start: bool = True
    ) -> None:
        """``start=False`` leaves the call before Twilio's ``start`` (to test the opening itself)."""
        self.state = CallState(config or CallConfig(turn=TurnSettings(end_of_turn_silence_ms=300)))
        self.t = 100.0
        self.actions: list[Action] = []
        if start:
            self.feed(feed_frame(self.state, start_frame(), self.t))
            self.feed(self.state.authenticated("call-1", who, self.t))

    def feed(self, actions: list[Action]) -> list[Action]:
        self.actions += actions
        return actions

    def say(self, audio: bytes) -> list[Action]:
        out: list[Action] = []
        for frame in split_frames(audio, FRAME_BYTES):
            self.t += 0.02
            out += self.feed(feed_frame(self.state, media(frame), self.t))
        return out

    def quiet(self, seconds: float, *, tick_s: float = 0.1) -> list[Action]:
        """Silence on the line with the session's clock ticking; plays whatever the bot says."""
        out: list[Action] = []
        frames_per_tick = max(1, round(tick_s / 0.02))
        for _ in range(round(seconds / tick_s)):
            out += self.say(silence_ulaw(20 * frames_per_tick))
            new = self.feed(self.state.on_tick(self.t))
            out += new
            out += self.play_spoken(new)
        return out

    def play_spoken(self, actions: Sequence[Action]) -> list[Action]:
        """Act as pipeline + Twilio for SpeakText/SpeakReply: audio out, marks back at once."""
        out: list[Action] = []
        for action in actions:
            if isinstance(action, SpeakText):
                out += self.play([action.text])
            elif isinstance(action, SpeakReply):
                out += self.play(["Sure."])
        return out

    def play(self, sentences: list[str], chunk: int = 400) -> list[Action]:
        names: list[str] = []
        out: list[Action] = []
        for i, text in enumerate(sentences):
            for a in self.feed(self.state.on_reply_audio(ReplyAudio(i, text, b"\x55" * chunk), self.t)):
                if isinstance(a, Send) and isinstance(a.message, OutboundMark):
                    names.append(a.message.name)
        out += self.feed(self.state.on_reply_finished(self.t))
        return out + self.marks(names)

    def speak(self, sentences: list[str], chunk: int = 400) -> list[str]:
        """The pipeline's output for the current utterance (two chunks a sentence); the marks sent."""
        names = []
        for i, text in enumerate(sentences):
            for _ in range(2):
                for a in self.feed(self.state.on_reply_audio(ReplyAudio(i, text, b"\x55" * chunk), self.t)):
                    if isinstance(a, Send) and isinstance(a.message, OutboundMark):
                        names.append(a.message.name)
        return names

    def marks(self, names: list[str]) -> list[Action]:
        """Twilio echoing these marks: that audio has played."""
        out: list[Action] = []
        for name in names:
            out += self.feed(feed_frame(self.state, mark(name), self.t))
        return out

    def spoken(self) -> list[tuple[str, str]]:
        return [(a.kind, a.text) for a in self.actions if isinstance(a, SpeakText)]
