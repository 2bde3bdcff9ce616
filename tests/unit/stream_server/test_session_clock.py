"""The conductor's clock rides on Twilio's frames, and a watchdog keeps it going when they stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

from stream_server.audio.codec import silence_ulaw
from stream_server.conversation.inputs import Input, Tick
from stream_server.session import TICK_LATE_S, TICK_S, TICK_WATCHDOG_S, CallSession
from tests.unit.stream_server.replay import media


class _Line:
    """A media socket whose caller sends 20 ms frames for a while, then nothing until closed."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str]:
        frame = media(silence_ulaw(20))
        for _ in range(self.frames):
            await asyncio.sleep(0.02)
            yield frame
        await self.closed.wait()

    async def send(self, message: str) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed.set()


async def test_frames_carry_the_ticks_and_the_watchdog_ticks_only_once_they_stop(host: Any) -> None:
    line = _Line(frames=40)  # 0.8 s of frames, then a silent socket
    session = CallSession(host.services, socket=line)
    by_frames: list[float] = []
    by_watchdog: list[float] = []
    tick_due, post = session._tick_due, session._post
    clock = host.services.clock

    def frame_ticks() -> bool:
        due = tick_due()
        if due:
            by_frames.append(clock())
        return due

    def posted(event: Input, generation: int | None = None) -> None:
        if isinstance(event, Tick):
            by_watchdog.append(clock())
        post(event, generation)

    session._tick_due = frame_ticks  # type: ignore[method-assign]
    session._post = posted  # type: ignore[method-assign]
    run = asyncio.create_task(session.run())
    watchdog = asyncio.create_task(session._tick())  # started at authentication in a real call
    try:
        await asyncio.sleep(0.8)
        # While frames come, they bring a tick every TICK_S and the watchdog posts none (one is
        # allowed, for a machine that stalls this test's loop for longer than TICK_LATE_S).
        assert len(by_watchdog) <= 1
        assert len(by_frames) >= 4
        gaps = [b - a for a, b in pairwise(by_frames)]
        assert all(gap >= TICK_S - 0.001 for gap in gaps)
        # Once they stop, the watchdog takes over, and ticks every TICK_LATE_S.
        ticks_with_frames = len(by_watchdog)
        await asyncio.sleep(TICK_WATCHDOG_S + 0.6)
        after = by_watchdog[ticks_with_frames:]
        assert len(after) >= 2 and after[0] > by_frames[-1]
        gaps = [b - a for a, b in pairwise(after)]
        assert all(gap >= TICK_LATE_S - 0.001 for gap in gaps)
    finally:
        watchdog.cancel()
        await line.close()
        await asyncio.wait_for(run, 10)
