"""Cerebras chat completions, streamed, as a `LanguageModel`.

The client is built once per process: `AsyncCerebras` pools connections, and its default TCP
warm-up is a *blocking* request made from the constructor, which would freeze every live call if
it ran inside the event loop; so the warm-up is always off here. Retries are the SDK's own
(connection errors, 408/409/429/5xx, with back-off), bounded by `max_retries` and a per-request
timeout, never a loop written by hand. Only `delta.content` reaches the caller: `gpt-oss-120b`
streams its chain of thought in `delta.reasoning`, which must never be spoken.

Tools use the OpenAI-compatible ``tools`` parameter. Streamed tool calls arrive as
``delta.tool_calls`` fragments (SDK type ``ChatChunkResponseChoiceDeltaToolCall``: ``index``,
``id`` and ``function.name`` on the first fragment, ``function.arguments`` as string pieces in
later ones), so they are assembled by index and yielded whole when the stream ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cerebras.cloud.sdk import APIError, AsyncCerebras, CerebrasError

from stream_server.providers.base import ChatMessage, ProviderError, ToolCall, ToolSpec

__all__ = ["CerebrasLanguageModel", "ToolCallAssembler"]

_NAME = "cerebras"


class CerebrasLanguageModel:
    """Streams reply text from Cerebras; every SDK or transport fault becomes `ProviderError`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        reasoning_effort: str = "low",
        max_completion_tokens: int = 400,
        timeout_seconds: float = 15.0,
        connect_timeout_seconds: float = 5.0,
        max_retries: int = 1,
        temperature: float = 0.6,
    ) -> None:
        self._client = AsyncCerebras(
            api_key=api_key,
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            max_retries=max_retries,
            warm_tcp_connection=False,
        )
        self._reasoning_effort = reasoning_effort
        self._max_completion_tokens = max_completion_tokens
        self._temperature = temperature

    async def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        """Yield the reply's text deltas in order; raise `ProviderError` on any failure."""
        async for item in self.stream_with_tools(messages, model=model, tools=()):
            if isinstance(item, str):
                yield item

    async def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall]:
        """Text deltas as they come, then any tool calls the model made, each complete."""
        payload = [{"role": m.role, "content": m.content} for m in messages]
        extra: dict[str, Any] = {}
        if tools:
            extra = {
                "tools": [t.to_openai() for t in tools],
                "tool_choice": "auto",
                "parallel_tool_calls": False,
            }
        assembler = ToolCallAssembler()
        try:
            chunks: Any = await self._client.chat.completions.create(
                model=model,
                messages=payload,  # type: ignore[arg-type]
                stream=True,
                max_completion_tokens=self._max_completion_tokens,
                temperature=self._temperature,
                reasoning_effort=self._reasoning_effort,  # type: ignore[arg-type]
                **extra,
            )
            try:
                async for chunk in chunks:
                    text = content_of(chunk)
                    if text:
                        yield text
                    assembler.add(chunk)
            finally:
                # A barge-in stops reading early: release the HTTP response now, not at GC.
                await chunks.close()
        except (CerebrasError, httpx.HTTPError) as exc:
            raise ProviderError(_NAME, describe(exc)) from exc
        for call in assembler.calls():
            yield call

    async def model_ids(self) -> list[str]:
        """The models this key may use (`GET /v1/models`): startup checks the persona's model."""
        try:
            page = await self._client.models.list()
        except (CerebrasError, httpx.HTTPError) as exc:
            raise ProviderError(_NAME, describe(exc)) from exc
        return [model.id for model in page.data]

    async def aclose(self) -> None:
        """Close the connection pool (process shutdown)."""
        await self._client.close()


@dataclass
class _Partial:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Joins streamed ``delta.tool_calls`` fragments into whole `ToolCall`s, keyed by index."""

    def __init__(self) -> None:
        self._parts: dict[int, _Partial] = {}

    def add(self, chunk: Any) -> None:
        choices = getattr(chunk, "choices", None)
        delta = getattr(choices[0], "delta", None) if choices else None
        for fragment in getattr(delta, "tool_calls", None) or ():
            index = fragment.index if fragment.index is not None else len(self._parts)
            part = self._parts.setdefault(index, _Partial())
            part.call_id = fragment.id or part.call_id
            function = fragment.function
            part.name = function.name or part.name
            if function.arguments:
                part.arguments.append(function.arguments)

    def calls(self) -> list[ToolCall]:
        out = []
        for _, part in sorted(self._parts.items()):
            if not part.name:
                continue
            try:
                arguments = json.loads("".join(part.arguments) or "{}")
            except json.JSONDecodeError:
                arguments = {}
            out.append(ToolCall(part.name, arguments if isinstance(arguments, dict) else {}, part.call_id))
        return out


def content_of(chunk: Any) -> str:
    """The spoken text of one stream chunk; reasoning, role-only and usage chunks give ''."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    return content if isinstance(content, str) else ""


def describe(exc: BaseException) -> str:
    """A log-safe summary: the status and class, never the request (which holds the prompt)."""
    if isinstance(exc, APIError):
        status = getattr(exc, "status_code", None)
        prefix = f"HTTP {status} " if status is not None else ""
        return f"{prefix}{type(exc).__name__}"
    return type(exc).__name__
