"""The hand-over between a recogniser's own reader and the pipeline that waits for its words.

Every speech-to-text session produces transcripts on its own schedule (a socket reader, a decoder
thread) while the pipeline consumes them in order. The feed keeps that order and carries the two
ways a session can end: closed (the iteration stops) or failed (the `ProviderError` is raised to
the consumer, after the transcripts that came before it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from stream_server.providers.base import ProviderError, Transcript

__all__ = ["TranscriptFeed"]


class _Closed:
    """Marks the end of the feed."""


_CLOSED = _Closed()


class TranscriptFeed:
    """An ordered, unbounded queue of transcripts that ends with a close or a failure."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Transcript | ProviderError | _Closed] = asyncio.Queue()

    def put(self, transcript: Transcript) -> None:
        self._queue.put_nowait(transcript)

    def fail(self, error: ProviderError) -> None:
        self._queue.put_nowait(error)

    def close(self) -> None:
        self._queue.put_nowait(_CLOSED)

    async def __aiter__(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Closed):
                return
            if isinstance(item, ProviderError):
                raise item
            yield item
