"""The Cerebras adapter against a local server speaking the real SSE protocol."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from local.fake_providers.cerebras import FakeCerebras
from stream_server.providers.base import ChatMessage, ProviderError
from stream_server.providers.llm_cerebras import CerebrasLanguageModel

KEY = "test-cerebras-key"
MESSAGES = [ChatMessage("system", "You are a booking assistant."), ChatMessage("user", "Book a table")]


def adapter(fake: FakeCerebras, **kwargs: Any) -> CerebrasLanguageModel:
    return CerebrasLanguageModel(api_key=KEY, base_url=fake.base_url, **kwargs)


async def collect(model: CerebrasLanguageModel, name: str = "gpt-oss-120b") -> list[str]:
    return [delta async for delta in model.stream(MESSAGES, model=name)]


async def test_streams_content_deltas_in_order_and_ignores_reasoning() -> None:
    reply = "Sure, for how many people and at what time?"
    async with FakeCerebras(api_key=KEY, reply=reply, reasoning="SECRET chain of thought") as fake:
        llm = adapter(fake)
        deltas = await collect(llm)
        await llm.aclose()
    assert len(deltas) > 3
    assert "".join(deltas) == reply
    assert all("SECRET" not in d for d in deltas)


async def test_sends_auth_model_and_reasoning_effort() -> None:
    async with FakeCerebras(api_key=KEY) as fake:
        llm = adapter(fake, reasoning_effort="low", max_completion_tokens=123)
        await collect(llm)
        await llm.aclose()
    (request,) = fake.requests
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "gpt-oss-120b"
    assert request.body["stream"] is True
    assert request.body["reasoning_effort"] == "low"
    assert request.body["max_completion_tokens"] == 123
    assert request.body["messages"][-1] == {"role": "user", "content": "Book a table"}


async def test_wrong_key_is_a_provider_error() -> None:
    async with FakeCerebras(api_key="another-key") as fake:
        llm = adapter(fake, max_retries=0)
        with pytest.raises(ProviderError, match="401"):
            await collect(llm)
        await llm.aclose()


async def test_server_error_is_retried_by_the_sdk_then_succeeds() -> None:
    async with FakeCerebras(api_key=KEY, reply="ok then") as fake:
        fake.inject("http_500")
        llm = adapter(fake, max_retries=1)
        assert "".join(await collect(llm)) == "ok then"
        await llm.aclose()
    assert len(fake.requests) == 2


async def test_persistent_server_error_is_a_provider_error() -> None:
    async with FakeCerebras(api_key=KEY) as fake:
        fake.inject("http_500", "http_500")
        llm = adapter(fake, max_retries=1)
        with pytest.raises(ProviderError, match="500"):
            await collect(llm)
        await llm.aclose()


@pytest.mark.parametrize("fault", ["drop_mid_stream", "error_event"])
async def test_failure_mid_stream_is_a_provider_error_after_partial_text(fault: Any) -> None:
    async with FakeCerebras(api_key=KEY, reply="one two three four five six") as fake:
        fake.inject(fault)
        llm = adapter(fake, max_retries=0)
        received: list[str] = []
        with pytest.raises(ProviderError):
            async for delta in llm.stream(MESSAGES, model="gpt-oss-120b"):
                received.append(delta)
        await llm.aclose()
    assert received, "text before the fault was delivered"
    assert "".join(received) != "one two three four five six"


async def test_stalled_stream_is_bounded_by_the_timeout() -> None:
    async with FakeCerebras(api_key=KEY) as fake:
        fake.inject("stall")
        llm = adapter(fake, timeout_seconds=0.5, max_retries=0)
        with pytest.raises(ProviderError, match="Timeout"):
            await asyncio.wait_for(collect(llm), timeout=20)
        await llm.aclose()


async def test_unknown_model_is_a_provider_error_and_models_are_listed() -> None:
    async with FakeCerebras(api_key=KEY, models=["gpt-oss-120b"]) as fake:
        llm = adapter(fake, max_retries=0)
        assert await llm.model_ids() == ["gpt-oss-120b"]
        with pytest.raises(ProviderError, match="404"):
            await collect(llm, name="llama-3.3-70b")
        await llm.aclose()


async def test_breaking_early_releases_the_stream() -> None:
    async with FakeCerebras(api_key=KEY, reply="a b c d e f g h", tokens_per_second=200) as fake:
        llm = adapter(fake)
        stream = llm.stream(MESSAGES, model="gpt-oss-120b")
        first = await anext(stream)
        await stream.aclose()  # what a barge-in does
        assert first == "a"
        # The client is still usable afterwards.
        assert "".join(await collect(llm)) == "a b c d e f g h"
        await llm.aclose()
