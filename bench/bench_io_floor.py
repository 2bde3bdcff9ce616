"""The I/O floor of the stream host's design: what the `websockets` asyncio server costs per call-second
before any call logic runs.

Usage: `python bench/bench_io_floor.py [--calls 100,360] [--seconds 20] [--event-loop asyncio|uvloop]`

A server on core 1 (`taskset`, and `chrt -f 1` when run as root) takes N phone sockets shaped like
Twilio Media Streams (50 inbound media messages a second each, ~330 bytes of JSON) and does, per variant,
only the part of a call that no design built on `websockets` can skip:

- `recv`: receive every message (`async for message in websocket`), nothing else;
- `parse`: and `json.loads` it, and base64-decode the media payload;
- `relay`: and send the caller's audio to a recogniser socket (one client connection per call, 100 ms per
  message: 10 JSON messages a second, as `speech/recognition.py` does);
- `speak`: and the bot talks half of every second in 200 ms media + mark pairs, whose marks the phone
  echoes (2.5 pairs out and 2.5 marks in per call-second, as `telephony/playback.py` sends them).

The phones are one cheap raw-socket driver on core 0 (pre-masked frames written by one 20 ms pacer; it
reports its own lateness), and the recogniser sink runs there too. The figure is the server's CPU
(utime + stime from /proc) over the measured window, divided by call-seconds.

Why it exists: issue 17 asks for 30x Pipecat's calls per core. With Pipecat at 12 calls per core on this
machine that is 360, a budget of at most 2.8 CPU-ms per call-second at a 100 %-busy core; `speak` at 360
calls shows how much of that budget the transport alone takes. `make bench` runs it with the defaults
(100 and 360 calls); `--quick` runs 25 calls for 3 s, a smoke check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen.harness import REALTIME_LAUNCHER, set_realtime  # noqa: E402
from bench.loadgen.probes import cpu_seconds  # noqa: E402
from local.storage import free_port  # noqa: E402

VARIANTS = ("recv", "parse", "relay", "speak")
FRAME_S = 0.020


# ----------------------------------------------------------------------------------------------- server


async def _serve(variant: str, port: int, sink_port: int) -> None:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve

    level = VARIANTS.index(variant)
    media_out = json.dumps(
        {
            "event": "media",
            "streamSid": "MZfloor",
            "media": {"payload": base64.b64encode(bytes(1600)).decode()},
        }
    )

    async def speak(websocket: ServerConnection) -> None:
        sent = 0
        while True:
            await asyncio.sleep(0.2)
            if (time.monotonic() % 1.0) < 0.5:  # the bot talks half of each second
                await websocket.send(media_out)
                await websocket.send(
                    json.dumps({"event": "mark", "streamSid": "MZfloor", "mark": {"name": f"u{sent}"}})
                )
                sent += 1

    async def handler(websocket: ServerConnection) -> None:
        recogniser = await connect(f"ws://127.0.0.1:{sink_port}/", compression=None) if level >= 2 else None
        speaker = asyncio.create_task(speak(websocket)) if level >= 3 else None
        pending = bytearray()
        frames = 0
        try:
            async for message in websocket:
                if level == 0:
                    continue
                frame = json.loads(message)
                if frame.get("event") != "media":
                    continue
                audio = base64.b64decode(frame["media"]["payload"])
                if recogniser is None:
                    continue
                pending += audio
                frames += 1
                if frames % 5 == 0:
                    chunk = {
                        "message_type": "input_audio_chunk",
                        "audio_base_64": base64.b64encode(pending).decode(),
                    }
                    await recogniser.send(json.dumps(chunk))
                    pending.clear()
        finally:
            if speaker is not None:
                speaker.cancel()
            if recogniser is not None:
                await recogniser.close()

    async with serve(
        handler, "127.0.0.1", port, compression=None, max_size=64 * 1024, max_queue=64, ping_interval=None
    ):
        print("ready", flush=True)
        await asyncio.Future()


# -------------------------------------------------------------------------------------- phones and sink


def _client_frame(payload: bytes) -> bytes:
    """One masked text frame, as a WebSocket client must send it (RFC 6455 5.3)."""
    mask = random.randbytes(4)
    length = len(payload)
    if length < 126:
        header = bytes((0x81, 0x80 | length))
    else:
        header = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def _twilio_frames() -> tuple[bytes, list[bytes], bytes]:
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZfloor",
        "start": {"streamSid": "MZfloor", "callSid": "CAfloor", "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    }  # fmt: skip
    media = [
        _client_frame(json.dumps({
            "event": "media", "sequenceNumber": str(n + 2), "streamSid": "MZfloor",
            "media": {"track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n),
                      "payload": base64.b64encode(random.randbytes(160)).decode()},
        }).encode())
        for n in range(50)
    ]  # fmt: skip
    mark = _client_frame(
        json.dumps({"event": "mark", "streamSid": "MZfloor", "mark": {"name": "u0"}}).encode()
    )
    return _client_frame(json.dumps(start).encode()), media, mark


class _Phone(asyncio.Protocol):
    """One phone socket: upgrades, then echoes a mark for each mark the server sends."""

    def __init__(self, mark_echo: bytes) -> None:
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self._mark_echo = mark_echo
        self._head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(random.randbytes(16)).decode()
        transport.write(
            f"GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, _, data = self._head.partition(b"\r\n\r\n")  # frames may follow the 101 in one read
            self.upgraded.set_result(head.startswith(b"HTTP/1.1 101"))
        assert self.transport is not None
        for _ in range(data.count(b'"event": "mark"')):
            self.transport.write(self._mark_echo)


async def _sink(port: int) -> asyncio.AbstractServer:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def discard(websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in websocket:
                pass

    return (await serve(discard, "127.0.0.1", port, compression=None, ping_interval=None)).server


async def _measure(
    variant: str, calls: int, seconds: float, event_loop: str, realtime: bool
) -> dict[str, float]:
    port, sink_port = free_port(), free_port()
    sink = await _sink(sink_port)
    launcher = ["taskset", "-c", "1", *(REALTIME_LAUNCHER if realtime else ())]
    command = [*launcher, sys.executable, __file__, "--serve", variant, "--port", str(port),
               "--sink-port", str(sink_port), "--event-loop", event_loop]  # fmt: skip
    server = subprocess.Popen(  # noqa: ASYNC220 - started once per run, before the measured window
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    try:
        assert server.stdout is not None
        await asyncio.to_thread(server.stdout.readline)
        start, media, mark = _twilio_frames()
        loop = asyncio.get_running_loop()
        phones: list[_Phone] = []
        for _ in range(calls):
            _, phone = await loop.create_connection(lambda: _Phone(mark), "127.0.0.1", port)
            if not await phone.upgraded:
                raise RuntimeError("the server refused the WebSocket upgrade")
            assert phone.transport is not None
            phone.transport.write(start)
            phones.append(phone)
        lateness: list[float] = []

        async def pace() -> None:
            due, n = loop.time(), 0
            while True:
                due += FRAME_S
                await asyncio.sleep(max(0.0, due - loop.time()))
                lateness.append(loop.time() - due)
                frame = media[n % len(media)]
                for phone in phones:
                    assert phone.transport is not None
                    phone.transport.write(frame)
                n += 1

        pacer = asyncio.create_task(pace())
        await asyncio.sleep(3.0)  # warm-up: every phone talking, the recogniser sockets open
        lateness.clear()
        before, own_before, started = cpu_seconds(server.pid), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        used, own = cpu_seconds(server.pid) - before, time.process_time() - own_before
        wall = time.monotonic() - started
        pacer.cancel()
        measured = {
            "cpu_ms_per_call_s": 1000 * used / (calls * wall),
            "busy": used / wall,
            "phones_ms_per_call_s": 1000 * own / (calls * wall),
            "pacer_late_p99_ms": 1000 * statistics.quantiles(lateness, n=100)[98],
        }
        for phone in phones:
            assert phone.transport is not None
            phone.transport.close()
        return measured
    finally:
        server.terminate()
        server.wait()
        sink.close()


async def _main(args: argparse.Namespace) -> int:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    realtime = os.geteuid() == 0
    if realtime:
        set_realtime(os.getpid(), 2)  # above the server's priority 1, as the bench's load generator
    counts = [int(n) for n in args.calls.split(",")]
    print(f"server loop: {args.event_loop}; SCHED_FIFO: {realtime}; {args.seconds:g} s measured per run")
    columns = ("calls", "variant", "CPU-ms/call-s", "core busy", "phones ms/call-s", "pacer p99")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, (5, 7, 14, 9, 16, 9), strict=True)))
    for calls in counts:
        for variant in args.variants.split(","):
            row = await _measure(variant, calls, args.seconds, args.event_loop, realtime)
            print(
                f"{calls:5d} {variant:>7} {row['cpu_ms_per_call_s']:14.2f} {100 * row['busy']:8.0f}% "
                f"{row['phones_ms_per_call_s']:16.2f} {row['pacer_late_p99_ms']:7.1f}ms",
                flush=True,
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="100,360", help="comma-separated call counts")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--event-loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--quick", action="store_true", help="25 calls, 3 s, two variants: a smoke check")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.seconds, args.variants = "25", 3.0, "recv,speak"
    if args.serve:
        if args.event_loop == "uvloop":
            import uvloop

            uvloop.run(_serve(args.serve, args.port, args.sink_port))
        else:
            asyncio.run(_serve(args.serve, args.port, args.sink_port))
        return 0
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
