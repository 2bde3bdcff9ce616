"""One call's recogniser: a streaming session kept open, fed the caller's audio and commits in order.

The session performs the conductor's `FeedStt` and `CommitStt` here. Audio is gathered into
batches of `BATCH_BYTES` (one wake-up per batch, not per frame) and goes out with the commits
through one outbox, sent by `send` in the order the call made them: a commit the recogniser
answers slowly (the offline decoder finishes the utterance then) must not hold up the caller's
next frames, now that a turn may be committed at every short pause.

`run` keeps one recognition session open and posts what it hears to the call's inbox
(`PartialTranscript`, `FinalTranscript`); a failed session, or one that ends while the call still
runs (a call is never left deaf), is reopened a bounded number of times, then `SttFailed` is posted
and the call says goodbye. Nothing here calls the conductor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from stream_server.conversation.inputs import FinalTranscript, Input, PartialTranscript, SttFailed
from stream_server.providers.base import ProviderError, SpeechToText, SttSession

__all__ = ["BATCH_BYTES", "CallRecognition"]

log = logging.getLogger("stream_server.session")

BATCH_BYTES = 800  # 100 ms of mu-law: the recogniser adapters send no smaller batches (Scribe, offline)


class CallRecognition:
    """The call's recognition session, its outbox of audio batches and commits, and its retries."""

    def __init__(
        self,
        stt: SpeechToText,
        *,
        max_attempts: int,
        post: Callable[[Input], None],
        count_error: Callable[[], None],
    ) -> None:
        self._stt = stt
        self._max_attempts = max_attempts
        self._post = post
        self._count_error = count_error
        self._session: SttSession | None = None
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()  # audio (bytes) and commits (None)
        self._audio = bytearray()  # gathered to BATCH_BYTES

    def feed(self, audio: bytes) -> None:
        """Caller audio for the recogniser (sent once a batch is full)."""
        self._audio += audio
        if len(self._audio) >= BATCH_BYTES:
            self._outbox.put_nowait(bytes(self._audio))
            self._audio.clear()

    def commit(self) -> None:
        """Ask for the final transcript of everything fed so far (the partial batch goes first)."""
        if self._audio:
            self._outbox.put_nowait(bytes(self._audio))
            self._audio.clear()
        self._outbox.put_nowait(None)

    async def run(self, language: str) -> None:
        """Keeps one recognition session open; a failed one is reopened a bounded number of times."""
        attempts = 0
        while attempts < self._max_attempts:
            attempts += 1
            try:
                async with self._stt.session(language=language) as session:
                    self._session = session
                    async for transcript in session.transcripts():
                        attempts = 0
                        if transcript.final:
                            self._post(FinalTranscript(transcript.text))
                        else:
                            self._post(PartialTranscript(transcript.text))
                    # Only the call ends a session (by cancelling this task); one that ends by itself
                    # would leave the caller unheard for the rest of the call, so it is a failure.
                    raise ProviderError("stt", "the recognition session ended by itself")
            except ProviderError as error:
                log.warning("stt session failed (attempt %d): %s", attempts, error)
                self._count_error()
            finally:
                self._session = None
        self._post(SttFailed())

    async def send(self) -> None:
        """Caller audio (bytes) and commits (None) to the recogniser, in the order the call made them;
        dropped while no session is open, as the recogniser cannot take them then."""
        while True:
            item = await self._outbox.get()
            session = self._session
            if session is None:
                continue
            try:
                if item is None:
                    await session.commit()
                else:
                    await session.send_audio(item)
            except ProviderError as error:
                log.warning("stt %s failed: %s", "commit" if item is None else "send", error)
