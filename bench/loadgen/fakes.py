"""The provider fakes as one long-lived process, at the latencies the providers publish.

The recogniser is the realistic one of `local/fake_providers/recognition.py` (also what
`bench/bench_turns.py` replays): partial transcripts every 200 ms that trail the audio by
300-500 ms, the committed transcript 120 ms after a commit, and only the words spoken by then.
Each STT session (one per call) says the bench caller's lines in order, as the caller speaks them.

Both systems under test talk to the same process, so neither gets a faster fake. It runs in its own
process (on the load generator's core) so that its sleeps are not stretched by the load generator's
event loop.

One bench-only addition: Pipecat's ElevenLabs HTTP TTS service calls
`POST /v1/text-to-speech/{voice}/stream/with-timestamps` (newline-delimited JSON with base64 audio and
character alignment) instead of the raw `/stream` our adapter uses. `BenchElevenLabs` serves that
route with the same audio, the same first-byte latency and the same pacing as the original.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aiohttp import web

from bench.loadgen.calls import BENCH_LINES
from local.fake_providers import FakeCerebras, FakeElevenLabs
from local.fake_providers.elevenlabs import espeak_speech_seconds, voiced_tone
from local.fake_providers.recognition import ProviderTiming
from stream_server.audio.codec import SAMPLE_RATE, ulaw_to_pcm16

__all__ = ["BenchElevenLabs", "FakeLatencies", "serve"]

# Same length rule as the fake's /stream route, so both systems get equally long replies.
_TTS_MS_PER_CHAR = 60
_TTS_MIN_MS = 300


_PUBLISHED = ProviderTiming()


@dataclass(frozen=True)
class FakeLatencies:
    """Published figures the fakes imitate (milliseconds; the shared `ProviderTiming` defaults)."""

    stt_commit_ms: float = _PUBLISHED.final_after_commit_ms
    llm_first_token_ms: float = _PUBLISHED.llm_first_token_ms
    llm_tokens_per_second: float = 1000.0
    tts_first_byte_ms: float = _PUBLISHED.tts_first_audio_ms
    tts_speed: float = 2.0
    stt_partial_every_ms: float = _PUBLISHED.partial_every_ms
    stt_partial_lag_ms: tuple[float, float] = _PUBLISHED.partial_lag_ms

    @property
    def recognition(self) -> ProviderTiming:
        return ProviderTiming(
            partial_every_ms=self.stt_partial_every_ms,
            partial_lag_ms=self.stt_partial_lag_ms,
            final_after_commit_ms=self.stt_commit_ms,
            llm_first_token_ms=self.llm_first_token_ms,
            tts_first_audio_ms=self.tts_first_byte_ms,
        )

    @property
    def serial_ms(self) -> float:
        """What the fakes alone add to one reply if a pipeline runs STT, LLM and TTS one after another."""
        return self.stt_commit_ms + self.llm_first_token_ms + self.tts_first_byte_ms


class BenchElevenLabs(FakeElevenLabs):
    """The shared ElevenLabs fake plus the with-timestamps TTS route Pipecat uses."""

    def install(self, app: web.Application) -> None:
        super().install(app)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream/with-timestamps", self._tts_timestamps)

    async def _tts_timestamps(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("xi-api-key") != self.api_key:
            return web.json_response({"detail": {"status": "invalid_api_key"}}, status=401)
        body = await request.json()
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return web.json_response({"detail": [{"loc": ["body", "text"]}]}, status=422)
        output_format = request.query.get("output_format", "mp3_44100_128")
        if output_format not in ("pcm_8000", "ulaw_8000"):
            return web.json_response({"detail": {"status": "unsupported_format"}}, status=422)
        ulaw = voiced_tone(max(_TTS_MIN_MS, _TTS_MS_PER_CHAR * len(text)))
        audio = ulaw_to_pcm16(ulaw).astype("<i2").tobytes() if output_format == "pcm_8000" else ulaw
        bytes_per_sample = 2 if output_format == "pcm_8000" else 1
        seconds = len(ulaw) / SAMPLE_RATE
        per_char = seconds / len(text)
        alignment = {
            "characters": list(text),
            "character_start_times_seconds": [round(i * per_char, 3) for i in range(len(text))],
            "character_end_times_seconds": [round((i + 1) * per_char, 3) for i in range(len(text))],
        }
        self.milestone("tts_request")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await asyncio.sleep(self.tts_first_byte_ms / 1000)
        await response.prepare(request)
        step = SAMPLE_RATE * self.tts_chunk_ms // 1000 * bytes_per_sample
        lines: list[bytes] = []
        for index, offset in enumerate(range(0, len(audio), step)):
            line: dict[str, object] = {
                "audio_base64": base64.b64encode(audio[offset : offset + step]).decode()
            }
            if index == 0:
                line["alignment"] = alignment
            lines.append(json.dumps(line).encode() + b"\n")
        return await self.write_paced(request, response, lines)


async def serve(
    latencies: FakeLatencies,
    *,
    elevenlabs_port: int,
    cerebras_port: int,
    elevenlabs_key: str,
    cerebras_key: str,
    stop: asyncio.Event,
    milestones: Path | None = None,
) -> None:
    """Run both fakes until `stop` is set (prints `ready` once both listen).

    `milestones`: a file that gets one JSON line `[monotonic seconds, name]` per request milestone
    (STT commit and final, LLM request and first token, TTS request and first audio); the clock is
    the machine's, so the load generator can place them on its calls' timelines.
    """
    eleven = BenchElevenLabs(
        api_key=elevenlabs_key,
        stt_commit_ms=latencies.stt_commit_ms,
        recognition=latencies.recognition,
        session_script=BENCH_LINES,
        tts_first_byte_ms=latencies.tts_first_byte_ms,
        tts_speed=latencies.tts_speed,
        port=elevenlabs_port,
    )
    cerebras = FakeCerebras(
        api_key=cerebras_key,
        reasoning="",
        first_token_ms=latencies.llm_first_token_ms,
        tokens_per_second=latencies.llm_tokens_per_second,
        port=cerebras_port,
    )
    for line in BENCH_LINES:  # render the caller's lines once, before any call needs their timing
        espeak_speech_seconds(line)
    sink: IO[str] | None = milestones.open("a", encoding="utf-8") if milestones is not None else None
    if sink is not None:
        log = sink

        def note(name: str) -> None:
            log.write(json.dumps([round(time.monotonic(), 4), name]) + "\n")
            log.flush()

        eleven.on_milestone = cerebras.on_milestone = note
    async with eleven, cerebras:
        print("ready", eleven.base_url, cerebras.base_url, flush=True)
        while not stop.is_set():
            # The fakes keep a record of every request for tests; a long bench must not grow it forever.
            eleven.stt_sessions.clear()
            eleven.tts_requests.clear()
            cerebras.requests.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
    if sink is not None:
        sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen.fakes")
    parser.add_argument("--elevenlabs-port", type=int, required=True)
    parser.add_argument("--cerebras-port", type=int, required=True)
    parser.add_argument("--elevenlabs-key", default="bench-elevenlabs-key")
    parser.add_argument("--cerebras-key", default="bench-cerebras-key")
    parser.add_argument("--milestones", type=Path, help="append request milestones here (JSON lines)")
    args = parser.parse_args()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            FakeLatencies(),
            elevenlabs_port=args.elevenlabs_port,
            cerebras_port=args.cerebras_port,
            elevenlabs_key=args.elevenlabs_key,
            cerebras_key=args.cerebras_key,
            stop=stop,
            milestones=args.milestones,
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
