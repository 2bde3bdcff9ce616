"""The emulator against a small application: REST via the real twilio client, signed webhooks,
the stream handshake, pacing, marks, clear, hang-ups and the error codes Twilio reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from callcore.twilio_rest import RebasedTwilioHttpClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from websockets.asyncio.server import ServerConnection

from local.twilio_emulator.caller import CallerScript, Utterance
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator

from .fake_application import FakeApplication, clear, mark, media

TO, FROM = "+15551230000", "+15557654321"


def _beep(text: str) -> bytes:
    """A stand-in voice for scripts: 300 ms of non-silent mu-law per utterance."""
    return b"\x10" * 2400


@pytest.fixture
async def emulator() -> AsyncIterator[TwilioEmulator]:
    emu = TwilioEmulator(EmulatorSettings(allow_insecure_local_streams=True, ring_seconds=0.02, render=_beep))
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def app(emulator: TwilioEmulator) -> AsyncIterator[FakeApplication]:
    application = FakeApplication(auth_token=emulator.settings.auth_token)
    await application.start()
    yield application
    await application.stop()


def _client(emulator: TwilioEmulator, token: str | None = None) -> Client:
    return Client(
        emulator.settings.account_sid,
        token or emulator.settings.auth_token,
        http_client=RebasedTwilioHttpClient(emulator.base_url),
    )


async def _place(emulator: TwilioEmulator, app: FakeApplication, **extra: Any) -> str:
    client = _client(emulator)
    kwargs: dict[str, Any] = {
        "to": TO,
        "from_": FROM,
        "url": f"{app.http_url}/twilio/answer",
        "status_callback": f"{app.http_url}/twilio/status",
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
    }
    kwargs.update(extra)
    call = await asyncio.to_thread(client.calls.create, **kwargs)
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.status == "queued"
    return str(call.sid)


async def test_rest_errors_come_back_as_twilio_exceptions(emulator: TwilioEmulator) -> None:
    client = _client(emulator)
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(client.calls.create, to="12345", from_=FROM, url="https://a.example/x")
    assert caught.value.code == 21211 and caught.value.status == 400
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(
            _client(emulator, token="wrong").calls.create, to=TO, from_=FROM, url="https://a.example/x"
        )
    assert caught.value.code == 20003 and caught.value.status == 401


async def test_complete_call_signed_callbacks_and_server_hangup(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    async def speak_then_hang_up(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        sid = start["streamSid"]
        await ws.send(media(sid, b"\x00" * 1600))  # 200 ms
        await ws.send(mark(sid, "greeting"))
        await asyncio.sleep(0.6)
        await ws.close()

    app.stream_script = speak_then_hang_up
    sid = await _place(emulator, app)
    call = await emulator.wait_for_call(sid, within=30)

    assert all(valid for _, _, valid in app.callbacks), app.callbacks
    statuses = [p["CallStatus"] for kind, p, _ in app.callbacks if kind == "status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    completed = [p for kind, p, _ in app.callbacks if kind == "status"][-1]
    assert completed["CallDuration"].isdigit() and "CallerCity" in completed
    assert [p["SequenceNumber"] for kind, p, _ in app.callbacks if kind == "status"] == ["0", "1", "2", "3"]
    assert app.handshake_signature_ok is True
    assert call.status == "completed" and call.stream_outcome is not None
    assert call.stream_outcome.ended_by == "server_closed"
    assert call.errors == []

    (_, connected), (_, start) = app.inbound[0], app.inbound[1]
    assert connected["event"] == "connected"
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["start"]["callSid"] == sid and start["streamSid"].startswith("MZ")
    assert start["start"]["customParameters"] == {"call_id": "c-1", "token": "t&<>"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    frames = [m for _, m in app.events("media")]
    assert frames and all(len(m["media"]["payload"]) == 216 for m in frames)
    assert [m["media"]["chunk"] for m in frames[:3]] == ["1", "2", "3"]
    assert all(isinstance(m["sequenceNumber"], str) for m in frames)
    assert [m["mark"]["name"] for _, m in app.events("mark")] == ["greeting"]


async def test_frames_are_paced_by_the_wall_clock(emulator: TwilioEmulator, app: FakeApplication) -> None:
    async def listen(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await asyncio.sleep(1.0)
        await ws.close()

    app.stream_script = listen
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.media is not None
    sent = call.media.sent_at
    assert len(sent) >= 20
    # Frame N leaves at about N x 20 ms: never early, and on average not late.
    assert all(t >= n * 0.02 - 0.005 for n, t in enumerate(sent))
    assert sent[-1] == pytest.approx((len(sent) - 1) * 0.02, abs=0.25)


async def test_mark_echo_waits_for_audio_and_clear_flushes(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    loop = asyncio.get_running_loop()
    sent: dict[str, float] = {}

    async def play(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        sid = start["streamSid"]
        await ws.send(media(sid, b"\x00" * 2400))  # 300 ms
        await ws.send(mark(sid, "played"))
        sent["played"] = loop.time()
        await asyncio.sleep(0.8)
        await ws.send(media(sid, b"\x00" * 16000))  # 2 s
        await ws.send(mark(sid, "flushed"))
        await asyncio.sleep(0.2)
        await ws.send(clear(sid))
        sent["clear"] = loop.time()
        await asyncio.sleep(0.5)
        await ws.close()

    app.stream_script = play
    await emulator.wait_for_call(await _place(emulator, app), within=30)
    echoes = {m["mark"]["name"]: t for t, m in app.events("mark")}
    assert set(echoes) == {"played", "flushed"}
    assert echoes["played"] - sent["played"] >= 0.25  # not before its 300 ms of audio played
    assert 0 <= echoes["flushed"] - sent["clear"] < 0.5  # at the clear, long before its 2 s of audio


async def test_caller_hangs_up_with_stop(emulator: TwilioEmulator, app: FakeApplication) -> None:
    emulator.scripts[TO] = CallerScript((Utterance("hello", pause_ms=100),), hang_up=True, max_wait_ms=300)

    async def greet(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        sid = start["streamSid"]
        await ws.send(media(sid, b"\x00" * 800))
        await ws.wait_closed()

    app.stream_script = greet
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.stream_outcome is not None and call.stream_outcome.ended_by == "caller_hung_up"
    stops = app.events("stop")
    assert len(stops) == 1 and stops[0][1]["stop"]["callSid"] == call.sid
    kinds = [e.kind for e in call.timeline]
    assert kinds.index("greeting_start") < kinds.index("caller_start") < kinds.index("caller_stop")
    assert kinds[-1] == "caller_hang_up"


async def test_rest_hangup_ends_the_stream(emulator: TwilioEmulator, app: FakeApplication) -> None:
    async def wait(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await ws.wait_closed()

    app.stream_script = wait
    sid = await _place(emulator, app)
    for _ in range(100):
        if app.events("start"):
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(_client(emulator).calls(sid).update, status="completed")
    call = await emulator.wait_for_call(sid, within=30)
    assert call.status == "completed" and len(app.events("stop")) == 1
    fetched = await asyncio.to_thread(_client(emulator).calls(sid).fetch)
    assert fetched.status == "completed"


async def test_malformed_twiml_is_12100(emulator: TwilioEmulator, app: FakeApplication) -> None:
    app.answer_body = '<?xml version="1.0"?><Response><Say>Fish & chips</Say></Response>'
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.error_codes() == [12100]
    completed = [p for kind, p, _ in app.callbacks if kind == "status"][-1]
    assert completed["CallStatus"] == "completed" and completed["ErrorCode"] == "12100"


async def test_query_string_in_stream_url_is_31920(emulator: TwilioEmulator, app: FakeApplication) -> None:
    app.answer_body = app.twiml().replace('/media"', '/media?call_id=1"')
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.error_codes() == [31920] and app.inbound == []


async def test_refused_handshake_is_31920(emulator: TwilioEmulator, app: FakeApplication) -> None:
    app.handshake_status = 403
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.error_codes() == [31920]


async def test_malformed_server_messages_are_31924(emulator: TwilioEmulator, app: FakeApplication) -> None:
    async def garbage(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await ws.send("{not json")
        await ws.send('{"event": "media", "streamSid": "MZwrong", "media": {"payload": ""}}')
        await ws.send(mark(start["streamSid"], "still-works"))
        await asyncio.sleep(0.3)
        await ws.close()

    app.stream_script = garbage
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    assert call.error_codes() == [31924, 31924]
    assert [m["mark"]["name"] for _, m in app.events("mark")] == ["still-works"]


async def test_async_amd_reports_answered_by(emulator: TwilioEmulator, app: FakeApplication) -> None:
    emulator.settings.answered_by = "machine_end_beep"
    emulator.settings.amd_seconds = 0.05

    async def wait(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await asyncio.sleep(0.5)
        await ws.close()

    app.stream_script = wait
    await _place(
        emulator,
        app,
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=f"{app.http_url}/twilio/amd",
    )
    await emulator.wait_for_call(next(iter(emulator.calls)), within=30)
    amd = [p for kind, p, valid in app.callbacks if kind == "amd" and valid]
    assert len(amd) == 1 and amd[0]["AnsweredBy"] == "machine_end_beep"


async def test_live_update_to_dial_transfers_and_dtmf_reaches_the_stream(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    emulator.scripts[TO] = CallerScript((Utterance(dtmf="7", barge_in_ms=0),), hang_up=False, max_wait_ms=200)

    async def transfer(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await ws.send(media(start["streamSid"], b"\x00" * 800))
        for _ in range(100):
            if app.events("dtmf"):
                break
            await asyncio.sleep(0.05)
        twiml = (
            "<Response><Say>Transferring you now.</Say><Dial><Number>+15550001111</Number></Dial></Response>"
        )
        await asyncio.to_thread(_client(emulator).calls(start["start"]["callSid"]).update, twiml=twiml)
        await ws.wait_closed()

    app.stream_script = transfer
    call = await emulator.wait_for_call(await _place(emulator, app), within=30)
    ((_, dtmf),) = app.events("dtmf")
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "7"}
    assert len(app.events("stop")) == 1
    assert call.dialed == ["+15550001111"] and call.spoken[-1] == "Transferring you now."
    assert call.status == "completed"


# --- what real Twilio does that the emulator now does too (issue 16) ----------------------------


async def _transfer_with(emulator: TwilioEmulator, app: FakeApplication, twiml: str) -> Any:
    async def transfer(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await asyncio.to_thread(_client(emulator).calls(start["start"]["callSid"]).update, twiml=twiml)
        await ws.wait_closed()

    app.stream_script = transfer
    return await emulator.wait_for_call(await _place(emulator, app), within=30)


async def test_verbs_after_dial_run_when_there_is_no_action(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    twiml = "<Response><Dial>+15550001111</Dial><Say>Sorry, nobody could take your call.</Say></Response>"
    call = await _transfer_with(emulator, app, twiml)
    # The transfer was answered and completed, and Twilio still speaks what follows <Dial>.
    assert call.dialed == ["+15550001111"] and call.dial_statuses == ["completed"]
    assert call.spoken[-1] == "Sorry, nobody could take your call."


async def test_dial_action_is_requested_with_dial_call_status(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    emulator.settings.dial_outcomes["+15550002222"] = "no-answer"
    app.replies["dial-action"] = "<Response><Say>Nobody answered.</Say></Response>"
    twiml = (
        f'<Response><Dial action="{app.http_url}/twilio/dial-action">+15550002222</Dial>'
        "<Say>Never spoken.</Say></Response>"
    )
    call = await _transfer_with(emulator, app, twiml)
    (action,) = [params for kind, params, valid in app.callbacks if kind == "dial-action" and valid]
    assert action["DialCallStatus"] == "no-answer" and action["CallSid"] == call.sid
    assert call.spoken[-1] == "Nobody answered." and "Never spoken." not in call.spoken


async def test_play_digits_are_played_and_an_undocumented_w_is_refused(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    call = await _transfer_with(
        emulator, app, '<Response><Play digits="12w#"/><Play digits="3W4"/></Response>'
    )
    assert call.played_digits == ["12w#"]
    assert any(w.code == 12200 and "3W4" in w.message for w in call.warnings)


async def _hang_up_after_a_moment(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
    await asyncio.sleep(0.3)
    await ws.close()


async def _place_recorded_call(emulator: TwilioEmulator, app: FakeApplication) -> str:
    """A dual-channel recorded call whose application hangs up after a moment; its SID once it ended."""
    app.stream_script = _hang_up_after_a_moment
    sid = await _place(
        emulator,
        app,
        record=True,
        recording_channels="dual",
        recording_status_callback=f"{app.http_url}/twilio/recording",
        recording_status_callback_event=["completed"],
    )
    await emulator.wait_for_call(sid, within=30)
    return sid


async def test_recorded_call_ends_with_a_signed_recording_callback(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    sid = await _place_recorded_call(emulator, app)
    (recording,) = [(params, valid) for kind, params, valid in app.callbacks if kind == "recording"]
    params, valid = recording
    assert valid and params["RecordingStatus"] == "completed" and params["CallSid"] == sid
    assert params["RecordingSid"].startswith("RE") and params["RecordingChannels"] == "2"


async def test_the_recording_url_serves_the_calls_stereo_wav(
    tmp_path: Any, emulator: TwilioEmulator, app: FakeApplication
) -> None:
    """RecordingUrl points at the emulator, which serves the recording there (the console plays it)."""
    import aiohttp

    emu = TwilioEmulator(
        EmulatorSettings(
            auth_token=emulator.settings.auth_token,  # the one the application checks signatures with
            allow_insecure_local_streams=True,
            ring_seconds=0.02,
            render=_beep,
            recordings_dir=tmp_path,
        )
    )
    await emu.start()
    try:
        await _place_recorded_call(emu, app)
        (params,) = [params for kind, params, _ in app.callbacks if kind == "recording"]
        url = params["RecordingUrl"]
        account, recording_sid = emu.settings.account_sid, params["RecordingSid"]
        assert url == f"{emu.base_url}/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"
        async with aiohttp.ClientSession() as session:
            for suffix in ("", ".wav"):
                async with session.get(url + suffix) as response:
                    assert response.status == 200 and response.content_type == "audio/x-wav"
                    body = await response.read()
                    assert body[:4] == b"RIFF" and body[22] == 2  # two channels: caller and bot
            for missing in (url + ".mp3", url[:-4] + "0000"):
                async with session.get(missing) as response:
                    assert response.status == 404 and (await response.json())["code"] == 20404
    finally:
        await emu.stop()


async def test_status_callbacks_can_arrive_late_and_twice(app: FakeApplication) -> None:
    settings = EmulatorSettings(
        allow_insecure_local_streams=True,
        ring_seconds=0.02,
        render=_beep,
        late_status_callbacks=frozenset({"ringing"}),
        duplicate_status_callbacks=True,
    )
    emulator = TwilioEmulator(settings)
    await emulator.start()
    app.auth_token = settings.auth_token
    try:

        async def hang_up(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
            await ws.close()

        app.stream_script = hang_up
        await emulator.wait_for_call(await _place(emulator, app), within=30)
    finally:
        await emulator.stop()
    statuses = [params["CallStatus"] for kind, params, _ in app.callbacks if kind == "status"]
    assert statuses == ["initiated"] * 2 + ["in-progress"] * 2 + ["ringing"] * 2 + ["completed"] * 2


async def test_webhook_rules_mode_signs_with_the_shared_key_and_sha256(app: FakeApplication) -> None:
    settings = EmulatorSettings(
        allow_insecure_local_streams=True,
        ring_seconds=0.02,
        render=_beep,
        webhook_shared_key=("HKrule", "shh"),
    )
    emulator = TwilioEmulator(settings)
    await emulator.start()
    try:
        # An application that only knows the Auth Token refuses every webhook...
        app.auth_token = settings.auth_token
        sid = await _place(emulator, app)
        await emulator.wait_for_call(sid, within=30)
        assert app.callbacks and not any(valid for _, _, valid in app.callbacks)
        # ...and one that knows the rule's key accepts them and the stream handshake.
        app.callbacks.clear()
        app.shared_keys["HKrule"] = "shh"

        async def hang_up(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
            await ws.close()

        app.stream_script = hang_up
        sid = await _place(emulator, app)
        call = await emulator.wait_for_call(sid, within=30)
    finally:
        await emulator.stop()
    assert app.callbacks and all(valid for _, _, valid in app.callbacks)
    assert app.handshake_signature_ok and call.stream_outcome is not None


def test_time_limit_runs_from_answer_and_is_capped_at_four_hours() -> None:
    from datetime import UTC, datetime, timedelta

    from local.twilio_emulator.call import CallFlow, EmulatedCall, FlowSettings
    from local.twilio_emulator.call_request import CallRequest
    from local.twilio_emulator.webhooks import WebhookClient

    def left(time_limit: int, answered_ago: float) -> float:
        request = CallRequest(
            to=TO, from_=FROM, url="https://a.example/x", twiml=None, time_limit_seconds=time_limit
        )
        call = EmulatedCall(sid="CA1", account_sid="AC1", request=request, script=None)
        call.start_time = datetime.now(UTC) - timedelta(seconds=answered_ago)
        return CallFlow(call, FlowSettings(auth_token="t"), WebhookClient("t"))._seconds_left()

    assert 89 <= left(100, answered_ago=10) <= 90  # the stream started 10 s after answer
    assert 4 * 3600 - 1 <= left(24 * 3600, answered_ago=0) <= 4 * 3600


@pytest.mark.parametrize(("outcome", "apology"), [("completed", False), ("no-answer", True), ("busy", True)])
async def test_transfer_twiml_speaks_only_when_the_dial_did_not_connect(
    emulator: TwilioEmulator, app: FakeApplication, outcome: str, apology: bool
) -> None:
    from callcore.twiml import TRANSFER_FAILED, dial_action_twiml, transfer_twiml

    emulator.settings.dial_outcomes["+15550003333"] = outcome
    app.replies["dial-action"] = lambda params: dial_action_twiml(params["DialCallStatus"])
    twiml = transfer_twiml("+15550003333", action_url=f"{app.http_url}/twilio/dial-action")
    call = await _transfer_with(emulator, app, twiml)
    assert call.dial_statuses == [outcome]
    assert (TRANSFER_FAILED in call.spoken) is apology


async def test_transfer_without_a_public_api_says_nothing_after_a_completed_dial(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    from callcore.twiml import transfer_twiml

    call = await _transfer_with(emulator, app, transfer_twiml("+15550004444"))
    assert call.dial_statuses == ["completed"] and call.spoken == []


async def test_send_digits_with_a_capital_w_is_played_as_two_half_second_pauses(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    from callcore.models import Persona
    from callcore.twiml import digits_twiml

    from stream_server.behaviours.intents import Conclude
    from stream_server.behaviours.tools import PlayDigits, ToolOptions, plan_tool_call
    from stream_server.providers.base import ToolCall

    persona = Persona(persona_id="p", name="P", voice_id="v", prompt="x", greeting="hi")
    options = ToolOptions(transfer_line="", transfer_failed="", send_digits=True)
    plan = plan_tool_call(ToolCall("send_digits", {"digits": "1W2"}), persona, options, spoke=False)
    assert plan is not None and isinstance(plan[0], Conclude) and isinstance(plan[0].update, PlayDigits)
    call = await _transfer_with(emulator, app, digits_twiml(plan[0].update.digits))
    assert call.played_digits == ["1ww2"] and not call.warnings


async def test_recording_started_mid_call_through_rest(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    """The Call Recordings resource, as the stream host uses it after the callee's consent."""

    async def wait(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
        await ws.wait_closed()

    app.stream_script = wait
    client = _client(emulator)
    with pytest.raises(TwilioRestException) as unknown:
        await asyncio.to_thread(client.calls("CA" + "0" * 32).recordings.create)
    assert unknown.value.status == 404
    sid = await _place(emulator, app)
    for _ in range(200):
        if app.events("start"):
            break
        await asyncio.sleep(0.05)
    with pytest.raises(TwilioRestException) as channels:
        await asyncio.to_thread(client.calls(sid).recordings.create, recording_channels="stereo")
    assert channels.value.code == 21205
    callback = f"{app.http_url}/twilio/recording"
    recording = await asyncio.to_thread(
        client.calls(sid).recordings.create,
        recording_channels="dual",
        recording_status_callback=callback,
        recording_status_callback_event=["completed"],
    )
    assert recording.sid.startswith("RE") and recording.call_sid == sid
    with pytest.raises(TwilioRestException) as twice:
        await asyncio.to_thread(client.calls(sid).recordings.create)
    assert twice.value.code == 21220
    await asyncio.to_thread(client.calls(sid).update, status="completed")
    await emulator.wait_for_call(sid, within=30)
    [done] = [p for kind, p, _ in app.callbacks if kind == "recording"]
    assert done["RecordingSid"] == recording.sid and done["RecordingStatus"] == "completed"
    assert done["RecordingChannels"] == "2" and done["RecordingSource"] == "StartCallRecordingAPI"
    with pytest.raises(TwilioRestException) as ended:
        await asyncio.to_thread(client.calls(sid).recordings.create)
    assert ended.value.code == 21220 and ended.value.status == 400


# --- the fault-injection switch (a per-call schedule) ---------------------------------------------


def test_call_fault_schedules_are_validated_and_combine() -> None:
    from local.twilio_emulator.faults import CallFaultError, conditions_for, parse_call_faults

    assert parse_call_faults(" ok, busy ,late_callbacks+duplicate_callbacks,") == [
        "ok",
        "busy",
        "late_callbacks+duplicate_callbacks",
    ]
    both = conditions_for("late_callbacks+duplicate_callbacks+transfer_busy")
    assert both.late_status_callbacks == {"ringing"} and both.duplicate_status_callbacks
    assert both.dial_outcome == "busy" and both.line is None and not both.refuse_redirects
    assert conditions_for("update_refused+transfer_busy").refuse_redirects
    with pytest.raises(CallFaultError, match=r"'engaged'.*busy, no-answer"):
        parse_call_faults("ok,engaged")


async def test_update_refused_fault_refuses_redirects_with_21220_and_lets_a_hang_up_through(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    import aiohttp

    refusals: list[TwilioRestException] = []

    async def transfer_then_hang_up(
        ws: ServerConnection, start: dict[str, Any], app: FakeApplication
    ) -> None:
        live = _client(emulator).calls(start["start"]["callSid"])
        for update in ({"twiml": "<Response><Dial>+15550001111</Dial></Response>"}, {"url": app.http_url}):
            try:
                await asyncio.to_thread(live.update, **update)
            except TwilioRestException as refused:
                refusals.append(refused)
        await asyncio.to_thread(live.update, status="completed")
        await ws.wait_closed()

    app.stream_script = transfer_then_hang_up
    emulator.inject("update_refused")
    sid = await _place(emulator, app)
    call = await emulator.wait_for_call(sid, within=30)
    # Both redirects were refused as Twilio refuses them, and neither ran; the hang-up went through.
    assert [(r.status, r.code) for r in refusals] == [(400, 21220), (400, 21220)]
    assert "not in-progress" in refusals[0].msg
    assert call.dialed == [] and call.status == "completed" and len(call.refused_updates) == 2
    # The body is Twilio's REST error shape, as the emulator's report keeps it.
    async with aiohttp.ClientSession() as http, http.get(f"{emulator.base_url}/_emulator/calls/{sid}") as got:
        (body, _) = (await got.json())["refused_updates"]
    assert body == {
        "code": 21220,
        "message": "Call is not in-progress. Cannot redirect.",
        "more_info": "https://www.twilio.com/docs/errors/21220",
        "status": 400,
    }


async def _hang_up_at_once(ws: ServerConnection, start: dict[str, Any], app: FakeApplication) -> None:
    await ws.close()


async def test_call_faults_hit_exactly_the_calls_scheduled(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    app.stream_script = _hang_up_at_once
    emulator.inject("busy", "ok", "duplicate_callbacks")
    sids = [await _place(emulator, app) for _ in range(3)]
    for sid in sids:
        await emulator.wait_for_call(sid, within=30)

    def statuses(sid: str) -> list[str]:
        return [p["CallStatus"] for kind, p, _ in app.callbacks if kind == "status" and p["CallSid"] == sid]

    busy, normal, doubled = sids
    assert statuses(busy) == ["initiated", "ringing", "busy"]
    assert statuses(normal) == ["initiated", "ringing", "in-progress", "completed"]
    assert statuses(doubled) == [s for s in statuses(normal) for _ in range(2)]


async def test_faults_route_schedules_a_failed_transfer_and_refuses_unknown_faults(
    emulator: TwilioEmulator, app: FakeApplication
) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        url = f"{emulator.base_url}/_emulator/faults"
        async with http.post(url, json={"calls": ["ok", "teleported"]}) as refused:
            assert refused.status == 400 and "'teleported'" in (await refused.json())["message"]
        async with http.post(url, json={"calls": ["transfer_no_answer"]}) as accepted:
            assert accepted.status == 204
    twiml = "<Response><Dial>+15550009999</Dial></Response>"
    call = await _transfer_with(emulator, app, twiml)  # nothing of the refused schedule was kept
    assert call.dial_statuses == ["no-answer"]
