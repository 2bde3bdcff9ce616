"""What a call produces, through the real local stack: signed webhooks (with a retry), the
post-call analysis, usage and cost on the record, a busy line ending in call.failed, and a
transfer Twilio refuses ending up as the record's ``update_error`` while the call goes on.

POST /calls with webhook_url -> Twilio emulator -> stream host -> status callbacks -> table stream
-> call_events handler -> outcomes queue (moto SQS) -> call_outcomes handler -> the receiver below.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from callcore.analysis import OfflineModel, analyse_call
from callcore.models import CallRecord, Persona, TranscriptTurn

from local.stack import LocalStack
from local.storage import free_port
from local.twilio_emulator.caller import CallerScript, Utterance
from local.webhook_receiver import WebhookReceiver
from stream_server.conversation.phrases import TRANSFER_FAILED
from stream_server.providers.tts_offline import OfflineTextToSpeech, espeak_voice
from tests.e2e.conftest import api, record_when

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ULAW_SILENCE = b"\xff\x7f"  # mu-law's two encodings of zero
ANALYSIS = {
    "summary": True,
    "data": {
        "type": "object",
        "properties": {"confirmed": {"type": "boolean"}, "new_time": {"type": "string"}},
        "required": ["confirmed", "new_time"],
    },
    "success": "The callee confirmed the appointment.",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver(stack: LocalStack) -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(stack.env["WEBHOOK_SIGNING_SECRET"]) as hooks:
        yield hooks


async def _persona(stack: LocalStack) -> str:
    status, persona = await api(stack, "GET", "/personas/receptionist")
    assert status == 200, persona
    body = {k: v for k, v in persona.items() if k not in ("persona_id", "analysis")}
    body.update(analysis=ANALYSIS, machine_detection=False, record=False)
    status, stored = await api(stack, "PUT", "/personas/outcomes-check", json=body)
    assert status in (200, 201), stored
    return "outcomes-check"


async def test_webhooks_analysis_usage_and_cost(stack: LocalStack, receiver: WebhookReceiver) -> None:
    assert stack.emulator is not None
    persona_id = await _persona(stack)
    to = "+14155550131"
    stack.emulator.scripts[to] = CallerScript(
        (Utterance("Yes, that works for me, thank you.", pause_ms=600),), hang_up=True, max_wait_ms=15_000
    )
    receiver.fail_next(1, status=503)  # the first delivery (call.started) fails and is retried
    status, placed = await api(
        stack, "POST", "/calls", json={"to": to, "persona_id": persona_id, "webhook_url": receiver.url}
    )
    assert status == 202, placed
    events = await receiver.wait_for("call.started", "call.ended", "call.analyzed", within=90)
    assert all(e.signature_valid for e in receiver.received), receiver.received
    by_type = {e.type: e.body for e in events}
    assert {b["call"]["call_id"] for b in by_type.values()} == {placed["call_id"]}
    ended = by_type["call.ended"]["call"]
    assert ended["status"] == "completed" and any(t["role"] == "caller" for t in ended["turns"])
    analysis = by_type["call.analyzed"]["call"]["analysis"]
    assert isinstance(analysis["data"]["confirmed"], bool) and isinstance(analysis["data"]["new_time"], str)
    assert analysis["summary"] and analysis["model"] == "offline-extractor" and analysis["at"]
    # No key is set, so the offline extractor ran: its answer on the stored transcript is this data.
    turns = [TranscriptTurn.from_item(t) for t in ended["turns"]]
    persona = Persona(persona_id="x", name="x", voice_id="v", prompt="p", greeting="g", analysis=ANALYSIS)
    record = CallRecord.from_item(ended)
    expected = analyse_call(record, persona, turns, OfflineModel(), at=analysis["at"])
    assert expected is not None and analysis["data"] == expected.analysis["data"], turns
    # The first attempt was refused with 503; the same event came again and was delivered.
    started = [e for e in receiver.received if e.type == "call.started"]
    assert [e.answered for e in started] == [503, 200] and started[0].body["id"] == started[1].body["id"]

    record = await record_when(
        stack,
        placed["call_id"],
        lambda r: len([d for d in r.get("webhook_deliveries", []) if d["state"] == "delivered"]) == 3,
    )
    deliveries = {d["event"]: d for d in record["webhook_deliveries"]}
    assert deliveries["call.started"]["attempts"] == 2 and deliveries["call.started"]["state"] == "delivered"
    assert deliveries["call.ended"]["attempts"] == 1 and deliveries["call.ended"]["last_status"] == 200
    assert record["usage"]["twilio_minutes"] >= 1
    assert record["cost_usd"]["total"] >= record["cost_usd"]["twilio"] > 0
    assert record["analysis"] == analysis


async def test_busy_line_ends_with_the_error_and_call_failed(
    stack: LocalStack, receiver: WebhookReceiver
) -> None:
    assert stack.emulator is not None
    to = "+14155550132"
    stack.emulator.lines[to] = "busy"
    status, placed = await api(
        stack,
        "POST",
        "/calls",
        json={"to": to, "persona_id": "receptionist", "webhook_url": receiver.url},
    )
    assert status == 202, placed
    for _ in range(360):
        failed = [e for e in receiver.received if e.type == "call.failed" and e.answered == 200]
        if any(e.body["call"]["call_id"] == placed["call_id"] for e in failed):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError(f"no call.failed; got {receiver.types(answered=None)}")
    [event] = [e for e in failed if e.body["call"]["call_id"] == placed["call_id"]]
    assert event.body["call"]["status"] == "busy"
    assert event.body["call"]["error"] == {
        "code": "busy",
        "message": "The line was busy: the callee is busy (SIP 486 Busy Here).",
        "source": "call",
        "sip_response_code": "486",
    }
    _, record = await api(stack, "GET", f"/calls/{placed['call_id']}")
    assert record["error"]["code"] == "busy" and record["status"] == "busy"


async def test_twiml_twilio_cannot_parse_ends_with_12100_and_call_failed(
    stack: LocalStack, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original system's failure: the answer webhook's TwiML does not parse (an unescaped ``&``)."""
    assert stack.api is not None
    handler = stack.api._load(stack.api._functions["TwilioAnswerFunction"])
    module = inspect.unwrap(handler).__globals__  # the loaded handler's module, under its decorators
    assert "stream_twiml" in module
    broken = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Tom & Jerry</Say></Response>'
    monkeypatch.setitem(module, "stream_twiml", lambda **_: broken)
    status, placed = await api(
        stack,
        "POST",
        "/calls",
        json={"to": "+14155550137", "persona_id": "receptionist", "webhook_url": receiver.url},
    )
    assert status == 202, placed
    record = await record_when(stack, placed["call_id"], lambda r: "error" in r, within=90)
    assert record["error"]["code"] == "12100" and record["error"]["source"] == "call"
    assert "could not parse" in record["error"]["message"]  # our line on what 12100 means
    for _ in range(360):
        failed = [
            e
            for e in receiver.received
            if e.type == "call.failed"
            and e.answered == 200
            and e.body["call"]["call_id"] == placed["call_id"]
        ]
        if failed:
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError(f"no call.failed; got {receiver.types(answered=None)}")
    assert failed[0].signature_valid and failed[0].body["call"]["error"]["code"] == "12100"


async def test_a_receiver_that_is_down_does_not_touch_the_call(stack: LocalStack) -> None:
    assert stack.emulator is not None
    to = "+14155550136"
    stack.emulator.scripts[to] = CallerScript(
        (Utterance("Yes, that works for me, thank you.", pause_ms=600),), hang_up=True, max_wait_ms=15_000
    )
    nobody = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    status, placed = await api(
        stack, "POST", "/calls", json={"to": to, "persona_id": "receptionist", "webhook_url": nobody}
    )
    assert status == 202, placed
    call = next(c for c in stack.emulator.calls.values() if c.request.to == to)
    await stack.emulator.wait_for_call(call.sid, within=90)
    assert any(e.kind == "greeting_start" for e in call.timeline) and not call.errors
    # The call went its whole normal way; its events wait in the queue, retried, on the record.
    record = await record_when(
        stack,
        placed["call_id"],
        lambda r: {d["event"] for d in r.get("webhook_deliveries", [])} >= {"call.started", "call.ended"},
        within=90,
    )
    assert record["status"] == "completed" and "error" not in record
    assert any(t["role"] == "caller" for t in record["turns"])
    for delivery in record["webhook_deliveries"]:
        assert delivery["state"] == "retrying" and delivery["last_status"] is None, delivery
        assert delivery["last_error"], delivery


async def test_bad_webhook_urls_are_refused_before_dialling(stack: LocalStack) -> None:
    for url, words in (
        ("ftp://example.com/x", "https"),
        ("https://user:pw@example.com/x", "credentials"),
        ("http://10.1.2.3/x", "https"),
    ):
        status, body = await api(
            stack,
            "POST",
            "/calls",
            json={"to": "+14155550133", "persona_id": "receptionist", "webhook_url": url},
        )
        assert (status, body["error"]) == (400, "invalid_webhook_url") and words in body["message"]


async def test_variables_are_heard_in_the_greeting(stack: LocalStack) -> None:
    assert stack.emulator is not None
    to = "+14155550134"
    stack.emulator.scripts[to] = CallerScript(
        (Utterance("Yes, see you then.", pause_ms=600),), hang_up=True, max_wait_ms=15_000
    )
    variables = {"first_name": "Dana", "appointment_time": "Friday at ten"}
    status, placed = await api(
        stack, "POST", "/calls", json={"to": to, "persona_id": "appointment-reminder", "variables": variables}
    )
    assert status == 202, placed
    call = next(c for c in stack.emulator.calls.values() if c.request.to == to)
    await stack.emulator.wait_for_call(call.sid, within=90)
    assert any(e.kind == "greeting_start" for e in call.timeline)  # the greeting's audio reached the caller
    record = await record_when(stack, placed["call_id"], lambda r: bool(r.get("turns")))
    greeting = record["turns"][0]
    assert greeting["role"] == "assistant"
    assert greeting["text"].startswith("Hi Dana, this is Ava from Harbor Dental Clinic.")
    assert "Friday at ten" in greeting["text"] and "{{" not in greeting["text"]
    assert record["variables"] == variables
    # What the callee heard, not what we wrote down: the emulator keeps every byte its loudspeaker
    # played, and the stream host's voice here is eSpeak NG, which renders a sentence the same way
    # every time. So each greeting sentence with its variables is in that audio, sample for sample,
    # and the same sentence with other values is not.
    assert call.media is not None
    heard = bytes(call.media.played_audio)
    _, persona = await api(stack, "GET", "/personas/appointment-reminder")
    voice = espeak_voice(persona["voice_id"], persona["language"])

    async def spoken(sentence: str) -> bytes:
        return (await OfflineTextToSpeech().render(sentence, voice=voice)).strip(ULAW_SILENCE)

    for sentence in (
        "Hi Dana, this is Ava from Harbor Dental Clinic.",
        "I'm calling about your appointment on Friday at ten.",
    ):
        assert await spoken(sentence) in heard, f"not heard: {sentence!r}"
    for sentence in (
        "Hi Sam, this is Ava from Harbor Dental Clinic.",
        "I'm calling about your appointment on Monday at ten.",
    ):
        assert await spoken(sentence) not in heard, f"heard, yet not asked for: {sentence!r}"


async def test_missing_variables_are_refused(stack: LocalStack) -> None:
    status, body = await api(
        stack,
        "POST",
        "/calls",
        json={
            "to": "+14155550135",
            "persona_id": "appointment-reminder",
            "variables": {"first_name": "Dana"},
        },
    )
    assert (status, body["error"]) == (400, "missing_variables") and "appointment_time" in body["message"]


async def test_a_transfer_twilio_refuses_is_the_records_update_error_and_the_call_goes_on(
    stack: LocalStack,
) -> None:
    assert stack.emulator is not None
    status, persona = await api(stack, "GET", "/personas/receptionist")
    assert status == 200, persona
    body = {k: v for k, v in persona.items() if k != "persona_id"}
    body.update(transfer_number="+14155550189", machine_detection=False, record=False)
    status, stored = await api(stack, "PUT", "/personas/refused-transfer", json=body)
    assert status in (200, 201), stored
    to = "+14155550138"
    # The offline recogniser hears this line as "i won't talk to a human": the offline model's
    # cue to call transfer_call. After the apology the caller says goodbye and hangs up.
    stack.emulator.scripts[to] = CallerScript(
        (Utterance("I want to talk to a human.", pause_ms=600), Utterance("Goodbye.", pause_ms=600)),
        hang_up=True,
        max_wait_ms=15_000,
    )
    stack.emulator.inject("update_refused")
    status, placed = await api(stack, "POST", "/calls", json={"to": to, "persona_id": "refused-transfer"})
    assert status == 202, placed
    call = next(c for c in stack.emulator.calls.values() if c.request.to == to)
    await stack.emulator.wait_for_call(call.sid, within=120)
    story = [(e.at, e.kind, e.detail) for e in call.timeline if e.kind != "mark"]
    # The emulator refused the transfer's <Dial> as Twilio does, so nobody was dialled.
    assert [e.code for e in call.refused_updates] == [21220], story
    assert call.dialed == [] and call.status == "completed" and not call.errors

    record = await record_when(
        stack, placed["call_id"], lambda r: r.get("status") == "completed" and "update_error" in r
    )
    refusal = record["update_error"]
    assert {k: refusal[k] for k in ("code", "source", "update", "http_status")} == {
        "code": "21220",
        "source": "update",
        "update": "transfer",
        "http_status": 400,
    }, refusal
    # Twilio's own words first, then what 21220 means here.
    assert refusal["message"].startswith("Call is not in-progress. Cannot redirect.")
    assert "no longer in progress" in refusal["message"] and refusal["at"]
    (event,) = [e for e in record["status_history"] if e.get("kind") == "update"]
    assert event["status"] == "refused" and event["detail"]["code"] == "21220"
    # A refused update is not a failure of the call: no error, and the conversation went on.
    assert "error" not in record
    calls = [e["status"] for e in record["status_history"] if e.get("kind") == "call"]
    assert calls[-1] == "completed"
    turns = record["turns"]
    bot = [t["text"] for t in turns if t["role"] == "assistant"]
    assert any(line.startswith("Of course. Let me transfer you") for line in bot), bot
    # The apology was said, and the conversation went on after it (the caller's goodbye).
    (apology,) = [t["index"] for t in turns if t["role"] == "assistant" and t["text"] == TRANSFER_FAILED]
    assert any(t["role"] == "caller" and t["index"] > apology for t in turns), turns
