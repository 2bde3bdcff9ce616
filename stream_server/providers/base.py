"""The contracts every speech and language provider meets.

The pipeline speaks only these protocols, so swapping ElevenLabs for an offline engine (or a
future vendor) is configuration, never a code change in the turn logic. Audio at this seam is
always 8 kHz mu-law, the format Twilio Media Streams carries, so no adapter forces a transcode on
the hot path. Every adapter turns its SDK's or transport's failures into `ProviderError`, which is
the only exception the pipeline has to catch to speak an apology and keep the call going.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "ChatMessage",
    "LanguageModel",
    "ProviderError",
    "ReplyCutShort",
    "Role",
    "SpeechToText",
    "SttSession",
    "TextToSpeech",
    "TokenUsage",
    "ToolCall",
    "ToolCallingLanguageModel",
    "ToolSpec",
    "Transcript",
    "text_deltas",
]

Role = Literal["system", "user", "assistant"]


class ProviderError(Exception):
    """A provider could not do its job (network, auth, quota, protocol, timeout).

    Carries the provider name so logs say which stage failed without leaking request data.
    """

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class ReplyCutShort(ProviderError):
    """The model stopped at its token budget (`finish_reason == "length"`): the text so far is not
    a complete reply, so its unfinished last sentence must not be spoken as if it were."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the recogniser heard so far.

    `final=False` is a partial hypothesis (useful for barge-in and early LLM start); `final=True`
    is the committed text of one caller turn, emitted once per `commit()`.
    """

    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation in the OpenAI-compatible shape LLM vendors share."""

    role: Role
    content: str


class SttSession(Protocol):
    """One live recognition stream, bound to one call."""

    async def send_audio(self, ulaw: bytes) -> None:
        """Feed caller audio (mu-law 8 kHz, any length)."""
        ...

    async def commit(self) -> None:
        """Mark the end of the caller's turn; our local VAD decides when, not the vendor."""
        ...

    def transcripts(self) -> AsyncIterator[Transcript]:
        """Partial and final transcripts, in the order the recogniser produced them.

        Ends when the session closes; raises `ProviderError` if the recogniser failed.
        """
        ...


class SpeechToText(Protocol):
    """Opens recognition sessions; one per call, closed when the call ends."""

    def session(self, *, language: str) -> AbstractAsyncContextManager[SttSession]: ...


class LanguageModel(Protocol):
    """Streams a reply as text deltas so speech can start before the reply is complete."""

    def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]: ...


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, in the OpenAI-compatible shape (JSON Schema parameters)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asked for a tool, with its arguments already parsed (``{}`` if they were not JSON)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """What the provider billed for one reply, when it says so (the last item of its stream)."""

    input_tokens: int
    output_tokens: int


async def text_deltas(stream: AsyncIterator[str | ToolCall | TokenUsage]) -> AsyncIterator[str]:
    """The text of a tool-calling model's stream, its tool calls and usage left out: what `stream` yields
    for a model that implements `ToolCallingLanguageModel.stream_with_tools`."""
    async for item in stream:
        if isinstance(item, str):
            yield item


@runtime_checkable
class ToolCallingLanguageModel(LanguageModel, Protocol):
    """A `LanguageModel` that can also ask for tools mid-reply.

    A separate protocol rather than a new argument to `stream`, so text-only models (and every
    existing caller of `stream`) keep working unchanged; the pipeline offers tools only to a
    model that implements this. The stream interleaves text deltas and whole `ToolCall`s in the
    order the model produced them; a tool call is yielded once its arguments are complete. A model
    whose provider reports its token counts ends the stream with one `TokenUsage`.
    """

    def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall | TokenUsage]: ...


class TextToSpeech(Protocol):
    """Turns one sentence into mu-law 8 kHz audio chunks, first chunk as early as possible."""

    def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]: ...
