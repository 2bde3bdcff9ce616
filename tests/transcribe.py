"""One speech-to-text session driven as the stream host drives it, for the recogniser tests."""

from __future__ import annotations

import asyncio

from stream_server.audio.codec import FRAME_BYTES
from stream_server.providers.base import SttSession, Transcript

__all__ = ["transcribe"]


async def transcribe(
    session: SttSession, audio: bytes, *, within: float, chunk_bytes: int = FRAME_BYTES
) -> list[Transcript]:
    """Send ``audio`` in ``chunk_bytes`` pieces (20 ms frames, as Twilio sends them, by default),
    commit, and return the transcripts that follow, up to and including the first final one.

    Fails with ``TimeoutError`` when no final transcript comes within ``within`` seconds.
    """
    for offset in range(0, len(audio), chunk_bytes):
        await session.send_audio(audio[offset : offset + chunk_bytes])
    await session.commit()
    received: list[Transcript] = []

    async def until_final() -> None:
        async for transcript in session.transcripts():
            received.append(transcript)
            if transcript.final:
                return

    await asyncio.wait_for(until_final(), within)
    return received
