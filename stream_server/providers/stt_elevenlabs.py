"""ElevenLabs Scribe realtime as `SpeechToText`, over a WebSocket we drive ourselves.

Twilio's mu-law is sent as is (`audio_format=ulaw_8000`), and the commit strategy is `manual`:
our local VAD decides when the caller's turn is over and calls `commit()`, so one turn gives one
committed transcript. The SDK's realtime client is not used: it dispatches events to synchronous
callbacks (an `async def` handler is never awaited), prints and swallows handler exceptions, and
reports a dead socket only as another callback. Reading the socket ourselves into a queue makes
every failure an exception the pipeline sees (`ProviderError`), in order with the transcripts.
The wire format is the one the SDK 2.78 sends and parses (verified in its source, docs/providers.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from stream_server.providers.base import ProviderError, SttSession, Transcript
from stream_server.providers.transcript_feed import TranscriptFeed

__all__ = ["ElevenLabsSpeechToText", "SttFailure", "parse_scribe_message", "realtime_url"]

_NAME = "elevenlabs-stt"
_log = logging.getLogger(__name__)

# An empty commit ends the turn with no words; the session goes on.
_EMPTY_TURN = {"insufficient_audio_activity"}
_FATAL = {
    "error",
    "auth_error",
    "quota_exceeded",
    "transcriber_error",
    "unaccepted_terms",
    "rate_limited",
    "input_error",
    "invalid_request",
    "queue_overflow",
    "resource_exhausted",
    "session_time_limit_exceeded",
    "chunk_size_exceeded",
}


@dataclass(frozen=True, slots=True)
class SttFailure:
    """A server message that ends the session (auth, quota, protocol errors)."""

    kind: str
    detail: str


def realtime_url(base_url: str, *, model_id: str, language: str) -> str:
    """The Scribe realtime URL under `base_url` (https→wss, http→ws), as the SDK builds it."""
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    query = urlencode(
        [
            ("model_id", model_id),
            ("audio_format", "ulaw_8000"),
            ("commit_strategy", "manual"),
            ("language_code", language),
            ("include_timestamps", "false"),
        ]
    )
    path = parts.path.rstrip("/") + "/v1/speech-to-text/realtime"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def parse_scribe_message(raw: str | bytes) -> Transcript | SttFailure | None:
    """Turn one server message into a transcript, a failure, or nothing worth surfacing."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return SttFailure("protocol", "server sent a frame that is not JSON")
    if not isinstance(data, dict):
        return SttFailure("protocol", "server sent JSON that is not an object")
    kind = data.get("message_type")
    if kind == "partial_transcript":
        return Transcript(str(data.get("text") or ""), final=False)
    if kind == "committed_transcript":
        return Transcript(str(data.get("text") or ""), final=True)
    if kind in _EMPTY_TURN:
        return Transcript("", final=True)
    if kind in _FATAL:
        return SttFailure(str(kind), str(data.get("error") or data.get("message") or kind))
    # session_started, commit_throttled, timestamp/entity variants and future additions.
    return None


def _chunk_message(ulaw: bytes, *, commit: bool) -> str:
    return json.dumps(
        {
            "message_type": "input_audio_chunk",
            "audio_base_64": base64.b64encode(ulaw).decode("ascii"),
            "commit": commit,
            "sample_rate": 8000,
        }
    )


class _ScribeSession:
    """One open Scribe socket: a reader task feeds a queue that `transcripts()` drains.

    Caller audio arrives in 20 ms frames; each becomes a JSON message with base64 audio, which is
    most of a call's CPU if sent one by one. Frames are therefore sent ``batch_bytes`` at a time,
    and whatever is pending rides on the commit message itself, so the final transcript is never
    later for it; only partials can be up to one batch later.
    """

    def __init__(self, ws: ClientConnection, *, batch_bytes: int = 800) -> None:
        self._ws = ws
        self._batch_bytes = batch_bytes
        self._pending = bytearray()
        self._feed = TranscriptFeed()
        self._failure: ProviderError | None = None
        self._reader = asyncio.create_task(self._read(), name="scribe-reader")

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                event = parse_scribe_message(raw)
                if isinstance(event, Transcript):
                    self._feed.put(event)
                elif isinstance(event, SttFailure):
                    self._fail(f"{event.kind}: {event.detail}")
                    return
        except ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code != 1000:
                self._fail(f"socket closed ({exc})")
                return
        self._feed.close()

    def _fail(self, reason: str) -> None:
        _log.warning("scribe session failed: %s", reason)
        self._failure = ProviderError(_NAME, reason)
        self._feed.fail(self._failure)

    async def send_audio(self, ulaw: bytes) -> None:
        if self._failure is not None:  # fail fast, even while a batch is still filling
            raise self._failure
        self._pending.extend(ulaw)
        if len(self._pending) >= self._batch_bytes:
            audio = bytes(self._pending)
            self._pending.clear()
            await self._send(_chunk_message(audio, commit=False))

    async def commit(self) -> None:
        audio = bytes(self._pending)
        self._pending.clear()
        await self._send(_chunk_message(audio, commit=True))

    async def _send(self, message: str) -> None:
        if self._failure is not None:
            raise self._failure
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise ProviderError(_NAME, f"socket closed ({exc})") from exc

    async def transcripts(self) -> AsyncIterator[Transcript]:
        async for transcript in self._feed:
            yield transcript

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self._ws.close()


class ElevenLabsSpeechToText:
    """Opens one Scribe realtime session per call."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model_id: str = "scribe_v2_realtime",
        open_timeout_seconds: float = 10.0,
        batch_ms: int = 100,
    ) -> None:
        if not 20 <= batch_ms <= 1000:
            raise ValueError("batch_ms must be within 20-1000")
        self._batch_bytes = batch_ms * 8  # mu-law at 8 kHz: 8 bytes per millisecond
        self._api_key = api_key
        self._base_url = base_url
        self._model_id = model_id
        self._open_timeout = open_timeout_seconds

    @asynccontextmanager
    async def session(self, *, language: str) -> AsyncIterator[SttSession]:
        url = realtime_url(self._base_url, model_id=self._model_id, language=language)
        try:
            ws = await connect(
                url,
                additional_headers={"xi-api-key": self._api_key},
                open_timeout=self._open_timeout,
                max_size=2**20,
            )
        except InvalidStatus as exc:
            raise ProviderError(_NAME, f"handshake refused: HTTP {exc.response.status_code}") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise ProviderError(_NAME, f"cannot connect: {type(exc).__name__}") from exc
        scribe = _ScribeSession(ws, batch_bytes=self._batch_bytes)
        try:
            yield scribe
        finally:
            await scribe.close()
