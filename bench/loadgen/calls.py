"""N emulated Twilio calls at once, each a scripted caller on the emulator's own media session.

`TimedMediaSession` extends the emulator's `MediaSession` with two things: the start and end of every
stretch of bot audio the phone played, so playback gaps and the moment audio stopped after a
barge-in can be read afterwards; and a cheaper sender, so that at 100+ calls the figures are the
host's and not the load generator's. Everything else (signed handshake, playback at real time, marks,
`clear`, the caller script) is the emulator's.

The cheaper sender: one `FramePacer` per event loop wakes once for every call whose next 20 ms frame
is due (each call keeps its own phase, from its own start, as Twilio's do), instead of one sleeping
task per call; frames are JSON text built from a template around base64 that is encoded once per
distinct 160-byte frame (silence is one entry), and echoed marks are templated the same way.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection

from local.twilio_emulator.caller import CallerScript, TimelineEvent, Utterance
from local.twilio_emulator.media import MediaSession, StreamOutcome
from local.twilio_emulator.playback import PlaybackStep
from local.twilio_emulator.recording import StereoRecording
from local.twilio_emulator.twiml import ConnectStream

__all__ = ["BENCH_LINES", "CallResult", "FramePacer", "TimedMediaSession", "bench_script", "run_calls"]

FRAME_SECONDS = 0.02

_BASE64: dict[bytes, str] = {}


def _payload(frame: bytes) -> str:
    """Base64 of a caller frame, encoded once per distinct frame (scripts repeat their audio)."""
    text = _BASE64.get(frame)
    if text is None:
        if len(_BASE64) > 200_000:
            _BASE64.clear()
        text = _BASE64[frame] = base64.b64encode(frame).decode("ascii")
    return text


class FramePacer:
    """Sends every call's next frame when it is due, from one task per event loop.

    Each registered session is kept in a heap by the time its next frame is due; the pacer sleeps
    until the earliest, then sends for every session that is due by then, in order.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, TimedMediaSession]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, session: TimedMediaSession, at: float) -> None:
        heapq.heappush(self._due, (at, next(self._order), session))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="frame-pacer")
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._due:
            self._wake.clear()
            delay = self._due[0][0] - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                    continue  # an earlier call joined: recompute the wait
                except TimeoutError:
                    pass
            now = loop.time()
            while self._due and self._due[0][0] <= now:
                at, _, session = heapq.heappop(self._due)
                if await session.send_next_frame():
                    heapq.heappush(self._due, (at + FRAME_SECONDS, next(self._order), session))


_PACERS: dict[asyncio.AbstractEventLoop, FramePacer] = {}


def _pacer() -> FramePacer:
    loop = asyncio.get_running_loop()
    pacer = _PACERS.get(loop)
    if pacer is None:
        _PACERS.clear()  # an earlier loop has ended: its pacer is gone with it
        pacer = _PACERS[loop] = FramePacer()
    return pacer


# What every bench caller says, in order (the fake recogniser of each call transcribes the same lines).
BENCH_LINES = (
    "Hi, I would like to book a table for two tonight.",
    "Sorry, actually make that three people please.",
    "Great, thank you very much for your help.",
    "And could you tell me what time you close?",
)


def bench_script(*, turns: int = 3, barge_in_ms: int = 800) -> CallerScript:
    """Speech with pauses and one barge-in: a normal turn, a barge-in, then normal turns."""
    utterances = []
    for index in range(turns):
        barge = barge_in_ms if index == 1 else None
        utterances.append(
            Utterance(text=BENCH_LINES[index % len(BENCH_LINES)], pause_ms=700, barge_in_ms=barge)
        )
    return CallerScript(utterances=tuple(utterances), hang_up=True, max_wait_ms=8000)


@dataclass
class TimedMediaSession(MediaSession):
    """The emulator's media session, also noting every stretch of played bot audio (stream seconds)."""

    played: list[tuple[float, float]] = field(default_factory=list)
    _ws: ClientConnection | None = None
    _frame_index: int = 0
    _stopped: asyncio.Future[str] | None = None

    def _apply(self, step: PlaybackStep) -> list[str]:
        for start, chunk in step.played:
            begin = start - self._t0
            end = begin + len(chunk) / 8000
            if self.played and abs(self.played[-1][1] - begin) < 1e-6:
                self.played[-1] = (self.played[-1][0], end)
            else:
                self.played.append((begin, end))
        return super()._apply(step)

    # -- the cheaper sender (same messages, same schedule as MediaSession._send_audio) --------------

    async def _send_audio(self, ws: ClientConnection) -> str:
        assert self._playback is not None
        self._ws = ws
        self._stopped = asyncio.get_running_loop().create_future()
        # The session's clock is time.monotonic, which is also what the event loop's time() reads.
        _pacer().add(self, self._t0)
        return await self._stopped

    def _stop(self, reason: str) -> bool:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(reason)
        return False

    async def send_next_frame(self) -> bool:
        """Send this call's due frame; False once the call has stopped sending."""
        ws, playback = self._ws, self._playback
        if ws is None or playback is None or self._stopped is None or self._stopped.done():
            return False
        n = self._frame_index
        now = self.clock()
        if now - self._t0 > self.max_seconds:
            return self._stop("call_ended")
        try:
            marks = self._apply(playback.advance(now))
            if marks:
                await self._echo_marks(ws, marks)
            frame = self.caller.tick(now) if self.caller is not None else None
            if frame is not None and frame.hang_up:
                return self._stop("caller_hung_up")
            audio = frame.audio if frame is not None else b"\xff" * 160
            self.recording.caller(n * FRAME_SECONDS, audio)
            self.sent_at.append(now - self._t0)
            await ws.send(
                f'{{"event":"media","sequenceNumber":"{self._next_seq()}","media":{{"track":"inbound",'
                f'"chunk":"{n + 1}","timestamp":"{n * 20}","payload":"{_payload(audio)}"}},'
                f'"streamSid":"{self.stream_sid}"}}'
            )
            for digit in frame.dtmf if frame is not None else "":
                await self._send(
                    ws,
                    {
                        "event": "dtmf",
                        "streamSid": self.stream_sid,
                        "sequenceNumber": self._next_seq(),
                        "dtmf": {"track": "inbound_track", "digit": digit},
                    },
                )
        except Exception as exc:  # the socket closed under us: the receiver reports how
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_exception(exc)
            return False
        self._frame_index = n + 1
        return True

    async def _echo_marks(self, ws: ClientConnection, names: list[str]) -> None:
        for name in names:
            self.marks_echoed.append((self.clock() - self._t0, name))
            self._timeline("mark", name)
            await ws.send(
                f'{{"event":"mark","sequenceNumber":"{self._next_seq()}","streamSid":"{self.stream_sid}",'
                f'"mark":{{"name":{json.dumps(name)}}}}}'
            )


@dataclass
class CallResult:
    """What one emulated call saw: its caller timeline, played audio and send times."""

    call_sid: str
    outcome: StreamOutcome
    timeline: list[TimelineEvent]
    played: list[tuple[float, float]]
    sent_at: list[float]
    errors: list[str]
    started_at: float = 0.0  # the phone's clock (time.monotonic) at the timeline's zero


class _NullRecording(StereoRecording):
    """Keeps memory flat under load: the figures need timings, not the audio itself."""

    def caller(self, at: float, ulaw: bytes) -> None:
        return None

    def bot(self, at: float, ulaw: bytes) -> None:
        return None


async def _one_call(
    *,
    url: str,
    parameters: Mapping[str, str],
    call_sid: str,
    auth_token: str,
    script: CallerScript,
    delay: float,
    max_seconds: float,
) -> CallResult:
    await asyncio.sleep(delay)
    session = TimedMediaSession(
        stream=ConnectStream(url=url, parameters=dict(parameters)),
        account_sid="AC" + "0" * 32,
        call_sid=call_sid,
        stream_sid="MZ" + uuid.uuid4().hex,
        auth_token=auth_token,
        script=script,
        recording=_NullRecording(),
        max_seconds=max_seconds,
    )
    outcome = await session.run(asyncio.Event())
    return CallResult(
        call_sid=call_sid,
        outcome=outcome,
        timeline=session.timeline,
        played=list(session.played),
        sent_at=list(session.sent_at),
        errors=[f"{e.code} {e.message}" for e in outcome.errors],
        started_at=session._t0,
    )


async def run_calls(
    count: int,
    *,
    url: str,
    auth_token: str,
    parameters_for: Callable[[str], Mapping[str, str]],
    script: CallerScript,
    ramp_seconds: float = 2.0,
    max_seconds: float = 90.0,
    seed: int = 7,
) -> list[CallResult]:
    """Place `count` calls, their starts spread over `ramp_seconds` (a burst of handshakes is not a load
    any real fleet sees), and return when every one has ended."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        call_sid = "CA" + uuid.uuid4().hex
        jobs.append(
            _one_call(
                url=url,
                parameters=parameters_for(call_sid),
                call_sid=call_sid,
                auth_token=auth_token,
                script=script,
                delay=rng.uniform(0, ramp_seconds) if count > 1 else 0.0,
                max_seconds=max_seconds,
            )
        )
    return list(await asyncio.gather(*jobs))
