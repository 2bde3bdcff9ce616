"""Cerebras chat completions, streamed, as a `LanguageModel`.

The client is built once per process: `AsyncCerebras` pools connections, and its default TCP
warm-up is a *blocking* request made from the constructor, which would freeze every live call if
it ran inside the event loop; so the warm-up is always off here. Retries are the SDK's own
(connection errors, 408/409/429/5xx, with back-off), bounded by `max_retries` and a per-request
timeout, never a loop written by hand. Only `delta.content` reaches the caller: `gpt-oss-120b`
streams its chain of thought in `delta.reasoning`, which must never be spoken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from cerebras.cloud.sdk import APIError, AsyncCerebras, CerebrasError

from stream_server.providers.base import ChatMessage, ProviderError

__all__ = ["CerebrasLanguageModel"]

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
        payload = [{"role": m.role, "content": m.content} for m in messages]
        try:
            chunks: Any = await self._client.chat.completions.create(
                model=model,
                messages=payload,  # type: ignore[arg-type]
                stream=True,
                max_completion_tokens=self._max_completion_tokens,
                temperature=self._temperature,
                reasoning_effort=self._reasoning_effort,  # type: ignore[arg-type]
            )
            try:
                async for chunk in chunks:
                    text = content_of(chunk)
                    if text:
                        yield text
            finally:
                # A barge-in stops reading early: release the HTTP response now, not at GC.
                await chunks.close()
        except (CerebrasError, httpx.HTTPError) as exc:
            raise ProviderError(_NAME, describe(exc)) from exc

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
