"""A Media Streams client that behaves like Twilio, for driving the stream host in tests and benchmarks.

It signs the handshake with the real RequestValidator algorithm, sends string-typed counters,
frames caller audio in 20 ms media messages, and plays our audio the way Twilio does: marks are
echoed once "played" (immediately, or only when the test releases them), and a ``clear`` echoes
every pending mark. Plus a tiny Twilio REST server for the hang-up request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from typing import Any

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK

from stream_server.audio.codec import FRAME_BYTES

__all__ = ["TwilioLike", "open_stream", "sign"]


def sign(auth_token: str, url: str) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, {}))


class TwilioLike:
    def __init__(self, ws: ClientConnection, *, auto_play: bool = True) -> None:
        self.ws = ws
        self.auto_play = auto_play
        self.received: list[dict[str, Any]] = []
        self.pending_marks: list[str] = []
        self.seq = 0
        self.chunk = 0
        self.stream_sid = "MZ" + "0" * 32
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.received.append(msg)
                if msg["event"] == "mark":
                    self.pending_marks.append(msg["mark"]["name"])
                    if self.auto_play:
                        await self.play_all()
                elif msg["event"] == "clear":
                    await self.play_all()
                self._changed.set()
        except Exception:  # noqa: S110 - any end of the socket ends the reader; `closed` says so
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def _send(self, body: dict[str, Any]) -> None:
        self.seq += 1
        body = {"sequenceNumber": str(self.seq), **body}
        await self.ws.send(json.dumps(body))

    async def play_all(self) -> None:
        """Echo every pending mark (audio finished, or flushed by a clear)."""
        marks, self.pending_marks = self.pending_marks, []
        for name in marks:
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def play_first(self, n: int = 1) -> None:
        marks, self.pending_marks = self.pending_marks[:n], self.pending_marks[n:]
        for name in marks:
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def start(self, call_sid: str, params: dict[str, str]) -> None:
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": "AC" + "1" * 32,
                    "streamSid": self.stream_sid,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": params,
                },
                "streamSid": self.stream_sid,
            }
        )

    async def say(self, ulaw: bytes, *, pace_s: float = 0.0) -> None:
        """Caller audio as 20 ms media frames (string counters, like Twilio).

        If the bot hangs up mid-utterance the rest is simply not sent, as on a real phone: the
        server closing the socket ends the call, and Twilio stops streaming.
        """
        for i in range(0, len(ulaw), FRAME_BYTES):
            if self.ws.close_code is not None:
                return
            self.chunk += 1
            try:
                await self._send(
                    {
                        "event": "media",
                        "media": {
                            "track": "inbound",
                            "chunk": str(self.chunk),
                            "timestamp": str(self.chunk * 20),
                            "payload": base64.b64encode(ulaw[i : i + FRAME_BYTES]).decode(),
                        },
                        "streamSid": self.stream_sid,
                    }
                )
            except ConnectionClosedOK:
                return
            await asyncio.sleep(pace_s)

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self, call_sid: str) -> None:
        await self._send(
            {
                "event": "stop",
                "stop": {"accountSid": "AC" + "1" * 32, "callSid": call_sid},
                "streamSid": self.stream_sid,
            }
        )

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], limit_s: float = 20.0
    ) -> None:
        """Wait until ``predicate`` holds, re-checking on every message and every 50 ms.

        The periodic re-check matters: predicates often read state outside the socket (turns in
        storage, provider fakes' counters), which can change after the last message arrives.
        """
        async with asyncio.timeout(limit_s):
            while not predicate(self.received):
                if self.closed.is_set():
                    if predicate(self.received):
                        return
                    raise AssertionError(f"socket closed first; got {[m['event'] for m in self.received]}")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()

    def media_since(self, index: int) -> bytes:
        return b"".join(
            base64.b64decode(m["media"]["payload"]) for m in self.received[index:] if m["event"] == "media"
        )

    def count(self, event: str) -> int:
        return sum(1 for m in self.received if m["event"] == event)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def open_stream(url: str, auth_token: str, *, signature: str | None = None, **kw: Any) -> TwilioLike:
    sig = sign(auth_token, url) if signature is None else signature
    ws = await connect(url, additional_headers={"x-twilio-signature": sig}, compression=None)
    return TwilioLike(ws, **kw)
