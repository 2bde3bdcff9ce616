"""The stream host end to end over a real WebSocket, driven like Twilio drives it.

Storage is moto DynamoDB through the real repository; providers are in-process fakes with
scripted behaviour; caller audio is real speech rendered by eSpeak NG; the hang-up goes through
the real Twilio SDK to a local REST endpoint.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local.twilio_emulator.stream_client import TwilioLike, sign
from tests.unit.stream_server.conftest import APOLOGY, Host
from tests.unit.stream_server.espeak_audio import utterance


def events(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["event"] for m in msgs]


async def greeted(call: TwilioLike) -> None:
    await call.wait_for(lambda r: "mark" in events(r))


async def test_health_and_readiness(host: Host) -> None:
    base = f"http://127.0.0.1:{host.server.port}"
    async with aiohttp.ClientSession() as http_client:
        async with http_client.get(base + "/healthz") as r:
            assert r.status == 200
        async with http_client.get(base + "/readyz") as r:
            assert r.status == 200
        async with http_client.get(base + "/elsewhere") as r:
            assert r.status == 404
        host.server.draining = True
        async with http_client.get(base + "/readyz") as r:
            assert r.status == 503
        async with http_client.get(base + "/healthz") as r:
            assert r.status == 200


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-url"])
async def test_unsigned_or_wrongly_signed_handshake_is_403(host: Host, signature: str) -> None:
    from tests.unit.stream_server.conftest import AUTH_TOKEN

    if signature == "wrong-url":
        signature = sign(AUTH_TOKEN, host.url.replace("/media", "/other"))
    headers = {"x-twilio-signature": signature} if signature else {}
    with pytest.raises(InvalidStatus) as info:
        await connect(host.url, additional_headers=headers)
    assert info.value.response.status_code == http.HTTPStatus.FORBIDDEN
    assert not host.server.sessions


async def test_handshake_signed_by_a_webhook_rule_is_accepted_only_with_its_key(host: Host) -> None:
    from dataclasses import replace

    from local.twilio_emulator.webhooks import Signer

    headers = Signer("unused", "HKrule", "rule-secret").sign(host.url, {})
    assert headers["X-Twilio-Webhooks-Signature-Settings"] == "key=HKrule,algorithm=HMAC_SHA256"
    with pytest.raises(InvalidStatus) as refused:  # an account's rule we were not told about
        await connect(host.url, additional_headers=headers)
    assert refused.value.response.status_code == http.HTTPStatus.FORBIDDEN
    core = replace(host.server.settings.core, twilio_webhook_shared_keys=(("HKrule", "rule-secret"),))
    host.server.settings = replace(host.server.settings, core=core)
    ws = await connect(host.url, additional_headers=headers)
    await ws.close()


async def test_bad_token_closes_without_touching_providers(host: Host) -> None:
    _call_id, call_sid, params = host.new_call()
    call = await host.connect()
    await call.start(call_sid, {**params, "token": params["token"][:-4] + "AAAA"})
    await asyncio.wait_for(call.closed.wait(), 10)
    assert call.ws.close_code == 1008
    assert (host.stt.sessions_opened, host.llm.calls, host.tts.calls) == (0, 0, 0)
    # A token for another CallSid is rejected too.
    call2 = await host.connect()
    await call2.start("CA" + "9" * 32, params)
    await asyncio.wait_for(call2.closed.wait(), 10)
    assert call2.ws.close_code == 1008
    assert host.tts.calls == 0


async def test_replayed_token_is_refused(host: Host) -> None:
    _call_id, call_sid, params = host.new_call()
    first = await host.connect()
    await first.start(call_sid, params)
    await greeted(first)
    await first.stop(call_sid)
    await asyncio.wait_for(first.closed.wait(), 10)
    spent = (host.stt.sessions_opened, host.llm.calls, host.tts.calls)
    replay = await host.connect()
    await replay.start(call_sid, params)
    await asyncio.wait_for(replay.closed.wait(), 10)
    assert replay.ws.close_code == 1008
    assert (host.stt.sessions_opened, host.llm.calls, host.tts.calls) == spent


async def test_multi_turn_conversation_with_malformed_frames(host: Host) -> None:
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    assert host.tts.texts[0] == "Hello, this is the test line."
    await call.send_raw("not json at all")
    await call.send_raw('{"event":"media","media":{"payload":"@@@"}}')
    await call.send_raw(b"\x00binary")
    await call.send_raw('{"event":"teleport"}')
    await call.say(utterance("What are your opening hours?"))
    await call.wait_for(lambda r: host.llm.calls >= 1 and host.tts.texts[-1] == "We open at nine.")
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 3)
    await call.say(utterance("Thank you very much."))
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 5)
    # The second request carries the whole conversation so far.
    second = host.llm.requests[1]
    assert [m.role for m in second] == ["system", "assistant", "user", "assistant", "user"]
    assert second[1].content == "Hello, this is the test line."
    assert second[2].content == "What are your opening hours?"
    assert second[3].content == "Reply number 1. We open at nine."
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
    await host.idle()
    turns = host.turns(call_id)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("assistant", "Hello, this is the test line."),
        ("caller", "What are your opening hours?"),
        ("assistant", "Reply number 1. We open at nine."),
        ("caller", "Thanks."),
        ("assistant", "Reply number 2. We open at nine."),
    ]
    assert {"end_of_turn", "stt", "llm_first_token", "tts_first_byte", "first_audio"} <= set(
        turns[2]["latency_ms"]
    )
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "caller-hangup" and record.turn_count == 5
    assert any('"Latency_first_audio"' in line for line in host.metrics)


async def test_barge_in_clears_cancels_and_truncates(host: Host) -> None:
    host.llm.reply = lambda m: (
        "Let me explain our opening hours. On weekdays we open at nine and close at five. "
        "On Saturdays we open at ten. On Sundays we are closed all day."
    )
    host.llm.token_s = 0.02
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    call.auto_play = False
    await call.say(utterance("When are you open?", tail_ms=600))
    await call.wait_for(lambda r: host.llm.calls == 1 and len(call.pending_marks) >= 2)
    await call.play_first(1)  # the caller heard the first chunk only
    marks_before = call.count("clear")
    await call.say(utterance("Sorry, actually, I have another question", lead_ms=0, tail_ms=0))
    await call.wait_for(lambda r: call.count("clear") > marks_before)
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 3)
    assistant = host.turns(call_id)[2]
    assert assistant["role"] == "assistant" and assistant["interrupted"] is True
    full = host.llm.reply([])
    assert 0 < len(assistant["text"]) < len(full)
    assert full.startswith(assistant["text"].removesuffix("...").strip())
    assert host.llm.cancelled + host.tts.cancelled >= 1 or len(host.tts.texts) < 4
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)


async def test_provider_failure_mid_turn_apologises_and_call_continues(host: Host) -> None:
    host.llm.fail_calls = frozenset({1, 2})
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    mark = len(call.received)
    await call.say(utterance("What are your opening hours?"))
    await call.wait_for(lambda r: APOLOGY.audio in call.media_since(mark))
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 3)
    assert host.turns(call_id)[2]["text"] == APOLOGY.text
    # The next turn works normally.
    await call.say(utterance("Thank you very much."))
    await call.wait_for(lambda r: len(host.turns(call_id)) >= 5)
    assert host.turns(call_id)[4]["text"].startswith("Reply number")
    assert any('"ProviderErrors"' in line for line in host.metrics)
    await call.stop(call_sid)


async def test_caller_hangs_up_mid_sentence(host: Host) -> None:
    host.llm.reply = lambda m: "This is a long answer. " * 30
    host.llm.token_s = 0.02
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    call.auto_play = False
    await call.say(utterance("Tell me everything."))
    await call.wait_for(lambda r: len(call.pending_marks) >= 1)
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
    await host.idle()
    assert host.llm.cancelled == 1
    turns = host.turns(call_id)
    assert turns[-1]["role"] == "assistant" and turns[-1]["interrupted"] is True
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "caller-hangup"
    assert not host.server.sessions


async def test_caller_goodbye_plays_goodbye_then_hangs_up_via_rest(host: Host) -> None:
    host.stt.script = ["Okay thanks, goodbye."]
    call_id, call_sid, call = await host.start_call()
    await greeted(call)
    await call.say(utterance("Okay thanks, goodbye."))
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    assert host.tts.texts[-1] == "Goodbye now."
    assert host.llm.calls == 0
    assert [p for p, _ in host.rest_requests] == [
        f"/2010-04-01/Accounts/{'AC' + '1' * 32}/Calls/{call_sid}.json"
    ]
    assert host.rest_requests[0][1]["Status"] == ["completed"]
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "caller-goodbye"


async def test_dtmf_reaches_the_llm_as_text(host: Host) -> None:
    _call_id, call_sid, call = await host.start_call()
    await greeted(call)
    await call.dtmf("1")
    await call.wait_for(lambda r: host.llm.calls == 1)
    # The test persona treats keypad entries as sensitive (the default): the model hears one key.
    assert host.llm.requests[0][-1].content.startswith("The caller entered 1 key on the keypad (hidden")
    await call.stop(call_sid)


@pytest.mark.parametrize("host", [{"drain_deadline_seconds": 0.5}], indirect=True)
async def test_sigterm_drain_says_goodbye_and_hangs_up_live_call(host: Host) -> None:
    call_id, _, call = await host.start_call()
    await greeted(call)
    drain = asyncio.create_task(host.server.drain())
    await asyncio.sleep(0.05)
    assert not host.server.ready
    await asyncio.wait_for(call.closed.wait(), 15)
    await asyncio.wait_for(drain, 15)
    assert host.tts.texts[-1].endswith("Goodbye.")
    assert call.ws.close_code == 1000
    assert len(host.rest_requests) == 1
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "drain"
    with pytest.raises(OSError):
        await connect(host.url, additional_headers={"x-twilio-signature": "x"}, open_timeout=2)


async def test_readyz_is_503_at_capacity(host: Host) -> None:
    host.server.settings = type(host.server.settings)(**{**_fields(host.server.settings), "max_calls": 1})
    _call_id, call_sid, call = await host.start_call()
    await greeted(call)
    async with (
        aiohttp.ClientSession() as http_client,
        http_client.get(f"http://127.0.0.1:{host.server.port}/readyz") as r,
    ):
        assert r.status == 503
    await call.stop(call_sid)


def _fields(obj: Any) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(obj, f.name) for f in fields(obj)}


async def test_caller_audio_reaches_the_recogniser_in_100_ms_batches_and_whole_at_each_commit(
    host: Host,
) -> None:
    _, call_sid, call = await host.start_call()
    await greeted(call)
    await call.say(utterance("What are your opening hours?"))
    await call.wait_for(lambda r: host.stt.commits >= 1)
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
    await host.idle()
    sent = host.stt.sent
    first_commit = sent.index(None)
    before = sent[:first_commit]
    # One send per 100 ms (800 bytes of mu-law) rather than one per 20 ms frame; only the audio
    # gathered since the last batch goes out short, right before the commit, so none is held back.
    assert before and all(size is not None and size >= 800 for size in before[:-1])
    total = sum(size or 0 for size in before)
    assert total >= 8000 and len(before) <= total // 800 + 1
