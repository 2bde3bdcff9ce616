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
``parallel_tool_calls`` is never sent: Cerebras' OpenAI-compatibility notes answer it with 400
when streaming, and the end-call tool is offered on every reply. The same notes once said streaming
does not work with tools at all; should a streamed request with tools be refused (400) while the
same request without them is served, the reply is given without tools and later requests leave
them out (logged once): the calls go on, without the model's own hang-up and transfer, instead of
every turn ending in an apology.

Reasoning tokens count against ``max_completion_tokens``; a reply that ran out of budget ends with
``finish_reason == "length"`` and is raised as `ReplyCutShort` (after its text, and without its
tool calls, whose arguments may be cut) so the pipeline never presents it as complete.
Model ids live in personas, so they can outlive a model's retirement: `check_models` reads
``GET /v1/models`` once at start-up, refuses to start when the default model is gone, and later
requests for a missing persona model fall back to the default (logged once per model).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cerebras.cloud.sdk import APIError, APIStatusError, AsyncCerebras, CerebrasError

from stream_server.providers.base import (
    ChatMessage,
    ProviderError,
    ReplyCutShort,
    TokenUsage,
    ToolCall,
    ToolSpec,
    text_deltas,
)
from stream_server.providers.config import DEFAULT_CEREBRAS_MODEL, ProviderConfigError

__all__ = ["CerebrasLanguageModel", "ToolCallAssembler", "finish_reason_of", "takes_reasoning_effort"]

_NAME = "cerebras"
_log = logging.getLogger(__name__)


def takes_reasoning_effort(model: str) -> bool:
    """Cerebras documents the reasoning flags for the GPT-OSS models only."""
    return model.startswith("gpt-oss")


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
        default_model: str = DEFAULT_CEREBRAS_MODEL,
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
        self._default_model = default_model
        self._catalogue: frozenset[str] | None = None
        self._warned: set[str] = set()
        self._tools_refused = False  # Cerebras refused tools with stream=true: send none from now on

    async def check_models(self) -> None:
        """Read the model catalogue once (start-up); `ProviderConfigError` if the default is gone.

        A network failure here is not fatal: the catalogue stays unknown and models are used as
        asked, so a start-up during a Cerebras blip still serves calls.
        """
        try:
            ids = await self.model_ids()
        except ProviderError as error:
            _log.warning("could not list the Cerebras models at start-up: %s", error)
            return
        self._catalogue = frozenset(ids)
        if self._default_model not in self._catalogue:
            raise ProviderConfigError(
                f"CEREBRAS_MODEL={self._default_model!r} is not served by Cerebras any more "
                f"(available: {', '.join(sorted(self._catalogue)) or 'none'})"
            )

    def model_for(self, requested: str) -> str:
        """`requested` if Cerebras serves it (or the catalogue is unknown), else the default."""
        if self._catalogue is None or requested in self._catalogue:
            return requested
        if requested not in self._warned:
            self._warned.add(requested)
            _log.warning("model %r is not served by Cerebras; using %r", requested, self._default_model)
        return self._default_model

    def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        """Yield the reply's text deltas in order; raise `ProviderError` on any failure."""
        return text_deltas(self.stream_with_tools(messages, model=model, tools=()))

    async def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall | TokenUsage]:
        """Text deltas as they come, then any tool calls the model made, each complete, then the
        reply's token counts when Cerebras sent its usage chunk."""
        payload = [{"role": m.role, "content": m.content} for m in messages]
        model = self.model_for(model)
        offer_tools = bool(tools) and not self._tools_refused
        assembler = ToolCallAssembler()
        finish: str | None = None
        usage: TokenUsage | None = None
        try:
            try:
                chunks: Any = await self._create(payload, model, tools if offer_tools else ())
            except APIStatusError as refused:
                if not (offer_tools and refused.status_code == 400):
                    raise
                chunks = await self._create(payload, model, ())  # fails the same way if tools were not it
                self._tools_refused = True
                _log.warning("Cerebras refused tools with stream=true (HTTP 400); replying without tools")
            try:
                async for chunk in chunks:
                    text = content_of(chunk)
                    if text:
                        yield text
                    assembler.add(chunk)
                    finish = finish_reason_of(chunk) or finish
                    usage = usage_of(chunk) or usage
            finally:
                # A barge-in stops reading early: release the HTTP response now, not at GC.
                await chunks.close()
        except (CerebrasError, httpx.HTTPError) as exc:
            raise ProviderError(_NAME, describe(exc)) from exc
        if finish == "length":
            raise ReplyCutShort(_NAME, f"reply cut at max_completion_tokens={self._max_completion_tokens}")
        for call in assembler.calls():
            yield call
        if usage is not None:
            yield usage

    async def _create(self, payload: list[dict[str, str]], model: str, tools: Sequence[ToolSpec]) -> Any:
        extra: dict[str, Any] = {}
        if tools:
            extra = {"tools": [t.to_openai() for t in tools], "tool_choice": "auto"}
        if takes_reasoning_effort(model):
            extra["reasoning_effort"] = self._reasoning_effort
        return await self._client.chat.completions.create(
            model=model,
            messages=payload,  # type: ignore[arg-type]
            stream=True,
            max_completion_tokens=self._max_completion_tokens,
            temperature=self._temperature,
            **extra,
        )

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


def usage_of(chunk: Any) -> TokenUsage | None:
    """The billed token counts, on the stream's usage chunk (reasoning tokens are in the output)."""
    usage = getattr(chunk, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if isinstance(prompt, int) and isinstance(completion, int):
        return TokenUsage(input_tokens=prompt, output_tokens=completion)
    return None


def finish_reason_of(chunk: Any) -> str | None:
    """Why the model stopped, on the chunk that says so (``stop``, ``length``, ``tool_calls``...)."""
    choices = getattr(chunk, "choices", None)
    reason = getattr(choices[0], "finish_reason", None) if choices else None
    return reason if isinstance(reason, str) else None


def describe(exc: BaseException) -> str:
    """A log-safe summary: the status and class, never the request (which holds the prompt)."""
    if isinstance(exc, APIError):
        status = getattr(exc, "status_code", None)
        prefix = f"HTTP {status} " if status is not None else ""
        return f"{prefix}{type(exc).__name__}"
    return type(exc).__name__
