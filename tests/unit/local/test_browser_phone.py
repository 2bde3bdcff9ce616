"""The browser phone's callee: microphone audio in, frames out, bounded delay, hang-up, bot audio back;
and the emulator endpoint that registers a number for each browser."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from local.twilio_emulator.browser_phone import FRAME_BYTES, MAX_BUFFERED_BYTES, LiveCallee
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator

LOUD = bytes([0x10]) * FRAME_BYTES


def test_microphone_audio_becomes_frames_then_silence() -> None:
    answered: list[bool] = []
    callee = LiveCallee(on_answer=lambda: answered.append(True))
    callee.speak(LOUD + LOUD[:80])
    assert callee.tick(0.0).audio == LOUD and answered == [True]
    silent = callee.tick(0.02)  # half a frame is not sent until the rest arrives
    assert silent.audio == b"\xff" * FRAME_BYTES and not silent.hang_up
    assert callee.voiced_frames == 1


def test_old_microphone_audio_is_dropped_not_queued() -> None:
    callee = LiveCallee()
    callee.speak(b"\x00" * (3 * MAX_BUFFERED_BYTES))
    frames = 0
    while callee.tick(0.0).audio != b"\xff" * FRAME_BYTES:
        frames += 1
    assert frames == MAX_BUFFERED_BYTES // FRAME_BYTES


def test_hang_up_and_bot_audio() -> None:
    heard: list[bytes] = []
    callee = LiveCallee(on_bot_audio=heard.append)
    callee.heard_bot([(0.0, b"ab"), (0.1, b"cd")], speaking=True)
    assert heard == [b"ab", b"cd"]
    callee.hang_up()
    assert callee.tick(1.0).hang_up and callee.timeline[-1].kind == "caller_hang_up"


async def test_each_browser_gets_a_number_that_rings_it() -> None:
    emulator = TwilioEmulator(EmulatorSettings())
    base = await emulator.start()
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/_emulator/phone") as ws:
            ready = json.loads((await ws.receive(timeout=10)).data)
            assert ready["event"] == "ready" and ready["number"].startswith("+141555501")
            callee = emulator.scripts[ready["number"]]
            assert isinstance(callee, LiveCallee)
            await ws.send_bytes(LOUD)
            for _ in range(50):
                if callee.tick(0.0).audio == LOUD:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the microphone frame never reached the callee")
            await ws.send_str(json.dumps({"event": "hangup"}))
            for _ in range(50):
                if callee.hang_up_requested:
                    break
                await asyncio.sleep(0.05)
            assert callee.hang_up_requested
        for _ in range(50):  # the number is released when the browser goes
            if ready["number"] not in emulator.scripts:
                break
            await asyncio.sleep(0.05)
        assert ready["number"] not in emulator.scripts
    finally:
        await emulator.stop()
