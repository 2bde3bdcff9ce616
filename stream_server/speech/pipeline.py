"""One assistant reply: conversation -> LLM stream -> sentences -> TTS -> audio chunks.

The LLM streams text while TTS speaks the sentences already complete, so the first audio goes
out after one sentence, not one reply. The whole reply is one async generator: the session
iterates it and sends what comes out, and cancelling that one consumer (barge-in, hang-up)
cancels the LLM stream and the TTS request with it; the generator's ``finally`` owns the LLM
task and always reaps it.

Provider faults are retried a bounded number of times when nothing has been said yet; after that
(or when a fault happens mid-reply) the reply ends with a short apology from a pre-rendered clip,
and the call goes on. This module never touches the WebSocket or DynamoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from callcore.models import Persona

from stream_server.conversation.actions import ReplyAudio, ReplyOutcome
from stream_server.providers.base import (
    ChatMessage,
    LanguageModel,
    ProviderError,
    ReplyCutShort,
    TextToSpeech,
    TokenUsage,
    ToolCall,
    ToolCallingLanguageModel,
    ToolSpec,
)
from stream_server.speech.sentences import SentenceSplitter
from stream_server.speech.text_normalization import normalize_for_speech

__all__ = [
    "ApologyClip",
    "PipelineSettings",
    "ReplyAudio",
    "ReplyStats",
    "Voice",
    "render_clip",
    "render_filler_clips",
    "speak_reply",
    "speak_text",
]

log = logging.getLogger("stream_server.speech.pipeline")


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Timeouts and retry bounds; every wait on a provider is bounded by one of these."""

    llm_first_token_timeout_s: float = 5.0
    llm_idle_timeout_s: float = 5.0
    tts_first_byte_timeout_s: float = 5.0
    tts_idle_timeout_s: float = 5.0
    max_attempts: int = 2
    first_flush_chars: int = 40


@dataclass(frozen=True, slots=True)
class Voice:
    voice_id: str
    language: str = "en"


@dataclass(frozen=True, slots=True)
class ApologyClip:
    """A short apology rendered once per process, played when a provider lets us down."""

    text: str
    audio: bytes


@dataclass(slots=True)
class ReplyStats:
    """Per-reply timings (clock seconds) and outcome, filled in while the reply runs."""

    started_at: float
    llm_first_token_at: float | None = None
    tts_first_byte_at: float | None = None
    first_audio_at: float | None = None
    text: str = ""
    provider_errors: list[str] = field(default_factory=list)
    apologised: bool = False
    # Tools the model asked for; the call acts on them once the reply has been heard.
    tool_calls: list[ToolCall] = field(default_factory=list)

    def latency_ms(self) -> dict[str, float]:
        """Stage latencies from the reply's start, in milliseconds (only those that happened)."""
        marks = {
            "llm_first_token": self.llm_first_token_at,
            "tts_first_byte": self.tts_first_byte_at,
            "first_audio": self.first_audio_at,
        }
        return {k: round((v - self.started_at) * 1000.0, 2) for k, v in marks.items() if v is not None}

    def progress(self) -> tuple[object, ...]:
        """What the conductor would see change in `outcome` (cheap: compared before every event)."""
        return (
            self.llm_first_token_at,
            self.tts_first_byte_at,
            self.first_audio_at,
            len(self.provider_errors),
            len(self.tool_calls),
            self.apologised,
        )

    def outcome(self, *, finished: bool = False) -> ReplyOutcome:
        """A frozen copy for the conductor (`conversation.actions.ReplyOutcome`)."""
        return ReplyOutcome(
            latency_ms=self.latency_ms(),
            provider_errors=tuple(self.provider_errors),
            tool_calls=tuple(self.tool_calls),
            text=self.text,
            apologised=self.apologised,
            finished=finished,
        )


_END = object()


async def _next_with_timeout(
    iterator: AsyncIterator[str | bytes | ToolCall | TokenUsage], limit_s: float
) -> object:
    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
    # with the result, which would make a barge-in fail to stop the reply.
    try:
        async with asyncio.timeout(limit_s):
            return await anext(iterator)
    except StopAsyncIteration:
        return _END
    except TimeoutError as exc:
        raise ProviderError("timeout", f"no data within {limit_s:.1f}s") from exc


async def _close(iterator: object) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def _produce_sentences(
    llm: LanguageModel,
    messages: Sequence[ChatMessage],
    model: str,
    settings: PipelineSettings,
    stats: ReplyStats,
    out: asyncio.Queue[str | BaseException | None],
    clock: Callable[[], float],
    tools: Sequence[ToolSpec] = (),
) -> None:
    """LLM deltas -> sentences on ``out``; ends with None, or with the fault that stopped it."""
    splitter = SentenceSplitter(first_flush_chars=settings.first_flush_chars)
    produced = False
    attempt = 0
    while True:
        attempt += 1
        stream: AsyncIterator[str | ToolCall | TokenUsage]
        if tools and isinstance(llm, ToolCallingLanguageModel):
            stream = llm.stream_with_tools(messages, model=model, tools=tools)
        else:
            stream = llm.stream(messages, model=model)
        try:
            timeout = settings.llm_first_token_timeout_s
            while True:
                delta = await _next_with_timeout(stream, timeout)
                if delta is _END:
                    break
                if isinstance(delta, ToolCall):
                    stats.tool_calls.append(delta)
                    continue
                if not isinstance(delta, str):  # the reply's token counts: the call's usage meter reads them
                    continue
                timeout = settings.llm_idle_timeout_s
                if not delta:
                    continue
                if stats.llm_first_token_at is None:
                    stats.llm_first_token_at = clock()
                produced = True
                stats.text += delta
                for sentence in splitter.push(delta):
                    await out.put(sentence)
            for sentence in splitter.flush():
                await out.put(sentence)
            await out.put(None)
            return
        except ProviderError as error:
            stats.provider_errors.append(f"llm: {error}")
            log.warning("llm fault (attempt %d): %s", attempt, error)
            if produced or attempt >= settings.max_attempts:
                # A reply cut at the token budget ends mid-sentence: its unfinished tail is never
                # spoken as if complete (the apology follows the complete sentences instead).
                if not isinstance(error, ReplyCutShort):
                    for sentence in splitter.flush():
                        await out.put(sentence)
                await out.put(error)
                return
        finally:
            await _close(stream)


async def _synthesize(
    tts: TextToSpeech,
    text: str,
    voice: Voice,
    settings: PipelineSettings,
    stats: ReplyStats,
    clock: Callable[[], float],
) -> AsyncIterator[bytes]:
    """TTS for one sentence with bounded retries while no audio has come out yet."""
    attempt = 0
    while True:
        attempt += 1
        produced = False
        stream = tts.synthesize(text, voice_id=voice.voice_id, language=voice.language)
        try:
            timeout = settings.tts_first_byte_timeout_s
            while True:
                chunk = await _next_with_timeout(stream, timeout)
                if chunk is _END:
                    return
                assert isinstance(chunk, bytes)
                timeout = settings.tts_idle_timeout_s
                if not chunk:
                    continue
                if stats.tts_first_byte_at is None:
                    stats.tts_first_byte_at = clock()
                produced = True
                yield chunk
        except ProviderError as error:
            stats.provider_errors.append(f"tts: {error}")
            log.warning("tts fault (attempt %d): %s", attempt, error)
            if produced or attempt >= settings.max_attempts:
                raise
        finally:
            await _close(stream)


async def speak_reply(
    *,
    llm: LanguageModel,
    tts: TextToSpeech,
    messages: Sequence[ChatMessage],
    model: str,
    voice: Voice,
    apology: ApologyClip,
    stats: ReplyStats,
    settings: PipelineSettings | None = None,
    clock: Callable[[], float] = time.monotonic,
    tools: Sequence[ToolSpec] = (),
) -> AsyncGenerator[ReplyAudio, None]:
    """Stream the spoken reply to ``messages`` as audio chunks, first chunk as early as possible.

    ``tools`` are offered to a model that supports them; its calls land in ``stats.tool_calls``.
    """
    cfg = settings or PipelineSettings()
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
    producer = asyncio.create_task(
        _produce_sentences(llm, messages, model, cfg, stats, queue, clock, tools), name="llm-stream"
    )
    index = 0
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                break
            # TTS gets the spoken form (numbers, times, no markdown); the transcript and the
            # history keep the written one. A sentence with nothing to say takes no index.
            spoken = normalize_for_speech(item, language=voice.language)
            if not spoken:
                continue
            try:
                async for chunk in _synthesize(tts, spoken, voice, cfg, stats, clock):
                    if stats.first_audio_at is None:
                        stats.first_audio_at = clock()
                    yield ReplyAudio(index, item, chunk)
            except ProviderError:
                break
            index += 1
        # A fault ended the reply early: say sorry and hand the floor back to the caller.
        stats.apologised = True
        if stats.first_audio_at is None:
            stats.first_audio_at = clock()
        yield ReplyAudio(index, apology.text, apology.audio, apology=True)
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer


async def speak_text(
    *,
    tts: TextToSpeech,
    text: str,
    voice: Voice,
    apology: ApologyClip | None,
    stats: ReplyStats,
    settings: PipelineSettings | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncGenerator[ReplyAudio, None]:
    """Speak fixed text (greeting, goodbye) sentence by sentence, same fault handling."""
    cfg = settings or PipelineSettings()
    splitter = SentenceSplitter(first_flush_chars=10_000)
    sentences = splitter.push(text) + splitter.flush()
    spoken_sentences = [(s, normalize_for_speech(s, language=voice.language)) for s in sentences]
    for index, (sentence, spoken) in enumerate((s, sp) for s, sp in spoken_sentences if sp):
        try:
            async for chunk in _synthesize(tts, spoken, voice, cfg, stats, clock):
                if stats.first_audio_at is None:
                    stats.first_audio_at = clock()
                yield ReplyAudio(index, sentence, chunk)
        except ProviderError:
            if apology is not None:
                stats.apologised = True
                yield ReplyAudio(index, apology.text, apology.audio, apology=True)
            return
    stats.text = text


async def render_clip(
    text: str,
    voice: Voice,
    primary: TextToSpeech,
    fallback: TextToSpeech | None = None,
    *,
    timeout_s: float = 15.0,
) -> ApologyClip:
    """Render a short clip once (at start-up), falling back to a second engine if needed."""
    for engine in (primary, fallback):
        if engine is None:
            continue
        try:

            async def collect(tts: TextToSpeech = engine) -> bytes:
                parts = [
                    c async for c in tts.synthesize(text, voice_id=voice.voice_id, language=voice.language)
                ]
                return b"".join(parts)

            audio = await asyncio.wait_for(collect(), timeout_s)
            if audio:
                return ApologyClip(text, audio)
        except (ProviderError, TimeoutError) as error:
            log.warning("could not render clip with %s: %s", type(engine).__name__, error)
    # Last resort: a beat of silence, so the call still goes on.
    return ApologyClip(text, b"\xff" * 4000)


async def render_filler_clips(
    tts: TextToSpeech, persona: Persona, clips: dict[tuple[str, str, str], bytes]
) -> None:
    """Render the persona's filler phrases once per process into ``clips`` (keyed by voice,
    language and text), so a filler never waits on TTS; a phrase that fails is skipped."""
    for text in persona.filler_phrases:
        key = (persona.voice_id, persona.language, text)
        if key in clips:
            continue
        spoken = normalize_for_speech(text, language=persona.language)
        try:
            async with asyncio.timeout(10.0):
                parts = [
                    chunk
                    async for chunk in tts.synthesize(
                        spoken, voice_id=persona.voice_id, language=persona.language
                    )
                ]
        except (ProviderError, TimeoutError) as error:
            log.warning("could not render a filler phrase: %s", error)
            continue
        clips[key] = b"".join(parts)
