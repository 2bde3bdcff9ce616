"""In-process providers with fixed, configurable latencies for session and pipeline tests.

They implement the protocols of ``stream_server.providers.base`` exactly, so the session and the
pipeline cannot tell them from the real adapters. Behaviour is scripted, never "returns OK":
the STT really listens (it counts voiced frames and maps each committed caller turn to the next
scripted transcript), the LLM streams its reply word by word with a per-token delay, the TTS
produces audio whose length is proportional to the text, and each can be told to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from stream_server.providers.base import ChatMessage, ProviderError, Transcript

__all__ = ["FakeLanguageModel", "FakeSpeechToText", "FakeSttSession", "FakeTextToSpeech"]


class FakeSttSession:
    def __init__(self, owner: FakeSpeechToText) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self.audio_bytes = 0
        self._turn_bytes = 0
        self._deliveries: set[asyncio.Task[None]] = set()

    async def send_audio(self, ulaw: bytes) -> None:
        self._owner.sent.append(len(ulaw))
        self.audio_bytes += len(ulaw)
        self._turn_bytes += len(ulaw)

    async def commit(self) -> None:
        owner = self._owner
        owner.sent.append(None)
        owner.commits += 1
        if owner.fail_on_commit is not None and owner.commits == owner.fail_on_commit:
            await self._queue.put(None)
            return
        heard = owner.script[owner.next_index] if owner.next_index < len(owner.script) else ""
        owner.next_index += 1
        self._turn_bytes = 0
        if not owner.latency_s:
            await self._queue.put(Transcript(heard, final=True))
            return
        # Like Scribe, the commit returns at once and the final follows `latency_s` later (in order):
        # a commit that blocked for the recogniser's latency would stall the caller's audio behind it.
        delivery = asyncio.create_task(self._deliver_later(heard, owner.latency_s))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    async def _deliver_later(self, heard: str, latency_s: float) -> None:
        await asyncio.sleep(latency_s)
        await self._queue.put(Transcript(heard, final=True))

    async def transcripts(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._queue.get()
            if item is None:
                raise ProviderError("fake-stt", "scripted failure")
            yield item

    async def close(self) -> None:
        for delivery in list(self._deliveries):
            delivery.cancel()
        await self._queue.put(None)


@dataclass
class FakeSpeechToText:
    """Each ``commit()`` yields the next scripted transcript after ``latency_s``."""

    script: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    fail_on_commit: int | None = None
    next_index: int = 0
    commits: int = 0
    sessions_opened: int = 0
    sent: list[int | None] = field(default_factory=list)  # bytes per send_audio; None = a commit

    @contextlib.asynccontextmanager
    async def _session(self, language: str) -> AsyncIterator[FakeSttSession]:
        self.sessions_opened += 1
        yield FakeSttSession(self)

    def session(self, *, language: str) -> contextlib.AbstractAsyncContextManager[FakeSttSession]:
        return self._session(language)


@dataclass
class FakeLanguageModel:
    """Streams a reply chosen by ``reply`` word by word.

    ``first_token_s`` before the first delta, ``token_s`` between deltas; ``fail_calls`` lists
    the 1-based call numbers that raise ProviderError (after ``fail_after_words`` words).
    """

    reply: Callable[[Sequence[ChatMessage]], str] = lambda messages: "Sure. How can I help you today?"
    first_token_s: float = 0.0
    token_s: float = 0.0
    fail_calls: frozenset[int] = frozenset()
    fail_after_words: int = 0
    hang_calls: frozenset[int] = frozenset()
    calls: int = 0
    cancelled: int = 0
    requests: list[list[ChatMessage]] = field(default_factory=list)

    async def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        self.calls += 1
        call = self.calls
        self.requests.append(list(messages))
        words = self.reply(messages).split(" ")
        try:
            if call in self.hang_calls:
                await asyncio.sleep(3600)
            await asyncio.sleep(self.first_token_s)
            for i, word in enumerate(words):
                if call in self.fail_calls and i == self.fail_after_words:
                    raise ProviderError("fake-llm", "scripted failure")
                if i:
                    await asyncio.sleep(self.token_s)
                yield word if i == 0 else " " + word
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


@dataclass
class FakeTextToSpeech:
    """``bytes_per_char`` bytes of a constant mu-law code per character, in ``chunk_bytes`` chunks."""

    first_byte_s: float = 0.0
    bytes_per_char: int = 40
    chunk_bytes: int = 800
    fail_texts: frozenset[str] = frozenset()
    fail_always: bool = False
    calls: int = 0
    texts: list[str] = field(default_factory=list)
    cancelled: int = 0

    async def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]:
        self.calls += 1
        self.texts.append(text)
        try:
            await asyncio.sleep(self.first_byte_s)
            if self.fail_always or text in self.fail_texts:
                raise ProviderError("fake-tts", "scripted failure")
            audio = bytes([0x55]) * (len(text) * self.bytes_per_char)
            for i in range(0, len(audio), self.chunk_bytes):
                yield audio[i : i + self.chunk_bytes]
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
