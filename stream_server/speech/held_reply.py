"""A reply that runs ahead unheard: the I/O half of speculative replies.

`stream_server.turn_taking.speculation` decides to start the LLM before the caller's turn is confirmed; this
wraps that reply's audio generator so it keeps producing (LLM tokens, TTS audio) into a buffer
while nothing is sent, then, once released, yields the buffered chunks at once and the rest as
they come. Cancelling the consumer (a discarded speculation) cancels the producer with it, so a
thrown-away reply never keeps a provider stream open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

from stream_server.speech.pipeline import ReplyAudio

__all__ = ["hold_until"]


async def hold_until(
    chunks: AsyncGenerator[ReplyAudio, None],
    release: asyncio.Event,
    *,
    on_release: Callable[[], None] | None = None,
) -> AsyncGenerator[ReplyAudio, None]:
    """Yield ``chunks`` only after ``release`` is set, having produced them ahead meanwhile."""
    buffer: asyncio.Queue[ReplyAudio | Exception | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for chunk in chunks:
                await buffer.put(chunk)
        except Exception as error:  # handed to the consumer, which re-raises it in order
            await buffer.put(error)
            return
        await buffer.put(None)

    producer = asyncio.create_task(pump(), name="held-reply")
    try:
        await release.wait()
        if on_release is not None:
            on_release()
        while True:
            item = await buffer.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
        await chunks.aclose()
