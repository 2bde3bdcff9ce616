"""LLM tool calls: the Cerebras adapter against the SSE fake, CallState plans, and REST updates."""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import pytest
from callcore.twiml import digits_twiml, transfer_twiml
from websockets.exceptions import ConnectionClosed

from local.fake_providers.cerebras import FakeCerebras
from local.fake_providers.in_process import FakeLanguageModel, FakeTextToSpeech
from stream_server.behaviours.intents import Conclude, Count, EndReason, OptOut, Say
from stream_server.behaviours.tools import (
    END_CALL,
    OPT_OUT,
    SEND_DIGITS,
    TRANSFER_CALL,
    CallTools,
    PlayDigits,
    ToolOptions,
    TransferTo,
    plan_tool_call,
    tools_for,
)
from stream_server.conversation.actions import (
    Hangup,
    Phase,
    RecordOptOut,
    ReplyOutcome,
    SpeakReply,
    UpdateCall,
)
from stream_server.conversation.call_state import CallConfig
from stream_server.providers.base import ChatMessage, TokenUsage, ToolCall, ToolCallingLanguageModel
from stream_server.providers.llm_cerebras import CerebrasLanguageModel
from stream_server.providers.llm_offline import TRANSFER_REPLY, ScriptedLanguageModel, scripted_tool
from stream_server.speech.pipeline import ApologyClip, ReplyStats, Voice, speak_reply
from stream_server.turn_taking.detector import TurnSettings
from tests.unit.stream_server.conftest import PERSONA as HOST_PERSONA
from tests.unit.stream_server.conftest import Host
from tests.unit.stream_server.espeak_audio import utterance
from tests.unit.stream_server.replay import Replay, persona

HUMAN = "+14155550199"  # must pass the default dial policy: it is re-checked at dial time
KEY = "test-cerebras-key"


# --- the Cerebras adapter over the real SSE protocol ---------------------------------------------


async def test_cerebras_streams_text_then_a_complete_tool_call() -> None:
    def rule(messages: list[dict[str, Any]], offered: list[str]) -> list[tuple[str, dict[str, Any]]]:
        return [("transfer_call", {"reason": "wants a person"}), ("not_offered", {})]

    async with FakeCerebras(api_key=KEY, reply="Let me transfer you.", tool_rule=rule) as fake:
        llm = CerebrasLanguageModel(api_key=KEY, base_url=fake.base_url)
        assert isinstance(llm, ToolCallingLanguageModel)
        items = [
            i
            async for i in llm.stream_with_tools(
                [ChatMessage("user", "A human please")], model="gpt-oss-120b", tools=[END_CALL, TRANSFER_CALL]
            )
        ]
        plain = [d async for d in llm.stream([ChatMessage("user", "hi")], model="gpt-oss-120b")]
        await llm.aclose()
    text = "".join(i for i in items if isinstance(i, str))
    calls = [i for i in items if isinstance(i, ToolCall)]
    assert text == "Let me transfer you."
    assert [(c.name, dict(c.arguments)) for c in calls] == [("transfer_call", {"reason": "wants a person"})]
    assert calls[0].call_id.startswith("call_")
    # Text first, the call once its arguments are complete, then the reply's reported token counts.
    assert isinstance(items[-2], ToolCall) and isinstance(items[-1], TokenUsage)
    body = fake.requests[0].body
    assert [t["function"]["name"] for t in body["tools"]] == ["end_call", "transfer_call"]
    assert body["tool_choice"] == "auto"
    # Without tools nothing is offered, so a text-only caller never sees a call.
    assert "tools" not in fake.requests[1].body and "".join(plain) == "Let me transfer you."


async def test_pipeline_collects_tool_calls_and_skips_text_only_models() -> None:
    stats = ReplyStats(started_at=0.0)
    llm = ScriptedLanguageModel(seconds_per_word=0)
    messages = [ChatMessage("system", "Shop."), ChatMessage("user", "Can I talk to a real person?")]
    chunks = [
        c
        async for c in speak_reply(
            llm=llm,
            tts=FakeTextToSpeech(),
            messages=messages,
            model="m",
            voice=Voice("v"),
            apology=ApologyClip("sorry", b"\x00"),
            stats=stats,
            tools=(END_CALL, TRANSFER_CALL),
        )
    ]
    assert chunks[-1].text.startswith("Let me transfer")
    assert [c.name for c in stats.tool_calls] == ["transfer_call"]
    # A model without the tool protocol is simply not offered tools.
    text_only = ReplyStats(started_at=0.0)
    async for _ in speak_reply(
        llm=FakeLanguageModel(),
        tts=FakeTextToSpeech(),
        messages=messages,
        model="m",
        voice=Voice("v"),
        apology=ApologyClip("sorry", b"\x00"),
        stats=text_only,
        tools=(END_CALL,),
    ):
        pass
    assert text_only.tool_calls == [] and text_only.text


def test_offline_model_uses_tools_it_is_offered() -> None:
    ask = [ChatMessage("system", "Shop."), ChatMessage("user", "I want to speak to a human")]
    assert scripted_tool(ask, ["end_call", "transfer_call"]) == (
        TRANSFER_REPLY,
        ToolCall("transfer_call", {"reason": "caller asked for a person"}),
    )
    assert scripted_tool(ask, ["end_call"]) is None
    identity = [ChatMessage("user", "Are you a human?")]
    assert scripted_tool(identity, ["transfer_call"]) is None
    done = [ChatMessage("user", "No, nothing else.")]
    result = scripted_tool(done, ["end_call"])
    assert result is not None and result[1].name == "end_call"


# --- plans and TwiML -------------------------------------------------------------------------------


OPTIONS = ToolOptions(transfer_line="Hold on.", transfer_failed="Sorry, no.")
WITH_DIGITS = replace(OPTIONS, send_digits=True)


def test_tools_offered_follow_the_persona() -> None:
    assert tools_for(persona(), OPTIONS) == (END_CALL, OPT_OUT)  # opting out is offered on every call
    assert tools_for(persona(transfer_number=HUMAN), WITH_DIGITS) == (
        END_CALL,
        OPT_OUT,
        TRANSFER_CALL,
        SEND_DIGITS,
    )


def test_twiml_is_valid_and_escaped() -> None:
    dial = ET.fromstring(transfer_twiml(HUMAN))
    assert dial.find("Dial") is not None and dial.find("Dial").text == HUMAN  # type: ignore[union-attr]
    assert dial.find("Dial").get("timeout") == "30"  # type: ignore[union-attr]
    play = ET.fromstring(digits_twiml("12#"))
    assert play.find("Play").get("digits") == "12#"  # type: ignore[union-attr]


def test_plans_refuse_what_the_call_cannot_do() -> None:
    p = persona()
    assert plan_tool_call(ToolCall("transfer_call"), p, OPTIONS, spoke=False) is None  # no number to dial
    assert plan_tool_call(ToolCall("send_digits", {"digits": "1"}), p, OPTIONS, spoke=False) is None  # off
    bad = ToolCall("send_digits", {"digits": "1; rm"})
    assert plan_tool_call(bad, p, WITH_DIGITS, spoke=False) is None
    assert plan_tool_call(ToolCall("format_disk"), p, OPTIONS, spoke=False) is None
    end = plan_tool_call(ToolCall("end_call"), p, OPTIONS, spoke=False)
    assert end == [Conclude(EndReason.ASSISTANT_END_CALL, say=p.goodbye)]
    assert plan_tool_call(ToolCall("end_call"), p, OPTIONS, spoke=True) == [
        Conclude(EndReason.ASSISTANT_END_CALL)
    ]
    digits = plan_tool_call(ToolCall("send_digits", {"digits": "1 2 3"}), p, WITH_DIGITS, spoke=False)
    assert digits == [Conclude(EndReason.SENT_DIGITS, update=PlayDigits("123"))]


def test_opt_out_plan_confirms_only_when_the_model_said_nothing() -> None:
    p = persona()
    options = replace(OPTIONS, opt_out_line="Noted.")
    silent = plan_tool_call(ToolCall("opt_out"), p, options, spoke=False)
    assert silent == [OptOut(), Conclude(EndReason.OPTED_OUT, say="Noted.")]
    assert silent[1].reason.value == "opted-out"
    spoke = plan_tool_call(ToolCall("opt_out"), p, options, spoke=True)
    assert spoke == [OptOut(), Conclude(EndReason.OPTED_OUT)]
    end = plan_tool_call(ToolCall("end_call"), p, options, spoke=True)
    assert end is not None and OptOut() not in end


def test_call_tools_act_on_the_first_call_they_can_honour() -> None:
    tools = CallTools(persona(transfer_number=HUMAN), OPTIONS)
    assert tools.offered == (END_CALL, OPT_OUT, TRANSFER_CALL)
    calls = [ToolCall("send_digits", {"digits": "1"}), ToolCall("transfer_call"), ToolCall("end_call")]
    assert tools.on_reply_finished(calls, spoke=False) == [
        Count("Tool_transfer_call"),
        Conclude(EndReason.TRANSFERRED, say="Hold on.", update=TransferTo(HUMAN)),
    ]
    assert tools.on_reply_finished([ToolCall("format_disk")], spoke=True) == []
    assert tools.update_failed() == [Say("Sorry, no.", "reply")]


# --- CallState replays -----------------------------------------------------------------------------


def _reply_with_tools(r: Replay, sentences: list[str], calls: list[ToolCall]) -> list[Any]:
    r.play(["Hi there."])
    reply = r.feed(r.state.on_transcript("Please help.", r.t))
    assert any(isinstance(a, SpeakReply) and a.tools for a in reply)
    r.state.on_reply_progress(ReplyOutcome(tool_calls=tuple(calls)))
    return r.play(sentences)


def test_end_call_after_the_models_goodbye_hangs_up_once_it_was_heard() -> None:
    r = Replay()
    out = _reply_with_tools(r, ["All done, goodbye!"], [ToolCall("end_call")])
    assert Hangup("assistant-end-call") in out
    # The model's own goodbye was the last thing said: no extra goodbye was added.
    assert [k for k, _ in r.spoken()] == ["greeting"]
    assert r.state.history[-1].content == "All done, goodbye!"


def test_transfer_without_words_says_the_personas_transfer_message() -> None:
    line = "One moment, Dana, I'm putting you through to the front desk."
    r = Replay(persona(transfer_number=HUMAN, transfer_message=line))
    out = _reply_with_tools(r, [], [ToolCall("transfer_call")])
    assert r.spoken()[-1] == ("goodbye", line)
    update = next(a for a in r.play_spoken(out) if isinstance(a, UpdateCall))
    assert update.update == TransferTo(HUMAN)


def test_transfer_without_words_says_a_line_then_updates_the_call() -> None:
    r = Replay(persona(transfer_number=HUMAN), CallConfig(turn=TurnSettings(end_of_turn_silence_ms=300)))
    out = _reply_with_tools(r, [], [ToolCall("transfer_call")])
    assert r.state.phase.value == "ending"
    assert r.spoken()[-1] == ("goodbye", "Please hold while I transfer you.")
    update = next(a for a in r.play_spoken(out) if isinstance(a, UpdateCall))
    assert update.reason == "transferred" and update.update == TransferTo(HUMAN)
    # If Twilio refuses the update, the caller is told and the call goes on.
    r.feed(r.state.on_call_update_failed(r.t))
    assert r.state.phase is Phase.ACTIVE
    assert r.spoken()[-1] == ("reply", r.state.config.transfer_failed)


def test_opt_out_records_first_then_confirms_and_hangs_up_once_heard() -> None:
    r = Replay()
    out = _reply_with_tools(r, [], [ToolCall("opt_out")])
    assert sum(isinstance(a, RecordOptOut) for a in out) == 1
    assert r.state.phase is Phase.ENDING
    assert r.spoken()[-1] == ("goodbye", r.state.config.opt_out_line)
    assert not any(isinstance(a, Hangup) for a in out)  # not before the confirmation was heard
    assert Hangup(EndReason.OPTED_OUT) in r.play_spoken(out)
    r.feed(r.state.on_hangup_done(r.t))
    assert r.state.end_reason is not None and r.state.end_reason.value == "opted-out"


def test_a_refused_tool_changes_nothing() -> None:
    r = Replay()
    out = _reply_with_tools(r, ["Sure."], [ToolCall("transfer_call")])
    assert not any(isinstance(a, Hangup | UpdateCall) for a in out)
    assert r.state.phase is Phase.ACTIVE


# --- over a real socket: requests reach the Twilio REST fake ---------------------------------------


def _tool_host(host: Host, script: list[str]) -> None:
    host.services.llm = ScriptedLanguageModel(seconds_per_word=0)
    host.stt.script = script
    host.repository.put_persona(replace(HOST_PERSONA, persona_id="p-transfer", transfer_number=HUMAN))


async def test_transfer_reaches_twilio_rest_with_dial(host: Host) -> None:
    _tool_host(host, ["Can I speak to a real person please?"])
    call_id, call_sid, call = await host.start_call(persona_id="p-transfer")
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    with contextlib.suppress(ConnectionClosed):  # the bot may close before the trailing silence
        await call.say(utterance("Can I speak to a real person please?"))
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    (path, form) = host.rest_requests[-1]
    assert path.endswith(f"/Calls/{call_sid}.json")
    twiml = ET.fromstring(form["Twiml"][0])
    assert twiml.find("Dial").text == HUMAN  # type: ignore[union-attr]
    assert "Status" not in form  # a transfer, not a hang-up
    assert " ".join(host.tts.texts[-2:]) == TRANSFER_REPLY
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "transferred"


@pytest.mark.parametrize("now_stored", ["+19005550123", None], ids=["premium", "removed"])
async def test_transfer_rechecks_the_stored_number_at_dial_time(host: Host, now_stored: str | None) -> None:
    """The number was fine when the call started; by the time the caller asks, the owner changed it
    to a premium line (or removed it). Nothing is dialled and the caller hears the apology."""
    _tool_host(host, ["Can I speak to a real person please?"])
    call_id, _, call = await host.start_call(persona_id="p-transfer")
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    host.repository.put_persona(replace(HOST_PERSONA, persona_id="p-transfer", transfer_number=now_stored))
    with contextlib.suppress(ConnectionClosed):
        await call.say(utterance("Can I speak to a real person please?"))
    await asyncio.wait_for(call.closed.wait(), 30)  # the apology, then the idle goodbye
    await host.idle()
    apology = CallConfig().transfer_failed.split(".")[0] + "."
    assert apology in host.tts.texts
    assert not any("Twiml" in form for _, form in host.rest_requests)  # no <Dial> reached Twilio
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason != "transferred"
    # The record says which transfer did not happen and why (our policy), the number masked.
    refusal = record.update_error
    assert refusal is not None and record.error is None
    assert (refusal["update"], refusal["source"], refusal["code"]) == (
        "transfer",
        "dial_policy",
        "transfer_not_allowed",
    )
    assert "transfer_number" in refusal["message"] and "5550123" not in refusal["message"]
    await call.close()


async def test_a_transfer_twilio_refuses_is_on_the_record_and_the_call_goes_on(host: Host) -> None:
    """Twilio answers the REST update with an error: the caller hears the apology and stays with the
    bot, and the call record shows the refused transfer with Twilio's code and message in
    ``update_error`` and the status history; ``error`` (why a call failed) stays empty."""
    _tool_host(host, ["Can I speak to a real person please?", "What are your opening hours?"])
    host.rest.fail_with = (400, 21220, "Call is not in-progress. Cannot redirect.")
    call_id, call_sid, call = await host.start_call(persona_id="p-transfer")
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    await call.say(utterance("Can I speak to a real person please?"))
    apology = CallConfig().transfer_failed.split(".")[0] + "."

    async def refusal_noted() -> dict[str, Any]:
        while True:
            record = host.repository.get_call(call_id)
            if record is not None and record.update_error and apology in host.tts.texts:
                return record.update_error
            await asyncio.sleep(0.05)

    refusal = await asyncio.wait_for(refusal_noted(), 30)
    (path, form) = host.rest_requests[-1]
    assert path.endswith(f"/Calls/{call_sid}.json") and "Dial" in form["Twiml"][0]  # it was tried
    assert refusal["update"] == "transfer" and refusal["source"] == "update"
    assert refusal["code"] == "21220" and refusal["http_status"] == 400
    assert refusal["message"].startswith("Call is not in-progress. Cannot redirect. (")  # + our words
    history = host.repository.get_call_history(call_id)
    assert history is not None
    assert [(e.kind, e.status, e.detail.get("code")) for e in history.events] == [
        ("update", "refused", "21220")
    ]
    record = host.repository.get_call(call_id)
    assert record is not None and record.error is None and record.end_reason is None
    # The call goes on: the caller speaks again and the bot answers.
    host.rest.fail_with = None
    replies = len(host.tts.texts)
    await call.say(utterance("What are your opening hours?"))
    async with asyncio.timeout(30):
        while len(host.tts.texts) == replies:  # noqa: ASYNC110 - polling a plain list
            await asyncio.sleep(0.05)
    assert not call.closed.is_set()
    await call.close()
    await host.idle()


async def test_end_call_reaches_twilio_rest_as_a_hang_up(host: Host) -> None:
    _tool_host(host, ["No, nothing else."])
    call_id, _, call = await host.start_call()
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    with contextlib.suppress(ConnectionClosed):  # the bot may close before the trailing silence
        await call.say(utterance("No, nothing else."))
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    assert [f["Status"] for _, f in host.rest_requests] == [["completed"]]
    assert host.tts.texts[-2:] == ["Thank you for calling.", "Goodbye!"]
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "assistant-end-call"


@pytest.mark.parametrize("digits", ["12#"])
def test_send_digits_is_off_unless_enabled(digits: str) -> None:
    assert SEND_DIGITS not in tools_for(persona(), OPTIONS)
    assert CallConfig().send_digits_tool is False
    assert f'digits="{digits}"' in digits_twiml(digits)


# --- opt-out end to end: the Cerebras adapter over the SSE fake, the list in DynamoDB (moto) -------

OPT_OUT_WORDS = "Please don't call me again."
CONFIRMATION = "Of course, we won't call you again. Goodbye."


def _opt_out_rule(messages: list[dict[str, Any]], offered: list[str]) -> list[tuple[str, dict[str, Any]]]:
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return [("opt_out", {})] if "opt_out" in offered and "don't call me" in said else []


def _confirm(messages: list[dict[str, Any]]) -> str:
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return CONFIRMATION if "don't call me" in said else "Happy to help."


async def test_opt_out_by_voice_lists_the_number_marks_the_record_and_hangs_up(host: Host) -> None:
    host.stt.script = [OPT_OUT_WORDS]
    async with FakeCerebras(api_key=KEY, reply=_confirm, tool_rule=_opt_out_rule, first_token_ms=5) as fake:
        host.services.llm = CerebrasLanguageModel(api_key=KEY, base_url=fake.base_url)
        call_id, _, call = await host.start_call()
        await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
        with contextlib.suppress(ConnectionClosed):  # the bot may close before the trailing silence
            await call.say(utterance(OPT_OUT_WORDS))
        await asyncio.wait_for(call.closed.wait(), 15)
        await host.idle()
        await host.services.llm.aclose()
    offered = [t["function"]["name"] for t in fake.requests[-1].body["tools"]]
    assert "opt_out" in offered
    # The model's own confirmation was spoken, and nothing was added after it.
    assert " ".join(host.tts.texts[1:]) == CONFIRMATION
    assert [f["Status"] for _, f in host.rest_requests] == [["completed"]]
    entry = host.repository.get_do_not_call("u1", "+15005550006")  # the number the call reached
    assert entry is not None and entry.source == "opt_out" and entry.call_id == call_id
    assert host.repository.is_on_do_not_call_list("u1", "+15005550006")
    assert not host.repository.is_on_do_not_call_list("u1", "+15005550001")  # our own caller ID
    record = host.repository.get_call(call_id)
    assert record is not None and record.opted_out is True and record.opted_out_at
    assert record.end_reason == "opted-out"
    assert record.to_json()["opted_out"] is True


async def test_a_plain_goodbye_lists_nothing(host: Host) -> None:
    _tool_host(host, ["No, nothing else."])
    call_id, _, call = await host.start_call()
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    with contextlib.suppress(ConnectionClosed):
        await call.say(utterance("No, nothing else."))
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    assert not host.repository.is_on_do_not_call_list("u1", "+15005550006")
    record = host.repository.get_call(call_id)
    assert record is not None and record.opted_out is None and "opted_out" not in record.to_json()
