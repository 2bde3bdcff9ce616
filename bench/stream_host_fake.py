"""A stream host process with fake providers of fixed latency and in-memory storage (for benches).

Run as ``python bench/stream_host_fake.py PORT``; prints ``READY`` when listening, serves until
SIGTERM, then prints one JSON line of process figures (event-loop lag percentiles, turns).
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
import time
from collections.abc import Mapping
from typing import Any

from callcore.fleet import TaskSlots
from callcore.models import CallRecord, CallSummary, DoNotCallEntry, Persona, TranscriptTurn
from callcore.settings import Settings

from local.fake_providers.in_process import FakeLanguageModel, FakeSpeechToText, FakeTextToSpeech
from stream_server.host.server import StreamServer
from stream_server.observability import MetricsSink
from stream_server.services import CallServices
from stream_server.settings import StreamSettings
from stream_server.speech.pipeline import ApologyClip, PipelineSettings
from stream_server.turn_taking.detector import TurnSettings

AUTH_TOKEN = "bench-auth-token"
SECRET = "bench-stream-secret"
EOT_MS = 500
STT_S, LLM_FIRST_S, LLM_TOKEN_S, TTS_FIRST_S = 0.15, 0.20, 0.005, 0.10
STT_SCRIPT = "what time do you open"  # what the fake recogniser hears on every turn
PERSONA = Persona(
    persona_id="bench",
    name="Bench",
    voice_id="v",
    prompt="Be brief.",
    greeting="Hello.",
    end_of_turn_silence_ms=EOT_MS,
)


class MemoryRepository:
    def __init__(self) -> None:
        self.turns: dict[tuple[str, int], TranscriptTurn] = {}
        self.tokens: dict[str, str] = {}  # nonce -> the socket that claimed it

    def get_call(self, call_id: str) -> CallRecord | None:
        return None

    def get_persona(self, persona_id: str) -> Persona | None:
        return PERSONA

    def put_turn(self, call_id: str, turn: TranscriptTurn) -> None:
        self.turns.setdefault((call_id, turn.index), turn)

    def consume_stream_token(self, nonce: str, expires_at: int, *, claimant: str) -> bool:
        return self.tokens.setdefault(nonce, claimant) == claimant

    def finish_call(self, call_id: str, summary: CallSummary) -> None:
        pass

    def record_opt_out(self, call_id: str, *, at: str) -> DoNotCallEntry | None:
        return None

    def record_disclosure(self, call_id: str, *, at: str) -> None:
        pass

    def record_consent(self, call_id: str, *, given: bool, at: str) -> None:
        pass

    def record_update_refusal(self, call_id: str, refusal: Mapping[str, Any]) -> None:
        pass

    def report_task_slots(self, slots: TaskSlots) -> None:
        pass

    def withdraw_task_slots(self, task_id: str) -> None:
        pass


class _Loop:
    """Records how late asyncio.sleep(0.05) wakes up: the event loop's lag under load."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append((time.perf_counter() - t - 0.05) * 1000)


def build(port: int, repo: MemoryRepository) -> StreamServer:
    core = Settings(
        twilio_auth_token=AUTH_TOKEN,
        stream_token_secret=SECRET,
        stream_public_url=f"ws://127.0.0.1:{port}/media",
        port=port,
    )
    settings = StreamSettings(
        core=core,
        turn=TurnSettings(end_of_turn_silence_ms=EOT_MS),
        pipeline=PipelineSettings(),
        max_calls=10_000,
    )
    services = CallServices(
        settings=settings,
        repository=repo,
        stt=FakeSpeechToText(script=[STT_SCRIPT] * 1_000_000, latency_s=STT_S),
        llm=FakeLanguageModel(
            reply=lambda m: "Sure. We open at nine every weekday.",
            first_token_s=LLM_FIRST_S,
            token_s=LLM_TOKEN_S,
        ),
        tts=FakeTextToSpeech(first_byte_s=TTS_FIRST_S, bytes_per_char=40, chunk_bytes=800),
        apology=ApologyClip("Sorry.", b"\xff" * 800),
        metrics=MetricsSink("Bench", write=lambda line: None),
        end_call_via_rest=lambda sid: None,
    )
    return StreamServer(services)


async def main(port: int) -> None:
    repo = MemoryRepository()
    server = build(port, repo)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lag = _Loop()
    lag_task = asyncio.create_task(lag.run())
    await server.start()
    print("READY", flush=True)
    await stop.wait()
    lag_task.cancel()
    lags = sorted(lag.lags) or [0.0]
    assistant = [t for t in repo.turns.values() if t.role == "assistant" and "first_audio" in t.latency_ms]
    out: dict[str, Any] = {
        "loop_lag_p50_ms": round(statistics.median(lags), 2),
        "loop_lag_p99_ms": round(lags[int(len(lags) * 0.99) - 1 if len(lags) > 1 else 0], 2),
        "assistant_turns": len(assistant),
        "turn_latency": [t.latency_ms for t in assistant],
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
