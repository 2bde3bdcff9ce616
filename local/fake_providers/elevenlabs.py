"""A fake ElevenLabs API: Scribe realtime STT (WebSocket) and streaming TTS (HTTP).

Request and message shapes follow the installed `elevenlabs` SDK 2.78 (see docs/providers.md):
- `GET /v1/speech-to-text/realtime?model_id=…&audio_format=ulaw_8000&commit_strategy=manual…`
  upgraded to a WebSocket; the client sends `input_audio_chunk` messages (base64 audio,
  `commit: true` to end a segment); the fake answers `session_started`, `partial_transcript`
  while audio arrives and `committed_transcript` after a fixed commit latency, taking the text
  from a script (`say_next`) because it does not recognise speech. With `recognition` set, it
  behaves like a real streaming recogniser instead (`local/fake_providers/recognition.py`): each
  session walks its own `session_script`, a line starting at the first voiced audio; partials
  trail the audio by a few hundred ms (so they lack the last words when the caller stops) and a
  commit finalises only the words spoken so far, so a line may arrive in several segments.
- `POST /v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000` with a JSON body; answers
  raw mu-law audio (a voiced tone whose length follows the text) after a fixed first-byte
  latency, paced at a configurable multiple of real time.
Both check the `xi-api-key` header, and faults can be queued for the next request or session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from aiohttp import WSMsgType, web

from local.fake_providers.recognition import ProviderTiming, TrailingTranscript, word_end_times
from local.fake_providers.server import FakeServer
from stream_server.audio import SAMPLE_RATE, pcm16_to_ulaw, ulaw_to_pcm16

__all__ = [
    "FakeElevenLabs",
    "SttFault",
    "SttSessionRecord",
    "TtsFault",
    "TtsRequestRecord",
    "espeak_speech_seconds",
    "voiced_tone",
]

SttFault = Literal["auth_error", "quota_exceeded", "drop_after_start"]
TtsFault = Literal["http_500", "http_429", "drop_mid_stream", "stall"]

_STT_AUDIO_FORMATS = {
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
}
_STT_COMMIT_STRATEGIES = {"manual", "vad"}
_TTS_MS_PER_CHAR = 60
_TTS_MIN_MS = 300
_FRAME = SAMPLE_RATE // 50  # 20 ms of mu-law
_VOICED_DBFS = -45.0  # a 20 ms frame louder than this is speech to the trailing recogniser


@dataclass
class SttSessionRecord:
    """What one realtime STT session received, for assertions."""

    query: dict[str, str]
    headers: dict[str, str]
    audio: bytearray = field(default_factory=bytearray)
    commits: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TtsRequestRecord:
    """One TTS request as received."""

    voice_id: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


def voiced_tone(duration_ms: int, *, pitch_hz: float = 140.0, syllables_per_second: float = 4.0) -> bytes:
    """Mu-law audio that looks like speech to a VAD: harmonics of a pitch under a syllable envelope."""
    count = SAMPLE_RATE * max(duration_ms, 0) // 1000
    t = np.arange(count, dtype=np.float64) / SAMPLE_RATE
    voice = sum(np.sin(2 * math.pi * pitch_hz * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * math.pi * syllables_per_second * t) ** 2
    return pcm16_to_ulaw((voice * envelope * 6000).astype(np.int16))


def _frame_voiced(ulaw: bytes) -> bool:
    pcm = ulaw_to_pcm16(ulaw).astype(np.float64)
    rms = math.sqrt(float(np.mean(pcm * pcm))) if pcm.size else 0.0
    return 20 * math.log10(max(rms, 1e-9) / 32768.0) > _VOICED_DBFS


def espeak_speech_seconds(text: str) -> float:
    """How long the caller's voice (eSpeak NG, as the Twilio emulator renders it) speaks `text`."""
    from local.twilio_emulator.voice import render_speech

    audio = render_speech(text)
    voiced = [i for i in range(0, len(audio) - _FRAME + 1, _FRAME) if _frame_voiced(audio[i : i + _FRAME])]
    return (voiced[-1] + _FRAME - voiced[0]) / SAMPLE_RATE if voiced else 0.0


class FakeElevenLabs(FakeServer):
    """In-process: `async with FakeElevenLabs(api_key="k") as fake: fake.base_url`."""

    def __init__(
        self,
        *,
        api_key: str = "test-elevenlabs-key",
        transcripts: list[str] | None = None,
        default_transcript: str = "",
        stt_commit_ms: float = 150.0,
        stt_partial_every_ms: float = 200.0,
        tts_first_byte_ms: float = 100.0,
        tts_speed: float = 0.0,
        tts_chunk_ms: int = 100,
        recognition: ProviderTiming | None = None,
        session_script: Sequence[str] = (),
        speech_seconds: Callable[[str], float] | None = None,
        seed: int = 7,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Args:
        transcripts: what the next commits will return, in order (then `default_transcript`).
        stt_partial_every_ms: a partial transcript after every this much audio in a segment.
        tts_speed: audio pacing as a multiple of real time; 0 sends as fast as the socket takes.
        recognition: trail the audio like a real recogniser (partial lag; `stt_commit_ms` still sets
            the final's delay); each session then says `session_script` (cycled) instead of `transcripts`.
        speech_seconds: how long the caller speaks a line (default: eSpeak NG, the emulator's voice).
        """
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.script: deque[str] = deque(transcripts or [])
        self.default_transcript = default_transcript
        self.stt_commit_ms = stt_commit_ms
        self.stt_partial_every_ms = stt_partial_every_ms
        self.tts_first_byte_ms = tts_first_byte_ms
        self.tts_speed = tts_speed
        self.tts_chunk_ms = tts_chunk_ms
        self.recognition = recognition
        self.session_script = tuple(session_script)
        self.speech_seconds = speech_seconds or espeak_speech_seconds
        self._rng = random.Random(seed)
        self.stt_sessions: list[SttSessionRecord] = []
        self.tts_requests: list[TtsRequestRecord] = []
        self._stt_faults: deque[SttFault] = deque()
        self._tts_faults: deque[TtsFault] = deque()

    def say_next(self, *texts: str) -> None:
        """Queue what the next commits will transcribe."""
        self.script.extend(texts)

    def inject_stt(self, *faults: SttFault) -> None:
        """Make the next STT sessions fail, one fault per session."""
        self._stt_faults.extend(faults)

    def inject_tts(self, *faults: TtsFault) -> None:
        """Make the next TTS requests fail, one fault per request."""
        self._tts_faults.extend(faults)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/v1/speech-to-text/realtime", self._stt)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self._tts)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("xi-api-key") == self.api_key

    # --- text to speech ------------------------------------------------------------------------

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _detail(401, "invalid_api_key", "Invalid API key")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _detail(400, "invalid_json", "Body is not valid JSON")
        voice_id = request.match_info["voice_id"]
        self.tts_requests.append(TtsRequestRecord(voice_id, dict(request.query), dict(request.headers), body))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return web.json_response(
                {
                    "detail": [
                        {"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}
                    ]
                },
                status=422,
            )
        if request.query.get("output_format", "mp3_44100_128") != "ulaw_8000":
            return _detail(422, "unsupported_format", "this fake serves output_format=ulaw_8000 only")
        fault = self._tts_faults.popleft() if self._tts_faults else None
        if fault == "http_500":
            return _detail(500, "internal_error", "Internal server error")
        if fault == "http_429":
            return _detail(429, "too_many_concurrent_requests", "Too many concurrent requests")
        audio = voiced_tone(max(_TTS_MIN_MS, _TTS_MS_PER_CHAR * len(text)))
        response = web.StreamResponse(headers={"Content-Type": "audio/basic"})
        response.enable_chunked_encoding()
        await asyncio.sleep(self.tts_first_byte_ms / 1000)
        await response.prepare(request)
        if fault == "stall":
            await asyncio.sleep(3600)
        step = SAMPLE_RATE * self.tts_chunk_ms // 1000
        try:
            for offset in range(0, len(audio), step):
                if fault == "drop_mid_stream" and offset >= len(audio) // 2:
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                await response.write(audio[offset : offset + step])
                if self.tts_speed > 0:
                    await asyncio.sleep(self.tts_chunk_ms / 1000 / self.tts_speed)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading (a barge-in does exactly this)
        return response

    # --- realtime speech to text ---------------------------------------------------------------

    async def _stt(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request) and not request.query.get("token"):
            return _detail(401, "invalid_api_key", "Invalid API key")
        query = dict(request.query)
        problem = _stt_query_problem(query)
        if problem:
            return _detail(400, "invalid_request", problem)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        record = SttSessionRecord(query, dict(request.headers))
        self.stt_sessions.append(record)
        fault = self._stt_faults.popleft() if self._stt_faults else None
        if fault in ("auth_error", "quota_exceeded"):
            await ws.send_json({"message_type": fault, "error": f"fake {fault}"})
            await ws.close(code=1008, message=fault.encode())
            return ws
        await ws.send_json(
            {
                "message_type": "session_started",
                "session_id": uuid.uuid4().hex,
                "config": {
                    "sample_rate": 8000 if query["audio_format"].endswith("8000") else 16000,
                    "audio_format": query["audio_format"],
                    "language_code": query.get("language_code"),
                    "model_id": query["model_id"],
                    "commit_strategy": query.get("commit_strategy", "manual"),
                },
            }
        )
        if fault == "drop_after_start":
            if request.transport is not None:
                request.transport.abort()
            return ws
        if self.recognition is not None:
            await self._trailing_stt_loop(ws, record, self.recognition)
        else:
            await self._stt_loop(ws, record)
        return ws

    async def _stt_loop(self, ws: web.WebSocketResponse, record: SttSessionRecord) -> None:
        partial_bytes = int(SAMPLE_RATE * self.stt_partial_every_ms / 1000)
        segment = 0
        since_partial = 0
        partials = 0
        pending: list[asyncio.Task[None]] = []
        commit_lock = asyncio.Lock()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
                chunk = base64.b64decode(data.get("audio_base_64") or "", validate=True)
            except (json.JSONDecodeError, ValueError, binascii.Error, AttributeError):
                await ws.send_json({"message_type": "input_error", "error": "malformed input_audio_chunk"})
                continue
            record.messages.append(data)
            if data.get("message_type") != "input_audio_chunk":
                await ws.send_json({"message_type": "input_error", "error": "unknown message_type"})
                continue
            record.audio.extend(chunk)
            segment += len(chunk)
            since_partial += len(chunk)
            if partial_bytes > 0 and since_partial >= partial_bytes and self._upcoming():
                since_partial = 0
                partials += 1
                await ws.send_json({"message_type": "partial_transcript", "text": self._partial(partials)})
            if data.get("commit"):
                record.commits += 1
                text = self._take() if segment else ""
                segment = since_partial = partials = 0
                pending.append(asyncio.create_task(self._commit_later(ws, text, commit_lock)))
        for task in pending:
            task.cancel()

    async def _trailing_stt_loop(
        self, ws: web.WebSocketResponse, record: SttSessionRecord, timing: ProviderTiming
    ) -> None:
        """The realistic mode: partials trail the audio, commits finalise what was said so far."""
        lines = self.session_script or (self.default_transcript,)
        line_index = 0
        heard = 0  # bytes of audio received: the session's clock, in audio time
        carry = b""  # audio not yet a whole 20 ms frame
        line: TrailingTranscript | None = None
        next_partial = timing.partial_every_ms / 1000
        last_partial = ""
        pending: list[asyncio.Task[None]] = []
        commit_lock = asyncio.Lock()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
                chunk = base64.b64decode(data.get("audio_base_64") or "", validate=True)
            except (json.JSONDecodeError, ValueError, binascii.Error, AttributeError):
                await ws.send_json({"message_type": "input_error", "error": "malformed input_audio_chunk"})
                continue
            record.messages.append(data)
            if data.get("message_type") != "input_audio_chunk":
                await ws.send_json({"message_type": "input_error", "error": "unknown message_type"})
                continue
            record.audio.extend(chunk)
            carry += chunk
            while len(carry) >= _FRAME:
                frame, carry = carry[:_FRAME], carry[_FRAME:]
                if (line is None or line.done) and _frame_voiced(frame):
                    text = lines[line_index % len(lines)]
                    line_index += 1
                    line = TrailingTranscript(
                        text, word_end_times(text, self.speech_seconds(text)), heard / SAMPLE_RATE
                    )
                heard += _FRAME
            now = heard / SAMPLE_RATE
            while now >= next_partial:
                next_partial += timing.partial_every_ms / 1000
                partial = line.partial(now, timing.partial_lag_s(self._rng)) if line else ""
                if partial and partial != last_partial:
                    last_partial = partial
                    await ws.send_json({"message_type": "partial_transcript", "text": partial})
            if data.get("commit"):
                record.commits += 1
                final = line.commit(now) if line is not None else ""
                last_partial = ""
                pending.append(asyncio.create_task(self._commit_later(ws, final, commit_lock)))
        for task in pending:
            task.cancel()

    async def _commit_later(self, ws: web.WebSocketResponse, text: str, lock: asyncio.Lock) -> None:
        # The lock keeps committed transcripts in commit order, as the real service delivers them.
        async with lock:
            await asyncio.sleep(self.stt_commit_ms / 1000)
            if not ws.closed:
                await ws.send_json({"message_type": "committed_transcript", "text": text})

    def _upcoming(self) -> str:
        return self.script[0] if self.script else self.default_transcript

    def _take(self) -> str:
        return self.script.popleft() if self.script else self.default_transcript

    def _partial(self, count: int) -> str:
        words = self._upcoming().split()
        return " ".join(words[: min(len(words), count * 2)])


def _stt_query_problem(query: dict[str, str]) -> str | None:
    if not query.get("model_id"):
        return "model_id is required"
    if query.get("audio_format") not in _STT_AUDIO_FORMATS:
        return f"audio_format must be one of {sorted(_STT_AUDIO_FORMATS)}"
    if query.get("commit_strategy", "manual") not in _STT_COMMIT_STRATEGIES:
        return "commit_strategy must be manual or vad"
    return None


def _detail(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"detail": {"status": code, "message": message}}, status=status)
