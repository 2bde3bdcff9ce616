"""The competitor: one Pipecat pipeline per Twilio Media Stream, served by FastAPI.

Built as a Pipecat user would for Twilio: `parse_telephony_websocket` reads `connected`/`start`,
`TwilioFrameSerializer` (auto hang-up off: the emulator ends the call itself, and Twilio's REST API
is unreachable here), `FastAPIWebsocketTransport`, Silero VAD (its ONNX model ships in the wheel),
ElevenLabs realtime STT, an OpenAI-compatible LLM, ElevenLabs HTTP TTS, all pointed at the same
local fakes our stream host uses. The pipeline runs at 8 kHz end to end, as Pipecat's Twilio
examples configure it, so no resampling flatters or burdens either side.

Endpointing is matched to ours: Silero's stop (VAD_STOP_SECS) plus the speech-timeout strategy add
up to the same silence our TurnDetector waits for (END_OF_TURN_SILENCE_MS).

Settings come from the environment: PORT, ELEVENLABS_BASE_URL, ELEVENLABS_API_KEY, CEREBRAS_BASE_URL,
CEREBRAS_API_KEY, CEREBRAS_MODEL, BOT_GREETING, BOT_PROMPT, END_OF_TURN_SILENCE_MS.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.elevenlabs.stt import ElevenLabsRealtimeSTTService
from pipecat.services.elevenlabs.tts import ElevenLabsHttpTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

__all__ = ["app", "main"]

VAD_STOP_SECS = 0.2
SAMPLE_RATE = 8000


class LocalRealtimeSTT(ElevenLabsRealtimeSTTService):
    """Pipecat's realtime STT, but over plain ws:// to the local fake.

    Pipecat builds `wss://{base_url}/...` with TLS hard-wired; the only change is the scheme, so the
    messages on the wire are exactly Pipecat's.
    """

    async def _websocket_connect(self, uri: str, **kwargs: Any) -> Any:
        return await super()._websocket_connect(uri.replace("wss://", "ws://", 1), **kwargs)


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


app = FastAPI()


@app.get("/healthz")
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@app.websocket("/media")
async def media(websocket: WebSocket) -> None:
    await websocket.accept()
    _, call_data = await parse_telephony_websocket(websocket)
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    eleven_http = _env("ELEVENLABS_BASE_URL", "http://127.0.0.1:8790")
    eleven_key = _env("ELEVENLABS_API_KEY", "bench-elevenlabs-key")
    silence_s = int(_env("END_OF_TURN_SILENCE_MS", "700")) / 1000
    async with aiohttp.ClientSession() as http:
        stt = LocalRealtimeSTT(api_key=eleven_key, base_url=eleven_http.split("://", 1)[1])
        llm = OpenAILLMService(
            api_key=_env("CEREBRAS_API_KEY", "bench-cerebras-key"),
            base_url=_env("CEREBRAS_BASE_URL", "http://127.0.0.1:8791").rstrip("/") + "/v1",
            settings=OpenAILLMService.Settings(
                model=_env("CEREBRAS_MODEL", "gpt-oss-120b"),
                system_instruction=_env("BOT_PROMPT", "Be brief."),
            ),
        )
        tts = ElevenLabsHttpTTSService(
            api_key=eleven_key,
            settings=ElevenLabsHttpTTSService.Settings(voice="bench-voice"),
            aiohttp_session=http,
            base_url=eleven_http,
        )
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=VAD_STOP_SECS)),
                user_turn_strategies=UserTurnStrategies(
                    stop=[
                        SpeechTimeoutUserTurnStopStrategy(
                            user_speech_timeout=max(silence_s - VAD_STOP_SECS, 0.0)
                        )
                    ]
                ),
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt,
                aggregators.user(),
                llm,
                tts,
                transport.output(),
                aggregators.assistant(),
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE),
        )

        @transport.event_handler("on_client_connected")
        async def _greet(_transport: Any, _client: Any) -> None:
            await worker.queue_frames([TTSSpeakFrame(_env("BOT_GREETING", "Hello, how can I help?"))])

        @transport.event_handler("on_client_disconnected")
        async def _bye(_transport: Any, _client: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()


def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level=_env("BOT_LOG_LEVEL", "WARNING"))
    uvicorn.run(app, host="127.0.0.1", port=int(_env("PORT", "8765")), log_level="warning")


if __name__ == "__main__":
    main()
