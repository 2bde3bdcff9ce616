"""The stream host's part of what a call produces: per-call variables fill the persona when the call
starts, and the call's usage is counted and written once with the call summary."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.unit.stream_server.conftest import PERSONA, Host
from tests.unit.stream_server.espeak_audio import utterance
from tests.unit.stream_server.test_stream_host import greeted

TEMPLATED = replace(
    PERSONA,
    persona_id="p-vars",
    prompt="You confirm the appointment of {{first_name}} at {{appointment_time}}.",
    greeting="Hi {{first_name}}, this is about {{appointment_time}}.",
)


async def test_variables_fill_the_greeting_and_are_quoted_in_the_prompt(host: Host) -> None:
    host.repository.put_persona(TEMPLATED)
    call_id, call_sid, params = host.new_call(
        persona_id=TEMPLATED.persona_id, variables={"first_name": "Ann", "appointment_time": "Friday"}
    )
    call = await host.connect()
    await call.start(call_sid, params)
    await greeted(call)
    assert host.tts.texts[0] == "Hi Ann, this is about Friday."
    await call.say(utterance("What are your opening hours?"))
    await call.wait_for(lambda r: host.llm.calls >= 1)
    system = host.llm.requests[0][0]
    assert system.role == "system" and 'of "Ann" at "Friday".' in system.content
    assert "{{" not in system.content
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
    await host.idle()
    turns = host.turns(call_id)
    assert turns[0]["text"] == "Hi Ann, this is about Friday."


async def test_usage_is_counted_and_written_with_the_summary(host: Host) -> None:
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    await call.say(utterance("What are your opening hours?"))
    await call.wait_for(lambda r: host.llm.calls >= 1 and len(host.tts.texts) >= 2)
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 3)
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
    await host.idle()
    record = host.repository.get_call(call_id)
    assert record is not None and record.usage is not None
    usage = record.usage
    # Every character sent to synthesis is counted, the greeting included.
    assert usage["tts_characters"] == sum(len(text) for text in host.tts.texts) > 0
    # The caller's audio went to the recogniser: at least the utterance, at most the whole call.
    assert 0.5 < usage["stt_seconds"] <= (record.to_json().get("stream_duration_seconds") or 60) + 1
    prompt_chars = sum(len(m.content) for request in host.llm.requests for m in request)
    assert usage["llm_input_tokens"] == -(-prompt_chars // 4) and usage["llm_output_tokens"] > 0
    assert usage["llm_tokens_estimated"] is True
