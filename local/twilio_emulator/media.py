"""The Media Streams side of an emulated call: Twilio as a WebSocket client.

It connects to the `<Stream>` URL with a signed handshake, sends `connected` and `start`, then one
160-byte `media` frame every 20 ms of wall clock, and plays what the server sends through a
`PlaybackBuffer`. Anything the server sends that Twilio would reject is recorded as a 31924
protocol error and otherwise ignored (Twilio logs it and the call goes on).

Ownership: `MediaSession.run` owns its two tasks (sender, receiver) and returns only after both
have finished and the socket is closed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from local.twilio_emulator.caller import Callee, Caller, CallerFrame, CallerScript, TimelineEvent
from local.twilio_emulator.errors import (
    STREAM_CONNECTION_REFUSED,
    STREAM_HANDSHAKE_ERROR,
    STREAM_PROTOCOL_ERROR,
    TwilioError,
)
from local.twilio_emulator.playback import PlaybackBuffer, PlaybackStep
from local.twilio_emulator.recording import StereoRecording
from local.twilio_emulator.twiml import ConnectStream
from local.twilio_emulator.voice import render_speech
from local.twilio_emulator.webhooks import Signer

__all__ = ["MediaSession", "StreamOutcome"]

log = logging.getLogger("twilio_emulator.media")

FRAME_SECONDS = 0.02
SILENCE = b"\xff" * 160


@dataclass
class StreamOutcome:
    """How the stream ended: `server_closed`, `caller_hung_up`, `call_ended` or `failed`."""

    ended_by: str
    close_code: int | None = None
    errors: list[TwilioError] = field(default_factory=list)


@dataclass
class MediaSession:
    """One bidirectional stream of one call."""

    stream: ConnectStream
    account_sid: str
    call_sid: str
    stream_sid: str
    auth_token: str
    script: CallerScript | Callee | None  # a script is played by a `Caller`; a live callee speaks itself
    recording: StereoRecording
    render: Callable[[str], bytes] = render_speech
    clock: Callable[[], float] = time.monotonic
    max_seconds: float = 4 * 3600
    sent_at: list[float] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    errors: list[TwilioError] = field(default_factory=list)
    marks_echoed: list[tuple[float, str]] = field(default_factory=list)
    # Every byte of bot audio the loudspeaker played, in order (mu-law; what a `clear` dropped is absent).
    played_audio: bytearray = field(default_factory=bytearray)
    caller: Callee | None = None
    on_connected: Callable[[], Coroutine[Any, Any, None]] | None = None
    signer: Signer | None = None  # None: the Auth Token (HMAC-SHA1)
    _seq: int = 0
    _t0: float = 0.0
    _playback: PlaybackBuffer | None = None
    _rendered: dict[str, bytes] = field(default_factory=dict)

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    def _timeline(self, kind: str, detail: str = "") -> None:
        if self.caller is not None:
            self.caller.note(self.clock(), kind, detail)

    async def run(self, hang_up: asyncio.Event) -> StreamOutcome:
        """Connect, stream until someone ends it, close. Never raises for stream faults."""
        signer = self.signer or Signer(self.auth_token)
        await self._render_lines()
        try:
            ws = await connect(
                self.stream.url,
                additional_headers=signer.sign(self.stream.url, {}),
                compression=None,
                open_timeout=10,
                max_size=2**20,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            error = TwilioError(STREAM_HANDSHAKE_ERROR, f"Stream handshake answered HTTP {status}, not 101")
            return StreamOutcome("failed", errors=[error])
        except (OSError, TimeoutError) as exc:
            return StreamOutcome("failed", errors=[TwilioError(STREAM_CONNECTION_REFUSED, repr(exc))])
        except InvalidHandshake as exc:
            return StreamOutcome("failed", errors=[TwilioError(STREAM_HANDSHAKE_ERROR, repr(exc))])
        notify: asyncio.Task[None] | None = (
            asyncio.create_task(self.on_connected()) if self.on_connected is not None else None
        )
        try:
            async with ws:
                return await self._stream(ws, hang_up)
        finally:
            if notify is not None:
                await asyncio.gather(notify, return_exceptions=True)

    async def _render_lines(self) -> None:
        """Speak the script's lines in a worker thread before the stream starts.

        Rendering (an eSpeak NG subprocess) takes a moment, seconds on a busy machine; done in the
        20 ms frame loop it would stall the caller's audio and everything sharing this event loop
        (the fake providers too). A line that fails here is rendered, and fails, in the frame loop.
        """
        if not isinstance(self.script, CallerScript):
            return
        for text in dict.fromkeys(u.text for u in self.script.utterances if u.text):
            with contextlib.suppress(Exception):
                self._rendered[text] = await asyncio.to_thread(self.render, text)

    def _speech(self, text: str) -> bytes:
        rendered = self._rendered.get(text)
        return rendered if rendered is not None else self.render(text)

    async def _send(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        await ws.send(json.dumps(message, separators=(",", ":")))

    async def _stream(self, ws: ClientConnection, hang_up: asyncio.Event) -> StreamOutcome:
        await self._send(ws, {"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            ws,
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": dict(self.stream.parameters),
                },
                "streamSid": self.stream_sid,
            },
        )
        self._t0 = self.clock()
        self._playback = PlaybackBuffer(self._t0)
        if isinstance(self.script, CallerScript):
            self.caller = Caller(self.script, self._speech, started_at=self._t0)
        elif self.script is not None:
            self.caller = self.script
        receiver = asyncio.create_task(self._receive(ws))
        sender = asyncio.create_task(self._send_audio(ws))
        hang_up_wait = asyncio.create_task(hang_up.wait())
        try:
            done, _ = await asyncio.wait(
                {receiver, sender, hang_up_wait}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (receiver, sender, hang_up_wait):
                task.cancel()
            await asyncio.gather(receiver, sender, hang_up_wait, return_exceptions=True)
        if receiver in done:
            outcome = StreamOutcome("server_closed", close_code=ws.close_code)
        elif hang_up_wait in done:
            outcome = StreamOutcome("call_ended")
        else:
            outcome = StreamOutcome(sender.result() if not sender.cancelled() else "call_ended")
        if outcome.ended_by != "server_closed":
            stop = {
                "event": "stop",
                "sequenceNumber": self._next_seq(),
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                "streamSid": self.stream_sid,
            }
            try:
                await self._send(ws, stop)
                await ws.close(1000, "call ended")
            except ConnectionClosed:
                pass
        outcome.errors = list(self.errors)
        return outcome

    def _apply(self, step: PlaybackStep) -> list[str]:
        """Record what played and hand it to the caller; returns marks now due."""
        for start, chunk in step.played:
            self.recording.bot(start - self._t0, chunk)
            self.played_audio += chunk
        if self.caller is not None and self._playback is not None:
            self.caller.heard_bot(step.played, speaking=self._playback.speaking())
        return step.marks

    async def _echo_marks(self, ws: ClientConnection, names: list[str]) -> None:
        for name in names:
            self.marks_echoed.append((self.clock() - self._t0, name))
            self._timeline("mark", name)
            await self._send(
                ws,
                {
                    "event": "mark",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                },
            )

    async def _send_audio(self, ws: ClientConnection) -> str:
        """Send one frame every 20 ms on the wall clock; returns why it stopped."""
        assert self._playback is not None
        n = 0
        while True:
            target = self._t0 + n * FRAME_SECONDS
            delay = target - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            now = self.clock()
            if now - self._t0 > self.max_seconds:
                return "call_ended"
            await self._echo_marks(ws, self._apply(self._playback.advance(now)))
            frame = self.caller.tick(now) if self.caller is not None else CallerFrame(SILENCE)
            if frame.hang_up:
                return "caller_hung_up"
            self.recording.caller(n * FRAME_SECONDS, frame.audio)
            self.sent_at.append(now - self._t0)
            await self._send(
                ws,
                {
                    "event": "media",
                    "sequenceNumber": self._next_seq(),
                    "media": {
                        "track": "inbound",
                        "chunk": str(n + 1),
                        "timestamp": str(n * 20),
                        "payload": base64.b64encode(frame.audio).decode("ascii"),
                    },
                    "streamSid": self.stream_sid,
                },
            )
            for digit in frame.dtmf:
                await self._send(
                    ws,
                    {
                        "event": "dtmf",
                        "streamSid": self.stream_sid,
                        "sequenceNumber": self._next_seq(),
                        "dtmf": {"track": "inbound_track", "digit": digit},
                    },
                )
            n += 1

    def _protocol_error(self, reason: str) -> None:
        log.warning("31924 stream protocol error: %s", reason)
        self.errors.append(TwilioError(STREAM_PROTOCOL_ERROR, f"Stream - Protocol Error: {reason}"))
        self._timeline("protocol_error", reason)

    async def _receive(self, ws: ClientConnection) -> None:
        assert self._playback is not None
        async for raw in ws:
            if isinstance(raw, bytes):
                self._protocol_error("binary frame")
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                self._protocol_error("message is not JSON")
                continue
            if not isinstance(message, dict):
                self._protocol_error("message is not a JSON object")
                continue
            self.received.append(message)
            await self._handle(ws, message)

    async def _handle(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        assert self._playback is not None
        event = message.get("event")
        if message.get("streamSid") != self.stream_sid:
            self._protocol_error(f"{event!r} message with streamSid {message.get('streamSid')!r}")
            return
        now = self.clock()
        if event == "media":
            media = message.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            if not isinstance(payload, str):
                self._protocol_error("media message without media.payload")
                return
            try:
                audio = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                self._protocol_error("media.payload is not base64")
                return
            if audio[:4] == b"RIFF":
                self._protocol_error("media.payload carries a WAV header")
            await self._echo_marks(ws, self._apply(self._playback.push_audio(audio, now)))
        elif event == "mark":
            mark = message.get("mark")
            name = mark.get("name") if isinstance(mark, dict) else None
            if not isinstance(name, str):
                self._protocol_error("mark message without mark.name")
                return
            await self._echo_marks(ws, self._apply(self._playback.push_mark(name, now)))
        elif event == "clear":
            self._timeline("clear")
            await self._echo_marks(ws, self._apply(self._playback.clear(now)))
        else:
            self._protocol_error(f"unsupported event {event!r}")

    @property
    def timeline(self) -> list[TimelineEvent]:
        return list(self.caller.timeline) if self.caller is not None else []
