"""The Cerebras adapter against a local server speaking the real SSE protocol."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from local.fake_providers.cerebras import FakeCerebras
from stream_server.providers import ProviderConfigError, ProviderSettings, build_providers
from stream_server.providers.base import ChatMessage, ProviderError, ReplyCutShort, ToolCall, ToolSpec
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


# --- conformance with what the real API refuses (issue 16, fix 1) -------------------------------


async def test_tools_are_offered_without_parallel_tool_calls_which_streaming_refuses() -> None:
    end_call = ToolSpec("end_call", "Hang up politely")

    def wants_to_hang_up(
        messages: list[dict[str, Any]], offered: list[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        return [("end_call", {"reason": "done"})]

    async with FakeCerebras(api_key=KEY, reply="Goodbye.", tool_rule=wants_to_hang_up) as fake:
        llm = adapter(fake, max_retries=0)
        items = [
            item async for item in llm.stream_with_tools(MESSAGES, model="gpt-oss-120b", tools=[end_call])
        ]
        await llm.aclose()
    (request,) = fake.requests
    assert "parallel_tool_calls" not in request.body
    assert request.body["tool_choice"] == "auto"
    calls = [item for item in items if isinstance(item, ToolCall)]
    assert calls == [ToolCall("end_call", {"reason": "done"}, calls[0].call_id)]


async def test_a_server_refusing_tools_with_streaming_still_gets_replies_without_tools() -> None:
    end_call = ToolSpec("end_call", "Hang up politely")
    async with FakeCerebras(api_key=KEY, reply="Of course.", refuse_streaming_tools=True) as fake:
        llm = adapter(fake, max_retries=0)
        for _ in range(2):
            items = [i async for i in llm.stream_with_tools(MESSAGES, model="gpt-oss-120b", tools=[end_call])]
            assert "".join(i for i in items if isinstance(i, str)) == "Of course."
        await llm.aclose()
    # One refused request, its retry without tools, then no tools offered any more.
    assert ["tools" in r.body for r in fake.requests] == [True, False, False]


async def test_a_400_for_another_reason_is_an_error_and_tools_stay_offered() -> None:
    end_call = ToolSpec("end_call", "Hang up politely")
    async with FakeCerebras(api_key=KEY, reply="Hi.") as fake:
        refused = adapter(fake, reasoning_effort="none", max_retries=0)
        for _ in range(2):
            with pytest.raises(ProviderError, match="400"):
                _ = [
                    i
                    async for i in refused.stream_with_tools(MESSAGES, model="gpt-oss-120b", tools=[end_call])
                ]
        await refused.aclose()
    assert ["tools" in r.body for r in fake.requests] == [True, False, True, False]


async def test_reply_out_of_token_budget_is_cut_short_never_complete() -> None:
    # 12 reasoning tokens + 8 reply tokens against a budget of 15: the reply stops mid-sentence.
    reasoning = "one two three four five six seven eight nine ten eleven twelve"
    async with FakeCerebras(
        api_key=KEY, reply="Your table is booked for Friday at eight.", reasoning=reasoning
    ) as fake:
        llm = adapter(fake, max_completion_tokens=15)
        received: list[str] = []
        with pytest.raises(ReplyCutShort, match="max_completion_tokens=15"):
            async for delta in llm.stream(MESSAGES, model="gpt-oss-120b"):
                received.append(delta)
        await llm.aclose()
    assert "".join(received) == "Your table is"
    assert isinstance(ReplyCutShort("cerebras", "x"), ProviderError)  # the pipeline's apology path


async def test_reply_within_budget_is_complete() -> None:
    async with FakeCerebras(api_key=KEY, reply="Booked.", reasoning="ok") as fake:
        llm = adapter(fake, max_completion_tokens=5)
        assert "".join(await collect(llm)) == "Booked."
        await llm.aclose()


async def test_retired_default_model_refuses_to_start() -> None:
    async with FakeCerebras(api_key=KEY, models=["gpt-oss-120b", "llama3.1-8b"]) as fake:
        llm = adapter(fake, default_model="llama3.1-8b")
        with pytest.raises(ProviderConfigError, match=r"llama3\.1-8b.*gpt-oss-120b"):
            await llm.check_models()
        await llm.aclose()


async def test_retired_persona_model_falls_back_to_the_default_after_the_startup_check() -> None:
    async with FakeCerebras(api_key=KEY, reply="Hello there.") as fake:
        llm = adapter(fake, max_retries=0)
        with pytest.raises(ProviderError, match="404"):  # what a stale persona gets without the check
            await collect(llm, name="llama3.1-8b")
        await llm.check_models()
        assert "".join(await collect(llm, name="llama3.1-8b")) == "Hello there."
        await llm.aclose()
    assert [r.body["model"] for r in fake.requests] == ["llama3.1-8b", "gpt-oss-120b"]


async def test_providers_run_the_model_check_at_startup() -> None:
    async with FakeCerebras(api_key=KEY, models=["gpt-oss-120b"]) as fake:
        settings = ProviderSettings(
            llm_provider="cerebras",
            cerebras_api_key=KEY,
            cerebras_base_url=fake.base_url,
            cerebras_model="zai-glm-4.6",
        )
        providers = build_providers(settings)
        with pytest.raises(ProviderConfigError, match=r"zai-glm-4\.6"):
            await providers.check_at_startup()
        await providers.aclose()


async def test_startup_check_survives_an_unreachable_catalogue() -> None:
    llm = CerebrasLanguageModel(api_key=KEY, base_url="http://127.0.0.1:9", max_retries=0, timeout_seconds=2)
    await llm.check_models()  # logged, not fatal: the catalogue stays unknown
    assert llm.model_for("anything") == "anything"
    await llm.aclose()


async def test_reasoning_effort_goes_to_gpt_oss_only_and_none_is_refused() -> None:
    async with FakeCerebras(api_key=KEY, models=["gpt-oss-120b", "gemma-4-31b"], reply="Hi.") as fake:
        refused = adapter(fake, reasoning_effort="none", max_retries=0)
        with pytest.raises(ProviderError, match="400"):
            await collect(refused)
        await refused.aclose()
        llm = adapter(fake, reasoning_effort="low")
        assert "".join(await collect(llm, name="gemma-4-31b")) == "Hi."
        await llm.aclose()
    assert "reasoning_effort" not in fake.requests[-1].body


async def test_fault_schedule_fails_exactly_the_requests_asked_for() -> None:
    async with FakeCerebras(api_key=KEY, reply="fine") as fake:
        fake.inject("ok", "http_500", "http_500")
        llm = adapter(fake, max_retries=0)
        assert "".join(await collect(llm)) == "fine"
        with pytest.raises(ProviderError, match="500"):
            await collect(llm)
        await llm.aclose()
