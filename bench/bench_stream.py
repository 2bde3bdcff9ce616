"""Stream host benchmarks with fake providers of fixed latency (see bench/stream_host_fake.py).

1. Pipeline overhead per turn: caller's last speech -> first outbound audio, minus the shortest path
   the turn-taking allows (the recogniser is committed after STT_COMMIT_SILENCE_MS and answers in
   STT_S; the end of turn needs the silence the words call for; then the fakes' LLM and TTS latencies),
   from the server-side stage timings. Target <= 10 ms p95.
2. Barge-in reaction: caller speech onset -> ``clear`` received by the caller. Target <= 300 ms p95
   (it includes BARGE_IN_MS of required speech, 240 ms by default).
3. Concurrent calls on one core (server pinned with taskset): N paced calls talking in turns;
   reports reply-time p95 against a single call, event-loop lag, and CPU-ms per call-second.

Usage: python bench/bench_stream.py [--quick] [--calls N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "callcore")]

from callcore.tokens import issue_stream_token  # noqa: E402

from bench.stream_host_fake import (  # noqa: E402
    AUTH_TOKEN,
    EOT_MS,
    LLM_FIRST_S,
    LLM_TOKEN_S,
    SECRET,
    STT_S,
    STT_SCRIPT,
    TTS_FIRST_S,
)
from local.twilio_emulator.stream_client import TwilioLike, open_stream  # noqa: E402
from local.twilio_emulator.voice import render_speech  # noqa: E402
from stream_server.audio.codec import FRAME_BYTES, silence_ulaw, split_frames, ulaw_to_pcm16  # noqa: E402
from stream_server.turn_taking.detector import TurnSettings, frame_dbfs  # noqa: E402
from stream_server.turn_taking.end_of_turn import EndOfTurnSettings, silence_needed_ms  # noqa: E402

FRAME_S = 0.02


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _trimmed_speech(text: str) -> bytes:
    """eSpeak audio without leading/trailing quiet frames, so onset and end times are exact."""
    frames = [
        f
        for f in split_frames(render_speech(text, voice="en", words_per_minute=175))
        if len(f) == FRAME_BYTES
    ]
    loud = [i for i, f in enumerate(frames) if frame_dbfs(ulaw_to_pcm16(f)) > -45]
    return b"".join(frames[loud[0] : loud[-1] + 1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Host:
    def __init__(self, *, pin: str | None) -> None:
        self.port = _free_port()
        cmd = [sys.executable, str(ROOT / "bench" / "stream_host_fake.py"), str(self.port)]
        if pin and shutil.which("taskset"):
            cmd = ["taskset", "-c", pin, *cmd]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'callcore'}"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "READY" not in line:
            raise RuntimeError(f"bench host failed to start: {line!r}")
        self.url = f"ws://127.0.0.1:{self.port}/media"
        self.calls = 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> dict[str, Any]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        return dict(json.loads(out.strip().splitlines()[-1]))

    async def call(self, **kw: Any) -> tuple[TwilioLike, str]:
        self.calls += 1
        n = self.calls  # captured before any await: calls start concurrently
        call_sid = f"CA{os.getpid():08d}{n:024d}"
        token = issue_stream_token(SECRET, call_id=f"c{n}", call_sid=call_sid, now=time.time())
        client = await open_stream(self.url, AUTH_TOKEN, **kw)
        await client.start(call_sid, {"call_id": f"c{n}", "token": token, "persona_id": "bench"})
        await client.wait_for(lambda r: any(m["event"] == "mark" for m in r), 30)
        await client.play_all()
        await asyncio.sleep(0.3)  # let the greeting settle before the caller speaks
        return client, call_sid


async def paced(client: TwilioLike, audio: bytes, *, start: float | None = None) -> float:
    """Send audio in real time (20 ms frames on a fixed schedule); returns the last frame's send time."""
    t0 = start if start is not None else time.perf_counter()
    frames = split_frames(audio)
    sent = t0
    for i, frame in enumerate(frames):
        delay = t0 + i * FRAME_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await client.say(frame)
        sent = time.perf_counter()
    return sent


async def conversation_turn(client: TwilioLike, speech: bytes) -> float:
    """One caller turn; returns seconds from the last speech frame to the first reply audio."""
    before = len(client.received)
    last_speech = await paced(client, speech)
    silence = asyncio.ensure_future(paced(client, silence_ulaw(EOT_MS + 600), start=last_speech + FRAME_S))
    await client.wait_for(lambda r: any(m["event"] == "media" for m in r[before:]), 30)
    got = time.perf_counter()
    await silence
    await client.wait_for(lambda r: not client.pending_marks, 30)
    return got - last_speech


async def single_call(host: Host, turns: int, speech: bytes) -> list[float]:
    client, _ = await host.call()
    out = [await conversation_turn(client, speech) for _ in range(turns)]
    await client.close()
    return out


async def barge_ins(host: Host, count: int, speech: bytes, interruption: bytes) -> list[float]:
    client, _ = await host.call(auto_play=False)
    await client.play_all()
    reactions: list[float] = []
    for _ in range(count):
        before = len(client.received)
        last = await paced(client, speech)
        await paced(client, silence_ulaw(EOT_MS + 100), start=last + FRAME_S)
        # The reply is "playing" (marks held back) when the caller starts talking over it.
        await client.wait_for(lambda r, b=before: any(m["event"] == "media" for m in r[b:]), 30)
        clears = client.count("clear")
        onset = time.perf_counter()
        sender = asyncio.ensure_future(paced(client, interruption, start=onset))
        await client.wait_for(lambda r, c=clears: client.count("clear") > c, 30)
        reactions.append(time.perf_counter() - onset)
        await sender
        await paced(client, silence_ulaw(EOT_MS + 600))
        await asyncio.sleep(0.8)
        await client.play_all()
        await asyncio.sleep(0.3)
        await client.play_all()
    await client.close()
    return reactions


async def concurrent(host: Host, calls: int, seconds: float, speech: bytes) -> tuple[list[float], float]:
    async def one(delay: float) -> list[float]:
        await asyncio.sleep(delay)
        client, _ = await host.call()
        times: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            times.append(await conversation_turn(client, speech))
        await client.close()
        return times

    cpu0, wall0 = host.cpu_seconds(), time.perf_counter()
    results = await asyncio.gather(*(one(i * 2.0 / calls) for i in range(calls)))
    cpu = host.cpu_seconds() - cpu0
    call_seconds = calls * (time.perf_counter() - wall0 - 1.0)
    return [t for r in results for t in r], cpu * 1000 / call_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    calls = args.calls or (20 if args.quick else 100)
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    turns = 4 if args.quick else 15
    speech = _trimmed_speech("What time do you open tomorrow?")
    interruption = _trimmed_speech("Wait, wait, I have a different question about that.")
    fakes_ms = (LLM_FIRST_S + LLM_TOKEN_S + TTS_FIRST_S) * 1000
    # The shortest path to the reply's first audio: the final words (commit + recogniser), or the
    # silence those words need to end the turn, whichever is later; then LLM and TTS.
    turn = TurnSettings(end_of_turn_silence_ms=EOT_MS)
    words_need = silence_needed_ms(
        STT_SCRIPT,
        base_ms=EOT_MS,
        settings=EndOfTurnSettings(turn.min_end_of_turn_silence_ms, turn.max_end_of_turn_silence_ms),
    )
    floor_ms = max(turn.stt_commit_silence_ms + STT_S * 1000, words_need) + fakes_ms

    host = Host(pin="0")
    replies = asyncio.run(asyncio.wait_for(single_call(host, turns, speech), 300))
    print("single call done", flush=True)
    reactions = asyncio.run(
        asyncio.wait_for(barge_ins(host, 3 if args.quick else 10, speech, interruption), 300)
    )
    stats = host.stop()
    overheads = []
    answered = [lat for lat in stats["turn_latency"] if "reply_start_after_speech" in lat][:turns]
    for lat in answered:  # the greeting answers no caller turn
        overheads.append(lat["reply_start_after_speech"] + lat["first_audio"] - floor_ms)
    print(
        f"(1) pipeline overhead per turn: p50 {pct(overheads, 50):.1f} ms, p95 {pct(overheads, 95):.1f} ms "
        f"over {len(overheads)} turns (target <= 10 ms p95)"
    )
    base = [r * 1000 - floor_ms for r in replies]
    print(
        f"    client view, last speech frame -> first reply media minus silence+fakes: "
        f"p50 {pct(base, 50):.1f} ms, p95 {pct(base, 95):.1f} ms"
    )
    print(
        f"(2) barge-in reaction, speech onset -> clear: p50 {pct([r * 1000 for r in reactions], 50):.0f} ms, "
        f"p95 {pct([r * 1000 for r in reactions], 95):.0f} ms over {len(reactions)} (target <= 300 ms p95)"
    )

    host = Host(pin="0")
    times, cpu_ms = asyncio.run(asyncio.wait_for(concurrent(host, calls, seconds, speech), seconds * 4 + 120))
    stats = host.stop()
    late = [t * 1000 - floor_ms for t in times]
    print(
        f"(3) {calls} concurrent calls for {seconds:.0f} s, server pinned to CPU 0: {len(times)} turns, "
        f"reply overhead p50 {pct(late, 50):.0f} ms p95 {pct(late, 95):.0f} ms; "
        f"event-loop lag p50 {stats['loop_lag_p50_ms']} ms p99 {stats['loop_lag_p99_ms']} ms; "
        f"{cpu_ms:.2f} CPU-ms per call-second"
    )


if __name__ == "__main__":
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {1} if (os.cpu_count() or 1) > 1 else {0})
    main()
