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
Both check the `xi-api-key` header, and faults can be scheduled per session, per commit and per
TTS request ("ok" lets one through), from a test or from the command line of the local stack.

Strict where the real service is strict (sources in docs/providers.md):
- a bad STT query (unknown model, a region-tagged `language_code` such as `en-US`, a wrong
  `audio_format`) is accepted as a WebSocket and *then* answered with `invalid_request` and a
  close, as the Scribe contract says; every error is sent before the close, and the close is a
  normal one (1000), which a client must not mistake for the end of the call;
- commit faults model what the service does mid-call: `commit_throttled` (the commit is dropped,
  the segment stays open), a normal or going-away close with no transcript, an error followed by
  a close (`insufficient_audio_activity`, `session_time_limit_exceeded`, `transcriber_error`);
- manual mode auto-commits a segment after `stt_auto_commit_s` of audio (90 s, documented), and a
  session can be given a length cap and an idle cap;
- TTS refuses unknown models, voice ids that cannot exist (`"default"`), language codes that are
  not ISO 639-1, and more than `tts_concurrency` requests at once (429).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import math
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from aiohttp import WSMsgType, web

from local.fake_providers.recognition import ProviderTiming, TrailingTranscript, word_end_times
from local.fake_providers.server import FakeServer
from stream_server.audio.codec import SAMPLE_RATE, pcm16_to_ulaw, ulaw_to_pcm16

__all__ = [
    "STT_COMMIT_FAULTS",
    "STT_SESSION_FAULTS",
    "TTS_FAULTS",
    "FakeElevenLabs",
    "SttCommitFault",
    "SttFault",
    "SttSessionRecord",
    "TtsFault",
    "TtsRequestRecord",
    "espeak_speech_seconds",
    "voiced_tone",
]

SttFault = Literal["ok", "auth_error", "quota_exceeded", "invalid_request", "drop_after_start"]
SttCommitFault = Literal[
    "ok",
    "commit_throttled",
    "normal_close",
    "going_away",
    "transcript_then_close",
    "insufficient_audio_activity",
    "session_time_limit_exceeded",
    "transcriber_error",
    "warning",
    "drop",
]
TtsFault = Literal["ok", "http_500", "http_429", "drop_mid_stream", "stall"]
# The same names as plain tuples, for validating what a test or the fault switch asks for.
STT_SESSION_FAULTS: tuple[str, ...] = get_args(SttFault)
STT_COMMIT_FAULTS: tuple[str, ...] = get_args(SttCommitFault)
TTS_FAULTS: tuple[str, ...] = get_args(TtsFault)

STT_MODELS = frozenset({"scribe_v2_realtime", "scribe_v3_live"})
TTS_MODELS = frozenset(
    {
        "eleven_flash_v2_5",
        "eleven_flash_v2",
        "eleven_turbo_v2_5",
        "eleven_turbo_v2",
        "eleven_multilingual_v2",
        "eleven_v3",
    }
)
_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
_ISO_639_1 = re.compile(r"^[a-z]{2}$")
_ISO_639 = re.compile(r"^[a-z]{2,3}$")
_CLOSE_NORMAL = 1000
_CLOSE_GOING_AWAY = 1001

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
_STT_MAX_CHUNK_BYTES = 32_000  # 4 s of mu-law; the real limit is undocumented
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
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None


@dataclass(frozen=True)
class TtsRequestRecord:
    """One TTS request as received."""

    voice_id: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@functools.lru_cache(maxsize=512)
def voiced_tone(duration_ms: int, *, pitch_hz: float = 140.0, syllables_per_second: float = 4.0) -> bytes:
    """Mu-law audio that looks like speech to a VAD: harmonics of a pitch under a syllable envelope.

    Cached: a 3.5 s tone costs ~5 ms of numpy, and the TTS route renders one per request on the fake's
    event loop; 100 replies starting together would hold that loop for half a second and make every
    stream's next chunk late (audio gaps the host did not cause). Durations repeat, so the cache stays small.
    """
    count = SAMPLE_RATE * max(duration_ms, 0) // 1000
    t = np.arange(count, dtype=np.float64) / SAMPLE_RATE
    voice = sum(np.sin(2 * math.pi * pitch_hz * k * t) / k for k in range(1, 6))
    envelope = 0.55 + 0.45 * np.sin(2 * math.pi * syllables_per_second * t) ** 2
    return pcm16_to_ulaw((voice * envelope * 6000).astype(np.int16))


def _frame_voiced(audio: bytes, audio_format: str = "ulaw_8000") -> bool:
    """Is this frame speech? (`audio_format` as in the STT query: mu-law, or little-endian PCM16.)"""
    if audio_format == "ulaw_8000":
        pcm = ulaw_to_pcm16(audio).astype(np.float64)
    else:
        pcm = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2").astype(np.float64)
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
        stt_auto_commit_s: float = 90.0,
        stt_session_limit_s: float | None = None,
        stt_idle_close_s: float | None = None,
        tts_concurrency: int | None = None,
        tts_voices: frozenset[str] | None = None,
        stt_final_transcripts: bool = False,
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
        stt_auto_commit_s: manual mode commits a segment by itself after this much audio.
        stt_session_limit_s: `session_time_limit_exceeded` then a close once a session is this old.
        stt_idle_close_s: a normal close after this long without any client message.
        tts_concurrency: requests in flight at once before 429 `too_many_concurrent_requests`.
        tts_voices: the voice ids that exist; None = any id shaped like an ElevenLabs one.
        stt_final_transcripts: send `final_transcript` (speech settled, not yet committed) before
            each committed transcript, as newer Scribe versions do.
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
        self.stt_auto_commit_s = stt_auto_commit_s
        self.stt_session_limit_s = stt_session_limit_s
        self.stt_idle_close_s = stt_idle_close_s
        self.tts_concurrency = tts_concurrency
        self.tts_voices = tts_voices
        self.stt_final_transcripts = stt_final_transcripts
        self.recognition = recognition
        self.session_script = tuple(session_script)
        self.speech_seconds = speech_seconds or espeak_speech_seconds
        self._rng = random.Random(seed)
        self.stt_sessions: list[SttSessionRecord] = []
        self.tts_requests: list[TtsRequestRecord] = []
        self.single_use_tokens: set[str] = set()
        self._stt_faults: deque[SttFault] = deque()
        self._stt_commit_faults: deque[SttCommitFault] = deque()
        self._tts_faults: deque[TtsFault] = deque()
        self._tts_in_flight = 0

    def say_next(self, *texts: str) -> None:
        """Queue what the next commits will transcribe."""
        self.script.extend(texts)

    def inject_stt(self, *faults: SttFault) -> None:
        """Schedule how the next STT sessions open, one entry per session ("ok" = normally)."""
        self._stt_faults.extend(faults)

    def inject_stt_commit(self, *faults: SttCommitFault) -> None:
        """Schedule what the next commits (counted over all sessions) meet ("ok" = a transcript)."""
        self._stt_commit_faults.extend(faults)

    def inject_tts(self, *faults: TtsFault) -> None:
        """Schedule the next TTS requests' fates, one entry per request ("ok" = no fault)."""
        self._tts_faults.extend(faults)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/v1/speech-to-text/realtime", self._stt)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self._tts)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("xi-api-key") == self.api_key

    def _token_accepted(self, request: web.Request) -> bool:
        token = request.query.get("token")
        if token and token in self.single_use_tokens:
            self.single_use_tokens.discard(token)
            return True
        return False

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
        if not self._voice_exists(voice_id):
            return _detail(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
        model_id = body.get("model_id", "eleven_multilingual_v2")
        if model_id not in TTS_MODELS:
            return _detail(400, "model_not_found", f"A model with model ID {model_id} does not exist")
        language = body.get("language_code")
        if language is not None and not _ISO_639_1.match(str(language)):
            return _detail(
                422, "invalid_language_code", f"language_code {language!r} is not an ISO 639-1 code"
            )
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
        scheduled = self._tts_faults.popleft() if self._tts_faults else None
        fault = None if scheduled == "ok" else scheduled
        if self.tts_concurrency is not None and self._tts_in_flight >= self.tts_concurrency:
            fault = "http_429"
        if fault == "http_500":
            return _detail(500, "internal_error", "Internal server error")
        if fault == "http_429":
            return _detail(429, "too_many_concurrent_requests", "Too many concurrent requests")
        self._tts_in_flight += 1
        self.milestone("tts_request")
        try:
            return await self._tts_stream(request, text, fault)
        finally:
            self._tts_in_flight -= 1

    def _voice_exists(self, voice_id: str) -> bool:
        if self.tts_voices is not None:
            return voice_id in self.tts_voices
        return bool(_VOICE_ID.match(voice_id))

    async def _tts_stream(
        self, request: web.Request, text: str, fault: TtsFault | None
    ) -> web.StreamResponse:
        audio = voiced_tone(max(_TTS_MIN_MS, _TTS_MS_PER_CHAR * len(text)))
        response = web.StreamResponse(headers={"Content-Type": "audio/basic"})
        response.enable_chunked_encoding()
        await asyncio.sleep(self.tts_first_byte_ms / 1000)
        await response.prepare(request)
        if fault == "stall":
            await asyncio.sleep(3600)
        step = SAMPLE_RATE * self.tts_chunk_ms // 1000
        chunks = [audio[offset : offset + step] for offset in range(0, len(audio), step)]
        # drop_mid_stream: the connection is cut at the first chunk from the middle of the audio on.
        drop_at = -(-(len(audio) // 2) // step) if fault == "drop_mid_stream" else None
        return await self.write_paced(request, response, chunks, drop_at=drop_at)

    async def write_paced(
        self,
        request: web.Request,
        response: web.StreamResponse,
        chunks: Sequence[bytes],
        *,
        drop_at: int | None = None,
    ) -> web.StreamResponse:
        """Stream ``chunks`` of a prepared TTS response at the fake's pace, one per
        ``tts_chunk_ms / tts_speed``, noting the first audio; at chunk ``drop_at`` the connection is
        aborted instead. A client that stops reading (a barge-in) just ends the stream."""
        try:
            for index, chunk in enumerate(chunks):
                if index == drop_at:
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                await response.write(chunk)
                if index == 0:
                    self.milestone("tts_first_audio")
                if self.tts_speed > 0:
                    await asyncio.sleep(self.tts_chunk_ms / 1000 / self.tts_speed)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading (a barge-in does exactly this)
        return response

    # --- realtime speech to text ---------------------------------------------------------------

    async def _stt(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request) and not self._token_accepted(request):
            return _detail(401, "invalid_api_key", "Invalid API key")
        query = dict(request.query)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        record = SttSessionRecord(query, dict(request.headers))
        self.stt_sessions.append(record)
        scheduled = self._stt_faults.popleft() if self._stt_faults else None
        fault = None if scheduled == "ok" else scheduled
        # The real service accepts the socket first, then says what is wrong, then closes.
        problem = _stt_query_problem(query)
        if problem is not None or fault == "invalid_request":
            await self._error_and_close(ws, record, "invalid_request", problem or "fake invalid_request")
            return ws
        if fault in ("auth_error", "quota_exceeded"):
            await self._error_and_close(ws, record, str(fault), f"fake {fault}")
            return ws
        await self._send(
            ws,
            record,
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
            },
        )
        if fault == "drop_after_start":
            if request.transport is not None:
                request.transport.abort()
            return ws
        await _SttSession(self, ws, record, request).run()
        record.close_code = ws.close_code
        return ws

    async def _send(
        self, ws: web.WebSocketResponse, record: SttSessionRecord, message: dict[str, Any]
    ) -> None:
        if not ws.closed:
            record.sent.append(message)
            await ws.send_json(message)

    async def _error_and_close(
        self,
        ws: web.WebSocketResponse,
        record: SttSessionRecord,
        kind: str,
        detail: str,
        code: int = _CLOSE_NORMAL,
    ) -> None:
        await self._send(ws, record, {"message_type": kind, "error": detail})
        await ws.close(code=code, message=kind.encode()[:120])
        record.close_code = code

    def _upcoming(self) -> str:
        return self.script[0] if self.script else self.default_transcript

    def _take(self) -> str:
        return self.script.popleft() if self.script else self.default_transcript

    def _partial(self, count: int) -> str:
        words = self._upcoming().split()
        return " ".join(words[: min(len(words), count * 2)])

    def _next_commit_fault(self) -> SttCommitFault | None:
        scheduled = self._stt_commit_faults.popleft() if self._stt_commit_faults else None
        return None if scheduled == "ok" else scheduled


class _SttSession:
    """One accepted realtime session: audio in, partials and commits out, faults as scheduled."""

    def __init__(
        self, fake: FakeElevenLabs, ws: web.WebSocketResponse, record: SttSessionRecord, request: web.Request
    ) -> None:
        self.fake = fake
        self.ws = ws
        self.record = record
        self.request = request
        self.segment = 0  # bytes of audio since the last commit
        self.since_partial = 0
        self.partials = 0
        self.lock = asyncio.Lock()  # committed transcripts leave in commit order
        self.pending: list[asyncio.Task[None]] = []
        self.opened = self.last_message = time.monotonic()
        # The realistic (trailing) mode's state: the session's clock is the audio it has heard.
        self.heard = 0
        self.carry = b""  # audio not yet a whole 20 ms frame
        self.line: TrailingTranscript | None = None
        self.line_index = 0
        self.next_partial = fake.recognition.partial_every_ms / 1000 if fake.recognition else 0.0
        self.last_partial = ""
        # mu-law is one byte a sample at 8 kHz; pcm_<rate> (Pipecat sends pcm_8000) two bytes at <rate>.
        self.audio_format = record.query.get("audio_format", "ulaw_8000")
        rate = 8000 if self.audio_format == "ulaw_8000" else int(self.audio_format.removeprefix("pcm_"))
        self.bytes_per_second = rate * (1 if self.audio_format == "ulaw_8000" else 2)
        self.frame_bytes = self.bytes_per_second // 50  # 20 ms

    async def run(self) -> None:
        try:
            while not self.ws.closed:
                timeout = self._next_deadline()
                try:
                    message = await self.ws.receive(timeout=timeout)
                except TimeoutError:
                    if await self._limits_reached():
                        return
                    idle = self.fake.stt_idle_close_s
                    if idle is not None and time.monotonic() - self.last_message >= idle:
                        await self.ws.close(code=_CLOSE_NORMAL, message=b"idle timeout")
                        self.record.close_code = _CLOSE_NORMAL
                        return
                    continue
                self.last_message = time.monotonic()
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return
                if message.type != WSMsgType.TEXT:
                    continue
                if await self._limits_reached():
                    return
                if not await self._on_message(message.data):
                    return
        finally:
            for task in self.pending:
                if not task.done():
                    task.cancel()

    def _next_deadline(self) -> float | None:
        waits = []
        if self.fake.stt_idle_close_s is not None:
            waits.append(self.fake.stt_idle_close_s)
        if self.fake.stt_session_limit_s is not None:
            waits.append(max(0.01, self.fake.stt_session_limit_s - (time.monotonic() - self.opened)))
        return min(waits) if waits else None

    async def _limits_reached(self) -> bool:
        fake = self.fake
        if (
            fake.stt_session_limit_s is not None
            and time.monotonic() - self.opened >= fake.stt_session_limit_s
        ):
            await fake._error_and_close(
                self.ws, self.record, "session_time_limit_exceeded", "Maximum session duration reached"
            )
            return True
        return False

    async def _on_message(self, raw: str) -> bool:
        """Handle one client message; False once the session is over."""
        fake, ws, record = self.fake, self.ws, self.record
        try:
            data = json.loads(raw)
            chunk = base64.b64decode(data.get("audio_base_64") or "", validate=True)
        except (json.JSONDecodeError, ValueError, binascii.Error, AttributeError):
            await fake._send(
                ws, record, {"message_type": "input_error", "error": "malformed input_audio_chunk"}
            )
            return True
        record.messages.append(data)
        if data.get("message_type") != "input_audio_chunk":
            await fake._send(ws, record, {"message_type": "input_error", "error": "unknown message_type"})
            return True
        if data.get("sample_rate") != 8000 and record.query.get("audio_format") == "ulaw_8000":
            await fake._send(ws, record, {"message_type": "input_error", "error": "sample_rate must be 8000"})
            return True
        if not isinstance(data.get("commit", False), bool):
            await fake._send(ws, record, {"message_type": "input_error", "error": "commit must be a boolean"})
            return True
        if len(chunk) > _STT_MAX_CHUNK_BYTES:
            await fake._error_and_close(ws, record, "chunk_size_exceeded", "audio chunk too large")
            return False
        record.audio.extend(chunk)
        self.segment += len(chunk)
        if fake.recognition is not None:
            await self._trail(chunk, fake.recognition)
            if data.get("commit"):
                record.commits += 1
                return await self._commit()
            return True
        self.since_partial += len(chunk)
        partial_bytes = int(SAMPLE_RATE * fake.stt_partial_every_ms / 1000)
        if partial_bytes > 0 and self.since_partial >= partial_bytes and fake._upcoming():
            self.since_partial = 0
            self.partials += 1
            await fake._send(
                ws, record, {"message_type": "partial_transcript", "text": fake._partial(self.partials)}
            )
        if data.get("commit"):
            record.commits += 1
            return await self._commit()
        if self.segment >= SAMPLE_RATE * fake.stt_auto_commit_s:
            # Manual mode still commits by itself after 90 s of audio (documented).
            self._commit_text(fake._take())
        return True

    async def _commit(self) -> bool:
        fake, ws, record = self.fake, self.ws, self.record
        fault = fake._next_commit_fault()
        if fault == "commit_throttled":
            # Refused: nothing is committed, the segment stays open for the next commit.
            await fake._send(
                ws, record, {"message_type": "commit_throttled", "error": "Commits sent too frequently"}
            )
            return True
        if fault in ("normal_close", "going_away"):
            await ws.close(code=_CLOSE_NORMAL if fault == "normal_close" else _CLOSE_GOING_AWAY)
            record.close_code = ws.close_code
            return False
        if fault == "drop":
            if self.request.transport is not None:
                self.request.transport.abort()
            return False
        if fault == "warning":
            await fake._send(ws, record, {"message_type": "warning", "warning": "fake warning"})
        if fault in ("insufficient_audio_activity", "session_time_limit_exceeded", "transcriber_error"):
            await fake._error_and_close(ws, record, fault, f"fake {fault}")
            return False
        fake.milestone("stt_commit")
        if fake.recognition is not None:
            text = self.line.commit(self.heard / self.bytes_per_second) if self.line is not None else ""
            self.last_partial = ""
        else:
            text = fake._take() if self.segment else ""
        task = self._commit_text(text)
        if fault == "transcript_then_close":
            await task
            await ws.close(code=_CLOSE_NORMAL)
            record.close_code = ws.close_code
            return False
        return True

    async def _trail(self, chunk: bytes, timing: ProviderTiming) -> None:
        """The realistic mode: a line starts at voiced audio, partials trail it by a random lag."""
        fake = self.fake
        lines = fake.session_script or (fake.default_transcript,)
        self.carry += chunk
        while len(self.carry) >= self.frame_bytes:
            frame, self.carry = self.carry[: self.frame_bytes], self.carry[self.frame_bytes :]
            if (self.line is None or self.line.done) and _frame_voiced(frame, self.audio_format):
                text = lines[self.line_index % len(lines)]
                self.line_index += 1
                self.line = TrailingTranscript(
                    text, word_end_times(text, fake.speech_seconds(text)), self.heard / self.bytes_per_second
                )
            self.heard += self.frame_bytes
        now = self.heard / self.bytes_per_second
        while now >= self.next_partial:
            self.next_partial += timing.partial_every_ms / 1000
            partial = self.line.partial(now, timing.partial_lag_s(fake._rng)) if self.line else ""
            if partial and partial != self.last_partial:
                self.last_partial = partial
                await fake._send(
                    self.ws, self.record, {"message_type": "partial_transcript", "text": partial}
                )

    def _commit_text(self, text: str) -> asyncio.Task[None]:
        self.segment = self.since_partial = self.partials = 0
        task = asyncio.create_task(self._commit_later(text))
        self.pending.append(task)
        return task

    async def _commit_later(self, text: str) -> None:
        async with self.lock:
            if self.fake.stt_final_transcripts:
                await self.fake._send(
                    self.ws, self.record, {"message_type": "final_transcript", "text": text}
                )
            await asyncio.sleep(self.fake.stt_commit_ms / 1000)
            await self.fake._send(
                self.ws, self.record, {"message_type": "committed_transcript", "text": text}
            )
            self.fake.milestone("stt_final")


def _stt_query_problem(query: dict[str, str]) -> str | None:
    model = query.get("model_id")
    if not model:
        return "model_id is required"
    if model not in STT_MODELS:
        return f"model_id {model!r} is not a realtime model"
    if query.get("audio_format") not in _STT_AUDIO_FORMATS:
        return f"audio_format must be one of {sorted(_STT_AUDIO_FORMATS)}"
    if query.get("commit_strategy", "manual") not in _STT_COMMIT_STRATEGIES:
        return "commit_strategy must be manual or vad"
    language = query.get("language_code")
    if language is not None and not _ISO_639.match(language):
        return f"language_code {language!r} must be an ISO-639-1 or ISO-639-3 code"
    return None


def _detail(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"detail": {"status": code, "message": message}}, status=status)
