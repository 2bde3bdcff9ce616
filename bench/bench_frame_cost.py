"""CPU per call-second of the stream host's own per-frame work, measured in process (no sockets, no loop).

Usage: `python bench/bench_frame_cost.py [--quick]`

The end-to-end figure (`bench/profile_host.py`, `bench/bench_vs_pipecat.py`) moves with how busy the
machine is; this one does not: it replays one call's frames through the real code with invented
timestamps and reads `time.process_time()` (best of several rounds). It covers what the host does for
each Twilio frame in Python (parse, framing, mu-law, VAD, echo, turn-taking, the recogniser's message,
the outbound media and mark messages) and, separately, the websockets protocol's framing of one
message each way (sans-I/O, no socket). What it cannot show is the event loop's wake-ups and the
kernel's socket calls: see docs/performance.md for those.

Each scenario prints microseconds per inbound frame and CPU-ms per call-second (50 inbound frames a
second, plus the outbound messages of that scenario).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "callcore"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from callcore.models import Persona  # noqa: E402
from websockets.client import ClientProtocol  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.http11 import Request  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

from local.fake_providers.elevenlabs import voiced_tone  # noqa: E402
from stream_server.conversation.actions import FeedStt, Send  # noqa: E402
from stream_server.conversation.call_state import CallState  # noqa: E402
from stream_server.providers.stt_elevenlabs import _chunk_message  # noqa: E402
from stream_server.speech.pipeline import ReplyAudio  # noqa: E402
from stream_server.telephony.twilio_protocol import encode, parse  # noqa: E402

FRAME_S = 0.02
STREAM_SID = "MZ" + "0" * 32
PERSONA = Persona(
    persona_id="bench",
    name="Bench",
    voice_id="v",
    prompt="p",
    greeting="A long greeting that keeps the bot talking for the whole measurement.",
    max_duration_seconds=100_000,
    idle_timeout_seconds=100_000,
)


def media_json(audio: bytes, n: int) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(n + 2),
            "media": {
                "track": "inbound",
                "chunk": str(n + 1),
                "timestamp": str(n * 20),
                "payload": base64.b64encode(audio).decode(),
            },
            "streamSid": STREAM_SID,
        },
        separators=(",", ":"),
    )


def active_call(*, bot_speaking: bool) -> CallState:
    state = CallState()
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC" + "0" * 32,
            "streamSid": STREAM_SID,
            "callSid": "CA" + "0" * 32,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {},
        },
        "streamSid": STREAM_SID,
    }
    state.on_message(parse(json.dumps(start)), 0.0)
    persona = PERSONA if bot_speaking else Persona(**{**PERSONA.__dict__, "greeting": ""})
    state.authenticated("c1", persona, 0.0)
    return state


class Replay:
    """One call's frames through CallState plus what the session sends for them."""

    def __init__(self, audio: bytes, *, bot_speaking: bool) -> None:
        self.state = active_call(bot_speaking=bot_speaking)
        frames = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]
        self.inbound = [media_json(f, n) for n, f in enumerate(frames)]
        self.bot_speaking = bot_speaking
        self.tts_chunk = voiced_tone(40)  # the TTS adapter's 320-byte chunks
        self.now = 1.0
        self.pending_stt = bytearray()
        self.marks: list[str] = []  # names sent, echoed back 10 chunks (400 ms of playback) later

    def run(self, frames: int) -> None:
        state = self.state
        inbound = self.inbound
        for n in range(frames):
            self.now += FRAME_S
            # What the session does per frame: parse at the edge, then the conductor.
            for action in state.on_message(parse(inbound[n % len(inbound)]), self.now):
                self.perform(action)
            if self.bot_speaking and n % 2 == 0:  # one 40 ms chunk per two frames, its mark back later
                for action in state.on_reply_audio(ReplyAudio(0, "x", self.tts_chunk), self.now):
                    self.perform(action)
                if len(self.marks) > 10:
                    self.echo_mark()
            if self.bot_speaking and n % 400 == 399:  # replies of 8 s: played out, then the next one
                while self.marks:
                    self.echo_mark()
                finished = state.on_reply_finished(self.now)
                for action in [*finished, *state.on_transcript("And then?", self.now)]:
                    self.perform(action)

    def echo_mark(self) -> None:
        echo = {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": self.marks.pop(0)}}
        for action in self.state.on_message(parse(json.dumps(echo)), self.now):
            self.perform(action)

    def perform(self, action: object) -> None:
        if isinstance(action, FeedStt):
            self.pending_stt.extend(action.audio)
            if len(self.pending_stt) >= 800:  # the Scribe adapter's 100 ms batches
                _chunk_message(bytes(self.pending_stt), commit=False)
                self.pending_stt.clear()
        elif isinstance(action, Send):
            encode(action.message)
            name = getattr(action.message, "name", None)
            if name is not None:
                self.marks.append(name)


def best_of(rounds: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def websockets_cost(rounds: int, count: int) -> tuple[float, float]:
    """Seconds per message for the server to read one masked 300-byte text frame, and to write one."""
    client = ClientProtocol(parse_uri("ws://host/media"))
    client.send_request(client.connect())
    server = ServerProtocol()
    for data in client.data_to_send():
        server.receive_data(data)
    request = server.events_received()[0]
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    server.data_to_send()
    assert server.state is State.OPEN
    text = media_json(b"\xff" * 160, 1).encode()
    # A client frame is masked; serialise one as a client would.
    wire = Frame(Opcode.TEXT, text).serialize(mask=True, extensions=[])

    def read() -> None:
        for _ in range(count):
            server.receive_data(wire)
            (_frame,) = server.events_received()

    def write() -> None:
        for _ in range(count):
            server.send_text(text)
            server.data_to_send()

    return best_of(rounds, read) / count, best_of(rounds, write) / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rounds, frames = (3, 1500) if args.quick else (7, 5000)
    silence = b"\xff" * 160 * 50
    speech = voiced_tone(1000)
    scenarios = [
        ("caller silent, bot silent", silence, False),
        ("caller speaking, bot silent", speech, False),
        ("caller silent, bot speaking", silence, True),
    ]
    print(f"{'scenario':32} {'us/frame':>9} {'CPU-ms per call-second':>23}")
    for label, audio, bot in scenarios:

        def work(audio: bytes = audio, bot: bool = bot) -> None:
            Replay(audio, bot_speaking=bot).run(frames)

        seconds = best_of(rounds, work)
        per_frame = seconds / frames
        print(f"{label:32} {per_frame * 1e6:9.1f} {per_frame * 50 * 1000:23.2f}")
    read_s, write_s = websockets_cost(rounds, frames)
    print(
        f"{'websockets read one frame':32} {read_s * 1e6:9.1f} {read_s * 50 * 1000:23.2f}  (50 a second)\n"
        f"{'websockets write one frame':32} {write_s * 1e6:9.1f} {write_s * 50 * 1000:23.2f}"
        "  (per 50 a second: the bot speaking sends ~50 media + mark messages)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
