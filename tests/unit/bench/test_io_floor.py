"""The I/O-floor benchmark's phones speak real WebSocket: a `websockets` server reads their frames and
their mark echoes, so the floor it measures is the library's real receive path."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from bench.bench_io_floor import _client_frame, _Phone, _twilio_frames
from local.storage import free_port


def _parse_client_frame(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame was incomplete")


def test_client_frames_are_masked_text_frames_of_any_length() -> None:
    for payload in (b"", b"x" * 125, b"y" * 126, json.dumps({"event": "media", "pad": "z" * 400}).encode()):
        frame = _parse_client_frame(_client_frame(payload))
        assert frame.opcode is Opcode.TEXT
        assert frame.fin
        assert frame.data == payload


async def test_a_websockets_server_reads_the_phones_frames_and_gets_its_marks_echoed() -> None:
    start, media, mark_echo = _twilio_frames()
    received: list[dict[str, object]] = []
    all_in = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        await websocket.send(json.dumps({"event": "mark", "streamSid": "MZfloor", "mark": {"name": "u0"}}))
        async for message in websocket:
            received.append(json.loads(message))
            if len(received) == 4:
                all_in.set()

    port = free_port()
    async with serve(handler, "127.0.0.1", port, compression=None):
        loop = asyncio.get_running_loop()
        transport, phone = await loop.create_connection(lambda: _Phone(mark_echo), "127.0.0.1", port)
        assert await asyncio.wait_for(phone.upgraded, 10)
        transport.write(start)
        transport.write(media[0])
        transport.write(media[1])
        await asyncio.wait_for(all_in.wait(), 10)
        transport.close()
    events = [message["event"] for message in received]
    assert sorted(events) == ["mark", "media", "media", "start"]
    assert [message["sequenceNumber"] for message in received if message["event"] == "media"] == ["2", "3"]
