"""The browser phone: a person in a web browser is the callee of an emulated call.

Emulator-only (nothing like it exists at Twilio). The console's "Browser phone" page opens a
WebSocket to `/_emulator/phone`; the emulator gives it a phone number of its own and registers a
`LiveCallee` for it, so a call placed to that number through `POST /calls` rings the browser. From
then on the browser's microphone is the callee's voice, sent into the call as Media Streams frames
exactly as a scripted caller's speech would be, and whatever the bot's audio the emulator plays is
sent back to the browser to be heard.

The page's messages: binary = 8 kHz mu-law microphone audio (any length); text
`{"event": "hangup"}`. The emulator's: text `{"event": "ready", "number": ...}`, `{"event":
"answered"}`, `{"event": "ended", "status": ...}`; binary = 8 kHz mu-law bot audio as it plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from local.twilio_emulator.call import EmulatedCall
from local.twilio_emulator.caller import CallerFrame, TimelineEvent

__all__ = ["BrowserPhone", "LiveCallee"]

log = logging.getLogger("twilio_emulator.phone")

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SILENCE_FRAME = b"\xff" * FRAME_BYTES
MAX_BUFFERED_BYTES = 8000  # one second: older microphone audio is dropped instead of piling up delay


@dataclass
class LiveCallee:
    """A callee whose voice arrives from outside (a browser) instead of a script.

    It plays the same part as `caller.Caller` in a `MediaSession`: ``tick`` gives the next 20 ms of
    the callee's audio, ``heard_bot`` receives what the bot's audio played.
    """

    started_at: float = 0.0
    on_bot_audio: Callable[[bytes], None] | None = None
    on_answer: Callable[[], None] | None = None
    timeline: list[TimelineEvent] = field(default_factory=list)
    hang_up_requested: bool = False
    voiced_frames: int = 0  # frames sent into the call that carried sound (not digital silence)
    _microphone: bytearray = field(default_factory=bytearray)
    _answered: bool = False

    def speak(self, ulaw: bytes) -> None:
        """Microphone audio from the browser, queued for the next frames (bounded)."""
        self._microphone.extend(ulaw)
        excess = len(self._microphone) - MAX_BUFFERED_BYTES
        if excess > 0:
            del self._microphone[:excess]

    def hang_up(self) -> None:
        self.hang_up_requested = True

    @property
    def finished(self) -> bool:
        return self.hang_up_requested

    def tick(self, now: float) -> CallerFrame:
        if not self._answered:
            self._answered = True
            if self.on_answer is not None:
                self.on_answer()
        if self.hang_up_requested:
            self.note(now, "caller_hang_up")
            return CallerFrame(SILENCE_FRAME, hang_up=True)
        if len(self._microphone) < FRAME_BYTES:
            return CallerFrame(SILENCE_FRAME)
        frame = bytes(self._microphone[:FRAME_BYTES])
        del self._microphone[:FRAME_BYTES]
        if _loud(frame):
            self.voiced_frames += 1
        return CallerFrame(frame)

    def heard_bot(self, played: Sequence[tuple[float, bytes]], *, speaking: bool) -> None:
        if self.on_bot_audio is None:
            return
        for _, chunk in played:
            self.on_bot_audio(chunk)

    def note(self, now: float, kind: str, detail: str = "") -> None:
        self.timeline.append(TimelineEvent(round(now - self.started_at, 3), kind, detail))


def _loud(frame: bytes) -> bool:
    """More than a whisper: mu-law bytes far from the two codes of silence (0xFF and 0x7F)."""
    return sum(1 for b in frame if (b & 0x7F) < 0x70) > len(frame) // 4


def browser_number() -> str:
    """A fresh North American test number for one browser: 555-01xx is reserved for fiction, and a
    real area code (415) keeps it inside the dial policy (``callcore.phone``)."""
    return f"+14155550{100 + secrets.randbelow(100):03d}"


class BrowserPhone:
    """The `/_emulator/phone` WebSocket endpoint; ``callees`` is the emulator's number → callee map."""

    def __init__(
        self,
        register: Callable[[str, LiveCallee], None],
        unregister: Callable[[str], None],
        calls_to: Callable[[str], list[EmulatedCall]],
    ) -> None:
        """Args:
        register / unregister: add or remove the callee for a number in the emulator.
        calls_to: the emulator's calls to a number, oldest first.
        """
        self._register = register
        self._unregister = unregister
        self._calls_to = calls_to

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=2**20)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        outbound: asyncio.Queue[bytes | str] = asyncio.Queue()
        number = browser_number()
        callee = LiveCallee(
            started_at=loop.time(),
            on_bot_audio=outbound.put_nowait,
            on_answer=lambda: outbound.put_nowait(json.dumps({"event": "answered"})),
        )
        self._register(number, callee)
        log.info("browser phone connected as %s", number)
        await ws.send_str(json.dumps({"event": "ready", "number": number}))
        writer = asyncio.create_task(self._write(ws, outbound))
        watcher = asyncio.create_task(self._watch(number, outbound))
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    callee.speak(message.data)
                elif message.type == WSMsgType.TEXT and _event(message.data) == "hangup":
                    callee.hang_up()
        finally:
            callee.hang_up()
            self._unregister(number)
            for task in (writer, watcher):
                task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            log.info("browser phone %s disconnected", number)
        return ws

    async def _write(self, ws: web.WebSocketResponse, outbound: asyncio.Queue[bytes | str]) -> None:
        while not ws.closed:
            item = await outbound.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)

    async def _watch(self, number: str, outbound: asyncio.Queue[bytes | str]) -> None:
        """Tell the browser when each call to its number ends (one browser may take several calls)."""
        reported: set[str] = set()
        while True:
            waiting = [c for c in self._calls_to(number) if c.sid not in reported]
            if not waiting:
                await asyncio.sleep(0.2)
                continue
            call = waiting[0]
            await call.finished.wait()
            reported.add(call.sid)
            outbound.put_nowait(json.dumps({"event": "ended", "status": call.status}))


def _event(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("event") if isinstance(data, dict) else None
