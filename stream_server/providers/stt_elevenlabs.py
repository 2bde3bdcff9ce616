"""ElevenLabs Scribe realtime as `SpeechToText`, over a WebSocket we drive ourselves.

Twilio's mu-law is sent as is (`audio_format=ulaw_8000`), and the commit strategy is `manual`:
our local VAD decides when the caller's turn is over and calls `commit()`, so one turn gives one
committed transcript. The SDK's realtime client is not used: it dispatches events to synchronous
callbacks (an `async def` handler is never awaited), prints and swallows handler exceptions, and
reports a dead socket only as another callback. Reading the socket ourselves into a queue makes
every failure an exception the pipeline sees (`ProviderError`), in order with the transcripts.
The wire format is the one the SDK 2.78 sends and parses (verified in its source, docs/providers.md).

One `SttSession` outlives the sockets under it. Scribe sends an error *before* it closes a
session, and may also close with 1000/1001 and no error at all (a deploy, an idle or length cap);
any close we did not ask for reopens the socket and replays the audio the server had not
answered yet (the committed segments still waiting for their transcript, then the open segment),
so the caller's turn survives and the call brain never notices. Only errors no reconnect can fix
(auth, quota, terms, a request the server calls invalid) or too many reconnects in a row end the
session with `ProviderError`, after which the call says goodbye instead of going deaf.
Each `commit()` yields exactly one final transcript, even when the service does not deliver it:
`commit_throttled` re-sends the commit after a short back-off, and a final that has not arrived
`final_timeout_s` after the commit is given from the last partial. A committed transcript nobody
asked for (the 90 s auto-commit of manual mode) is not a turn: its words are carried into the next
final. The socket is also renewed between turns once it is `max_socket_s` old, before any
undocumented session cap can cut it mid-sentence.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from stream_server.providers.base import ProviderError, SttSession, Transcript
from stream_server.providers.languages import base_language
from stream_server.providers.transcript_feed import TranscriptFeed

__all__ = [
    "ElevenLabsSpeechToText",
    "ScribeTimings",
    "SttFailure",
    "is_unrecoverable",
    "parse_scribe_message",
    "realtime_url",
]

_NAME = "elevenlabs-stt"
_log = logging.getLogger(__name__)

# Errors a new socket cannot fix: the next one would be refused the same way.
_UNRECOVERABLE = {"auth_error", "quota_exceeded", "unaccepted_terms", "invalid_request"}
# Every error type of the Scribe contract (asyncapi `ScribeErrorPayload.message_type`).
_ERRORS = _UNRECOVERABLE | {
    "error",
    "commit_throttled",
    "transcriber_error",
    "rate_limited",
    "input_error",
    "queue_overflow",
    "resource_exhausted",
    "session_time_limit_exceeded",
    "chunk_size_exceeded",
    "insufficient_audio_activity",
}
_REPLAY_CHUNK_BYTES = 4000  # 0.5 s of mu-law per replayed message
_REPLAY_LIMIT_BYTES = 8000 * 30  # at most the last 30 s of one segment is replayed


@dataclass(frozen=True, slots=True)
class SttFailure:
    """An error message from the server (it usually closes the session right after)."""

    kind: str
    detail: str


def is_unrecoverable(failure: SttFailure) -> bool:
    """True for errors that a new socket would meet again (auth, quota, terms, bad request)."""
    return failure.kind in _UNRECOVERABLE or failure.kind == "protocol"


@dataclass(frozen=True, slots=True)
class ScribeTimings:
    """How long the session waits for the service, and how often it reconnects."""

    final_timeout_s: float = 3.0
    """A commit's final transcript is given from the last partial if it is this late."""
    throttle_backoff_s: tuple[float, ...] = (0.2, 0.4, 0.8)
    """Delays before re-sending a throttled commit; one retry per entry."""
    reconnect_backoff_s: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)
    """Delay before each reconnect in a row (no transcript, socket younger than `stable_after_s`);
    one more and the session gives up. About 4 s in all: a deploy's going-away close or a blip of
    refused sockets is ridden out (the turn is replayed), an outage ends the call politely."""
    stable_after_s: float = 10.0
    max_socket_s: float = 600.0
    """A socket this old is renewed between turns (Scribe documents no session cap)."""
    server_auto_commit_s: float = 90.0
    """Manual mode still commits a segment by itself after this much audio (documented: 90 s)."""


def realtime_url(base_url: str, *, model_id: str, language: str) -> str:
    """The Scribe realtime URL under `base_url` (https→wss, http→ws), as the SDK builds it."""
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    query = urlencode(
        [
            ("model_id", model_id),
            ("audio_format", "ulaw_8000"),
            ("commit_strategy", "manual"),
            ("language_code", base_language(language)),
            ("include_timestamps", "false"),
        ]
    )
    path = parts.path.rstrip("/") + "/v1/speech-to-text/realtime"
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def parse_scribe_message(raw: str | bytes) -> Transcript | SttFailure | None:
    """Turn one server message into a transcript, an error, or nothing worth surfacing."""
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
    if kind in _ERRORS:
        return SttFailure(str(kind), str(data.get("error") or data.get("message") or kind))
    # session_started, final_transcript, warning, timestamp/entity variants and future additions.
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


# A commit is an `input_audio_chunk` with `commit: true` and no audio, exactly as the SDK's
# `RealtimeConnection.commit()` sends it (so do Pipecat and LiveKit); the contract would also take
# audio on the same message, but no known client does that, so the turn's tail goes just before.
_COMMIT_MESSAGE = _chunk_message(b"", commit=True)


@dataclass
class _Commit:
    """A segment the server was asked to commit (or commits by itself), awaiting its transcript."""

    audio: bytearray
    solicited: bool = True  # False: the server's own auto-commit, whose words are carried over
    answered: bool = False  # given from the last partial; the late transcript is dropped
    throttles: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


OpenSocket = Callable[[], Awaitable[ClientConnection]]


class _ScribeSession:
    """The call's recognition session: sockets come and go under it, transcripts keep their order.

    Caller audio arrives in 20 ms frames; each becomes a JSON message with base64 audio, which is
    most of a call's CPU if sent one by one. Frames are therefore sent ``batch_bytes`` at a time,
    and whatever is pending goes out at once when the turn is committed (just before the commit),
    so the final transcript is never later for it; only partials can be up to one batch later.
    """

    def __init__(
        self, open_socket: OpenSocket, ws: ClientConnection, *, batch_bytes: int, timings: ScribeTimings
    ) -> None:
        self._open_socket = open_socket
        self._batch_bytes = batch_bytes
        self._timings = timings
        self._loop = asyncio.get_running_loop()
        self._batch = bytearray()  # caller audio not sent yet
        self._segment = bytearray()  # sent since the last commit (replayed after a reconnect)
        self._commits: deque[_Commit] = deque()
        self._carried = ""  # words of an unsolicited commit, owed to the next final
        self._last_partial = ""
        self._feed = TranscriptFeed()
        self._failure: ProviderError | None = None
        self._closing = False
        self._auto_commit_bytes = int(8000 * timings.server_auto_commit_s)
        self._lock = asyncio.Lock()  # one writer at a time: the caller's audio or a replay
        self._reconnects = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: ClientConnection | None = None
        self._attach(ws)

    # -- the socket under the session ---------------------------------------------------------

    def _attach(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._opened_at = self._loop.time()
        self._spawn(self._read(ws), "scribe-reader")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, ws: ClientConnection) -> None:
        failure: SttFailure | None = None
        try:
            async for raw in ws:
                event = parse_scribe_message(raw)
                if isinstance(event, Transcript):
                    self._reconnects = 0
                    self._on_transcript(event)
                elif isinstance(event, SttFailure):
                    failure = event
                    if is_unrecoverable(event):
                        self._fail(f"{event.kind}: {event.detail}")
                        return
                    self._on_error(event)
        except ConnectionClosed as exc:
            _log.info("scribe socket closed: %s", exc)
        if self._closing or ws is not self._ws or self._failure is not None:
            return
        reason = f"after {failure.kind}" if failure is not None else f"code {ws.close_code}"
        await self._reconnect(f"server closed the session ({reason})")

    async def _reconnect(self, reason: str) -> None:
        """Open a new socket and replay what the old one left unanswered; bounded, never silent."""
        _log.warning("scribe: %s; reconnecting", reason)
        if self._loop.time() - self._opened_at >= self._timings.stable_after_s:
            self._reconnects = 0
        self._ws = None
        while self._failure is None and not self._closing:
            backoff = self._timings.reconnect_backoff_s
            self._reconnects += 1
            if self._reconnects > len(backoff):
                self._fail(f"{reason}; {len(backoff)} reconnects failed")
                return
            await asyncio.sleep(backoff[self._reconnects - 1])
            try:
                ws = await self._open_socket()
            except ProviderError as error:
                _log.warning("scribe reconnect failed: %s", error)
                continue
            async with self._lock:
                if self._closing:
                    await ws.close()
                    return
                if await self._replay(ws):
                    self._attach(ws)
                    return
            await ws.close()

    async def _replay(self, ws: ClientConnection) -> bool:
        """Send the unanswered commits and the open segment again; False if the socket died."""
        try:
            for pending in self._commits:
                if pending.answered:
                    continue
                await self._send_audio_on(ws, bytes(pending.audio), commit=True)
                if pending.solicited:
                    self._arm(pending)
            await self._send_audio_on(ws, bytes(self._segment), commit=False)
        except ConnectionClosed:
            return False
        # Answered commits will get no transcript on this socket: forget them.
        self._commits = deque(c for c in self._commits if not c.answered)
        return True

    @staticmethod
    async def _send_audio_on(ws: ClientConnection, audio: bytes, *, commit: bool) -> None:
        audio = audio[-_REPLAY_LIMIT_BYTES:]
        for offset in range(0, len(audio), _REPLAY_CHUNK_BYTES):
            await ws.send(_chunk_message(audio[offset : offset + _REPLAY_CHUNK_BYTES], commit=False))
        if commit:
            await ws.send(_COMMIT_MESSAGE)

    def _fail(self, reason: str) -> None:
        if self._failure is not None:
            return
        _log.warning("scribe session failed: %s", reason)
        self._failure = ProviderError(_NAME, reason)
        for pending in self._commits:
            if pending.timer is not None:
                pending.timer.cancel()
        self._feed.fail(self._failure)

    # -- what the server says -----------------------------------------------------------------

    def _on_transcript(self, transcript: Transcript) -> None:
        if not transcript.final:
            self._last_partial = transcript.text
            self._feed.put(Transcript(_join(self._carried, transcript.text), final=False))
            return
        pending = self._commits.popleft() if self._commits else None
        if pending is None or not pending.solicited:
            # The server's own auto-commit (manual mode, 90 s of audio): not the end of a turn.
            self._carried = _join(self._carried, transcript.text)
            self._last_partial = ""
            if pending is None:
                self._segment.clear()
            return
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.answered:
            self._give_final(transcript.text)

    def _on_error(self, failure: SttFailure) -> None:
        _log.warning("scribe error %s: %s", failure.kind, failure.detail)
        if failure.kind == "commit_throttled":
            pending = next((c for c in reversed(self._commits) if c.solicited and not c.answered), None)
            backoff = self._timings.throttle_backoff_s
            if pending is not None and pending.throttles < len(backoff):
                delay = backoff[pending.throttles]
                pending.throttles += 1
                self._loop.call_later(delay, self._schedule_recommit)
        elif failure.kind == "insufficient_audio_activity":
            # The audio held no speech: replaying it would only draw the same error.
            for pending in self._commits:
                if pending.solicited:
                    self._answer_from_partial(pending)
                else:
                    pending.answered = True

    def _schedule_recommit(self) -> None:
        if not self._closing and self._failure is None:
            self._spawn(self._recommit(), "scribe-recommit")

    async def _recommit(self) -> None:
        async with self._lock:
            if self._ws is not None and any(not c.answered for c in self._commits):
                with contextlib.suppress(ConnectionClosed):
                    await self._ws.send(_COMMIT_MESSAGE)

    def _arm(self, pending: _Commit) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = self._loop.call_later(
            self._timings.final_timeout_s, self._answer_from_partial, pending
        )

    def _answer_from_partial(self, pending: _Commit) -> None:
        if pending.answered or self._failure is not None:
            return
        _log.warning("scribe final transcript is late; using the last partial")
        pending.answered = True
        pending.audio.clear()
        self._give_final(self._last_partial)

    def _give_final(self, text: str) -> None:
        self._feed.put(Transcript(_join(self._carried, text), final=True))
        self._carried = ""
        self._last_partial = ""

    # -- what the call does -------------------------------------------------------------------

    async def send_audio(self, ulaw: bytes) -> None:
        if self._failure is not None:  # fail fast, even while a batch is still filling
            raise self._failure
        self._batch.extend(ulaw)
        if len(self._batch) < self._batch_bytes:
            return
        async with self._lock:
            audio = bytes(self._batch)
            self._batch.clear()
            self._segment.extend(audio)
            await self._send(_chunk_message(audio, commit=False))
            if len(self._segment) >= self._auto_commit_bytes:
                # The server is about to commit this segment by itself: expect that transcript.
                self._commits.append(_Commit(audio=bytearray(self._segment), solicited=False))
                self._segment.clear()
        old = self._ws
        if (
            old is not None
            and not self._commits
            and self._loop.time() - self._opened_at >= self._timings.max_socket_s
        ):
            self._ws = None  # the old reader's end is now expected, not a failure
            self._spawn(self._renew(old), "scribe-renew")

    async def commit(self) -> None:
        if self._failure is not None:
            raise self._failure
        async with self._lock:
            audio = bytes(self._batch)
            self._batch.clear()
            self._segment.extend(audio)
            pending = _Commit(audio=bytearray(self._segment))
            self._segment.clear()
            self._commits.append(pending)
            self._arm(pending)
            if audio:
                await self._send(_chunk_message(audio, commit=False))
            await self._send(_COMMIT_MESSAGE)

    async def _send(self, message: str) -> None:
        """Send on the current socket; while reconnecting the audio waits in the replay buffer."""
        if self._ws is None:
            return
        with contextlib.suppress(ConnectionClosed):  # the reader sees the close and reconnects
            await self._ws.send(message)

    async def _renew(self, old: ClientConnection) -> None:
        """Replace an old socket between turns, before a session cap can cut a sentence."""
        await old.close()
        self._opened_at = self._loop.time()  # a planned renewal is not a failing socket
        await self._reconnect("the socket reached its planned age")

    async def transcripts(self) -> AsyncIterator[Transcript]:
        async for transcript in self._feed:
            yield transcript

    async def close(self) -> None:
        self._closing = True
        for pending in self._commits:
            if pending.timer is not None:
                pending.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()


def _join(first: str, second: str) -> str:
    return f"{first} {second}".strip() if first else second


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
        timings: ScribeTimings | None = None,
    ) -> None:
        if not 20 <= batch_ms <= 1000:
            raise ValueError("batch_ms must be within 20-1000")
        self._batch_bytes = batch_ms * 8  # mu-law at 8 kHz: 8 bytes per millisecond
        self._api_key = api_key
        self._base_url = base_url
        self._model_id = model_id
        self._open_timeout = open_timeout_seconds
        self._timings = timings or ScribeTimings()

    async def _open(self, url: str) -> ClientConnection:
        try:
            return await connect(
                url,
                additional_headers={"xi-api-key": self._api_key},
                open_timeout=self._open_timeout,
                max_size=2**20,
                # Base64 audio barely compresses, and deflating every 100 ms message cost the host
                # ~5 % of its CPU (docs/performance.md): no permessage-deflate on this socket.
                compression=None,
            )
        except InvalidStatus as exc:
            raise ProviderError(_NAME, f"handshake refused: HTTP {exc.response.status_code}") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise ProviderError(_NAME, f"cannot connect: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def session(self, *, language: str) -> AsyncIterator[SttSession]:
        url = realtime_url(self._base_url, model_id=self._model_id, language=language)
        ws = await self._open(url)
        scribe = _ScribeSession(
            lambda: self._open(url), ws, batch_bytes=self._batch_bytes, timings=self._timings
        )
        try:
            yield scribe
        finally:
            await scribe.close()
