"""What one call used of the paid services, counted where the work happens.

The providers are shared by every call in the process, so each call wraps them in counting
decorators (``counted_providers``) that add to that call's ``CallUsage``. The counts are written
once, with the call summary, when the call ends; the control plane prices them (``cost_usd``).

* TTS characters: the text sent to synthesis (what ElevenLabs bills).
* STT seconds: caller audio sent to the recogniser (mu-law 8 kHz, one byte a sample).
* LLM tokens: what the provider reported for each reply (Cerebras' usage chunk, reasoning tokens
  included). A reply without a report (a model that sends none, or a reply stopped early by a
  barge-in, before the usage chunk came) is estimated from characters, about four a token for
  English, and then the record says so with ``llm_tokens_estimated``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from stream_server.providers.base import (
    ChatMessage,
    LanguageModel,
    TextToSpeech,
    TokenUsage,
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
    # Replies the provider reported on, in its tokens; the others in characters, estimated at the end.
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_input_characters: int = 0
    llm_output_characters: int = 0
    tts_characters: int = 0

    def heard(self, audio: bytes) -> None:
        self.stt_audio_bytes += len(audio)

    def reported(self, prompt_characters: int, reply_characters: int, report: TokenUsage) -> None:
        """A reply's own token counts arrived: they replace the characters counted for it so far."""
        self.llm_input_characters -= prompt_characters
        self.llm_output_characters -= reply_characters
        self.llm_input_tokens += report.input_tokens
        self.llm_output_tokens += report.output_tokens

    def to_json(self) -> dict[str, Any]:
        counted: dict[str, Any] = {
            "stt_seconds": round(self.stt_audio_bytes / ULAW_BYTES_PER_SECOND, 2),
            "llm_input_tokens": self.llm_input_tokens + _tokens(self.llm_input_characters),
            "llm_output_tokens": self.llm_output_tokens + _tokens(self.llm_output_characters),
            "tts_characters": self.tts_characters,
        }
        if self.llm_input_characters or self.llm_output_characters:
            counted["llm_tokens_estimated"] = True
        return counted


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

    async def _counted(
        self, messages: Sequence[ChatMessage], stream: AsyncIterator[str | ToolCall | TokenUsage]
    ) -> AsyncIterator[str | ToolCall]:
        """The stream without its `TokenUsage`. Characters are counted as they go, so a reply the
        reader stops early (a barge-in) or the provider fails is in the estimate at once; the
        report, when one comes, puts the reply's tokens in their place."""
        prompt = sum(len(m.content or "") for m in messages)
        reply = 0
        self.usage.llm_input_characters += prompt
        async for item in stream:
            if isinstance(item, TokenUsage):
                self.usage.reported(prompt, reply, item)
                continue
            if isinstance(item, str):
                reply += len(item)
                self.usage.llm_output_characters += len(item)
            yield item

    async def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        inner = (
            self.inner.stream_with_tools(messages, model=model, tools=())
            if isinstance(self.inner, ToolCallingLanguageModel)  # its stream drops the usage report
            else self.inner.stream(messages, model=model)
        )
        async for item in self._counted(messages, inner):
            if isinstance(item, str):
                yield item


class CountingToolLanguageModel(CountingLanguageModel):
    """Also offers ``stream_with_tools``: only built around a model that has it."""

    async def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall]:
        assert isinstance(self.inner, ToolCallingLanguageModel)
        inner = self.inner.stream_with_tools(messages, model=model, tools=tools)
        async for item in self._counted(messages, inner):
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
