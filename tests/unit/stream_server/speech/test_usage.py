"""A call's LLM usage: the tokens Cerebras reports in its stream's usage chunk, through the real
adapter against the fake; characters, flagged as an estimate, only for a reply without a report."""

from __future__ import annotations

from local.fake_providers.cerebras import FakeCerebras, split_tokens
from stream_server.providers.base import ChatMessage, ToolCallingLanguageModel
from stream_server.providers.llm_cerebras import CerebrasLanguageModel
from stream_server.speech.usage import CallUsage, counted_providers

KEY = "test-cerebras-key"
MESSAGES = [ChatMessage("system", "You are a booking assistant."), ChatMessage("user", "Book a table")]
REPLY = "Sure, for how many people and at what time?"
REASONING = "The caller wants a table; ask for the party size."


class _SilentTts:
    async def synthesize(self, text: str, *, voice_id: str, language: str):  # type: ignore[no-untyped-def]
        yield b""


async def test_reported_tokens_are_counted_reasoning_included_and_not_flagged() -> None:
    usage = CallUsage()
    async with FakeCerebras(api_key=KEY, reply=REPLY, reasoning=REASONING) as fake:
        model = CerebrasLanguageModel(api_key=KEY, base_url=fake.base_url)
        llm, _ = counted_providers(model, _SilentTts(), usage)
        assert isinstance(llm, ToolCallingLanguageModel)
        spoken = "".join([delta async for delta in llm.stream(MESSAGES, model="gpt-oss-120b")])
        items = [item async for item in llm.stream_with_tools(MESSAGES, model="gpt-oss-120b", tools=())]
        await model.aclose()
    assert spoken == REPLY and "".join(str(item) for item in items) == REPLY  # no usage item leaks out
    counted = usage.to_json()
    # The fake reports 10 prompt tokens and every reasoning and reply token it streamed.
    assert counted["llm_input_tokens"] == 2 * 10
    assert counted["llm_output_tokens"] == 2 * (len(split_tokens(REASONING)) + len(split_tokens(REPLY)))
    assert "llm_tokens_estimated" not in counted


async def test_a_reply_stopped_before_its_report_is_estimated_from_characters() -> None:
    usage = CallUsage()
    async with FakeCerebras(api_key=KEY, reply=REPLY) as fake:
        model = CerebrasLanguageModel(api_key=KEY, base_url=fake.base_url)
        llm, _ = counted_providers(model, _SilentTts(), usage)
        stream = llm.stream(MESSAGES, model="gpt-oss-120b")
        first = await anext(stream)  # a barge-in: the reply is not read to its end
        await stream.aclose()
        await model.aclose()
    counted = usage.to_json()
    prompt = sum(len(m.content or "") for m in MESSAGES)
    assert counted["llm_input_tokens"] == -(-prompt // 4)
    assert counted["llm_output_tokens"] == -(-len(first) // 4)
    assert counted["llm_tokens_estimated"] is True
