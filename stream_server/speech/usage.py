"""What one call used of the paid services, counted where the work happens.

The providers are shared by every call in the process, so each call wraps them in counting
decorators (``counted_providers``) that add to that call's ``CallUsage``. The counts are written
once, with the call summary, when the call ends; the control plane prices them (``cost_usd``).

* TTS characters: the text sent to synthesis (what ElevenLabs bills).
* STT seconds: caller audio sent to the recogniser (mu-law 8 kHz, one byte a sample).
* LLM tokens: estimated from characters (about four a token for English), prompt and reply,
  because the streaming adapter does not surface the provider's usage chunk; the record says so
  with ``llm_tokens_estimated``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from stream_server.providers.base import (
    ChatMessage,
    LanguageModel,
    TextToSpeech,
    ToolCall,
    ToolCallingLanguageModel,
    ToolSpec,
)

__all__ = ["CallUsage", "CountingLanguageModel", "CountingTextToSpeech", "counted_providers"]

CHARACTERS_PER_TOKEN = 4
ULAW_BYTES_PER_SECOND = 8000


def _tokens(characters: int) -> int:
    return -(-characters // CHARACTERS_PER_TOKEN) if characters else 0


@dataclass
class CallUsage:
    stt_audio_bytes: int = 0
    llm_input_characters: int = 0
    llm_output_characters: int = 0
    tts_characters: int = 0

    def heard(self, audio: bytes) -> None:
        self.stt_audio_bytes += len(audio)

    def to_json(self) -> dict[str, Any]:
        return {
            "stt_seconds": round(self.stt_audio_bytes / ULAW_BYTES_PER_SECOND, 2),
            "llm_input_tokens": _tokens(self.llm_input_characters),
            "llm_output_tokens": _tokens(self.llm_output_characters),
            "llm_tokens_estimated": True,
            "tts_characters": self.tts_characters,
        }


class CountingTextToSpeech:
    def __init__(self, inner: TextToSpeech, usage: CallUsage) -> None:
        self.inner = inner
        self.usage = usage

    async def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]:
        self.usage.tts_characters += len(text)
        async for chunk in self.inner.synthesize(text, voice_id=voice_id, language=language):
            yield chunk


class CountingLanguageModel:
    def __init__(self, inner: LanguageModel, usage: CallUsage) -> None:
        self.inner = inner
        self.usage = usage

    def _prompt(self, messages: Sequence[ChatMessage]) -> None:
        self.usage.llm_input_characters += sum(len(m.content or "") for m in messages)

    async def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        self._prompt(messages)
        async for delta in self.inner.stream(messages, model=model):
            self.usage.llm_output_characters += len(delta)
            yield delta


class CountingToolLanguageModel(CountingLanguageModel):
    """Also offers ``stream_with_tools``: only built around a model that has it."""

    async def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall]:
        assert isinstance(self.inner, ToolCallingLanguageModel)
        self._prompt(messages)
        async for item in self.inner.stream_with_tools(messages, model=model, tools=tools):
            if isinstance(item, str):
                self.usage.llm_output_characters += len(item)
            yield item


def counted_providers(
    llm: LanguageModel, tts: TextToSpeech, usage: CallUsage
) -> tuple[LanguageModel, TextToSpeech]:
    """This call's view of the shared providers, counting into ``usage``."""
    counted_llm: LanguageModel = (
        CountingToolLanguageModel(llm, usage)
        if isinstance(llm, ToolCallingLanguageModel)
        else CountingLanguageModel(llm, usage)
    )
    return counted_llm, CountingTextToSpeech(tts, usage)
