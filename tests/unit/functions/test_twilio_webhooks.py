from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import boto3
import pytest
from callcore.models import CallStatus
from callcore.repository import CallRepository
from callcore.tokens import verify_stream_token

from tests.factories import persona, repository_with_call
from tests.unit.functions.conftest import PUBLIC_API_URL, STREAM_SECRET, STREAM_URL, signed_event

SECRET_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
SECRET_KEY = "stream-key-from-the-secret-0123456789abcdef"


def _seed(table: Any, *, call_sid: str | None = None) -> CallRepository:
    repo = repository_with_call(table, call_sid=call_sid)
    repo.put_persona(persona())
    repo.put_persona(persona(persona_id="receptionist", name="R"))
    return repo


def _stream(response: dict[str, Any]) -> ET.Element:
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["text/xml"]
    stream = ET.fromstring(response["body"].encode()).find("Connect/Stream")
    assert stream is not None
    return stream


def test_answer_returns_stream_twiml_with_a_valid_token(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    repo = _seed(ddb_table)
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA9", "AccountSid": "AC1", "CallStatus": "in-progress", "CallerCity": ""}
    event = signed_event("/twilio/answer/{call_id}", form, path_params={"call_id": "c1"})
    stream = _stream(handler.lambda_handler(event, lambda_context))
    assert stream.get("url") == STREAM_URL
    assert stream.get("statusCallback") == f"{PUBLIC_API_URL}/twilio/stream-status/c1"
    params = {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter")}
    assert params["call_id"] == "c1" and params["persona_id"] == "p"
    claims = verify_stream_token(
        STREAM_SECRET, params["token"], call_sid="CA9", now=__import__("time").time()
    )
    assert claims.call_id == "c1"
    assert repo.find_call_id_by_sid("CA9") == "c1"  # answer arrived before the trigger stored the SID


@pytest.mark.parametrize("tamper", ["token", "body", "url", "missing"])
def test_answer_rejects_bad_signatures_with_403(
    handler_env: Any, ddb_table: Any, lambda_context: Any, tamper: str
) -> None:
    repo = _seed(ddb_table)
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA9"}
    event = signed_event(
        "/twilio/answer/{call_id}",
        form,
        path_params={"call_id": "c1"},
        token="wrong" if tamper == "token" else "test-auth-token",
        public_url="https://evil.example.com" if tamper == "url" else PUBLIC_API_URL,
    )
    if tamper == "body":
        event["body"] = "CallSid=CA10"
    if tamper == "missing":
        del event["headers"]["X-Twilio-Signature"]
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 403 and json.loads(response["body"])["error"] == "invalid_signature"
    assert repo.find_call_id_by_sid("CA9") is None


def test_answer_for_unknown_call_says_sorry_and_hangs_up(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    _seed(ddb_table)
    handler = handler_env("twilio_answer")
    event = signed_event("/twilio/answer/{call_id}", {"CallSid": "CA9"}, path_params={"call_id": "ghost"})
    response = handler.lambda_handler(event, lambda_context)
    root = ET.fromstring(response["body"].encode())
    assert response["statusCode"] == 200 and [c.tag for c in root] == ["Say", "Hangup"]


def test_inbound_answer_creates_a_record(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    repo = _seed(ddb_table)
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA77", "From": "+14155550100", "To": "+15005550006", "Direction": "inbound"}
    stream = _stream(handler.lambda_handler(signed_event("/twilio/answer", form), lambda_context))
    params = {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter")}
    record = repo.get_call(params["call_id"])
    assert record is not None and record.direction == "inbound" and record.persona_id == "receptionist"
    wrong_number = signed_event("/twilio/answer", {**form, "To": "+15005550001"})
    root = ET.fromstring(handler.lambda_handler(wrong_number, lambda_context)["body"].encode())
    assert root.find("Hangup") is not None


def test_execute_api_and_custom_domain_urls_without_public_url(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PUBLIC_API_URL", "")
    _seed(ddb_table)
    handler = handler_env("twilio_status")
    form = {"CallSid": "CA9", "CallStatus": "ringing"}
    stage_event = signed_event(
        "/twilio/status/{call_id}",
        form,
        path_params={"call_id": "c1"},
        public_url="https://abc123.execute-api.us-east-1.amazonaws.com/dev",
    )
    assert handler.lambda_handler(stage_event, lambda_context)["statusCode"] == 200
    domain_event = signed_event(
        "/twilio/status/{call_id}",
        {**form, "CallStatus": "in-progress"},
        path_params={"call_id": "c1"},
        public_url="https://calls.example.com/voice",
        host="calls.example.com",
        base_path="/voice",
    )
    assert handler.lambda_handler(domain_event, lambda_context)["statusCode"] == 200
    wrong_stage = signed_event(
        "/twilio/status/{call_id}",
        form,
        path_params={"call_id": "c1"},
        public_url="https://abc123.execute-api.us-east-1.amazonaws.com/prod",
    )
    assert handler.lambda_handler(wrong_stage, lambda_context)["statusCode"] == 403


def test_status_callbacks_drive_the_record(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    repo = _seed(ddb_table, call_sid="CA9")
    handler = handler_env("twilio_status")
    for form in (
        {"CallSid": "CA9", "CallStatus": "completed", "CallDuration": "12"},
        {"CallSid": "CA9", "CallStatus": "ringing"},
        {"CallSid": "CA9", "CallStatus": "completed", "CallDuration": "12"},
    ):
        event = signed_event("/twilio/status/{call_id}", form, path_params={"call_id": "c1"})
        assert handler.lambda_handler(event, lambda_context)["statusCode"] == 200
    rec_event = signed_event(
        "/twilio/recording/{call_id}",
        {
            "CallSid": "CA9",
            "RecordingStatus": "completed",
            "RecordingUrl": "https://rec.example/RE1",
            "RecordingSid": "RE1",
        },
        path_params={"call_id": "c1"},
    )
    assert handler.lambda_handler(rec_event, lambda_context)["statusCode"] == 200
    stream_event = signed_event(
        "/twilio/stream-status/{call_id}",
        {"StreamEvent": "stream-stopped", "StreamSid": "MZ1"},
        path_params={"call_id": "c1"},
    )
    assert handler.lambda_handler(stream_event, lambda_context)["statusCode"] == 200
    record = repo.get_call("c1")
    assert record is not None and record.status is CallStatus.COMPLETED and record.duration_seconds == 12
    assert record.recording_url == "https://rec.example/RE1" and record.stream_event == "stream-stopped"
    assert repo.active_calls("u1") == 0
    forged = signed_event(
        "/twilio/status/{call_id}", {"CallStatus": "failed"}, path_params={"call_id": "c1"}, token="x"
    )
    assert handler.lambda_handler(forged, lambda_context)["statusCode"] == 403


def _twilio_secret(name: str) -> str:
    """The ARN of a Twilio secret in Secrets Manager, as deployed: SID, auth token and stream-token key."""
    secret = {"account_sid": "AC" + "1" * 32, "auth_token": SECRET_TOKEN, "stream_token_secret": SECRET_KEY}
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return str(client.create_secret(Name=name, SecretString=json.dumps(secret))["ARN"])


def test_auth_token_from_secrets_manager(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    _seed(ddb_table, call_sid="CA9")
    monkeypatch.setenv("TWILIO_SECRET_ARN", _twilio_secret("voice/twilio"))
    handler = handler_env("twilio_status")
    form = {"CallSid": "CA9", "CallStatus": "ringing"}
    good = signed_event("/twilio/status/{call_id}", form, path_params={"call_id": "c1"}, token=SECRET_TOKEN)
    env_token = signed_event("/twilio/status/{call_id}", form, path_params={"call_id": "c1"})
    assert handler.lambda_handler(env_token, lambda_context)["statusCode"] == 403
    assert handler.lambda_handler(good, lambda_context)["statusCode"] == 200


def test_stream_token_is_signed_with_the_key_from_secrets_manager(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    """In AWS the key comes from the Twilio secret, never from a plain environment variable."""
    import time

    from callcore.tokens import InvalidStreamToken

    _seed(ddb_table)
    monkeypatch.setenv("TWILIO_SECRET_ARN", _twilio_secret("voice/twilio-answer"))
    handler = handler_env("twilio_answer")
    event = signed_event(
        "/twilio/answer/{call_id}", {"CallSid": "CA9"}, path_params={"call_id": "c1"}, token=SECRET_TOKEN
    )
    stream = _stream(handler.lambda_handler(event, lambda_context))
    token = {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter")}["token"]
    assert verify_stream_token(SECRET_KEY, token, call_sid="CA9", now=time.time()).call_id == "c1"
    with pytest.raises(InvalidStreamToken):
        verify_stream_token(STREAM_SECRET, token, call_sid="CA9", now=time.time())


@pytest.mark.parametrize(
    ("dial_call_status", "apology"),
    [("completed", False), ("answered", False), ("no-answer", True), ("busy", True), ("failed", True)],
)
def test_dial_action_apologises_only_when_the_transfer_did_not_connect(
    handler_env: Any, ddb_table: Any, lambda_context: Any, dial_call_status: str, apology: bool
) -> None:
    _seed(ddb_table, call_sid="CA9")
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA9", "DialCallStatus": dial_call_status, "DialCallSid": "CA7"}
    event = signed_event("/twilio/dial-action/{call_id}", form, path_params={"call_id": "c1"})
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 200 and response["multiValueHeaders"]["Content-Type"] == ["text/xml"]
    document = ET.fromstring(response["body"].encode())
    assert [v.tag for v in document] == (["Say", "Hangup"] if apology else ["Hangup"])


def test_dial_action_refuses_a_forged_request(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    handler = handler_env("twilio_answer")
    event = signed_event(
        "/twilio/dial-action/{call_id}",
        {"DialCallStatus": "no-answer"},
        path_params={"call_id": "c1"},
        token="x",
    )
    assert handler.lambda_handler(event, lambda_context)["statusCode"] == 403


def test_answer_signed_by_a_webhook_rule_connects_when_its_key_is_configured(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.twilio_emulator.webhooks import Signer

    _seed(ddb_table)
    form = {"CallSid": "CA9", "AccountSid": "AC1", "CallStatus": "in-progress"}
    event = signed_event("/twilio/answer/{call_id}", form, path_params={"call_id": "c1"})
    headers = Signer("unused", "HKrule", "rule-secret").sign(f"{PUBLIC_API_URL}/twilio/answer/c1", form)
    event["headers"].update(headers)
    refused = handler_env("twilio_answer").lambda_handler(event, lambda_context)
    assert refused["statusCode"] == 403  # the account signs with a rule key we were not given
    monkeypatch.setenv("TWILIO_WEBHOOK_SHARED_KEYS", "HKrule=rule-secret")
    _stream(handler_env("twilio_answer").lambda_handler(event, lambda_context))


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [("https://calls.example.com/v1", 503), ("http://127.0.0.1:3000", 200)],
)
def test_placeholder_secrets_stop_webhooks_on_a_public_url(
    handler_env: Any,
    ddb_table: Any,
    lambda_context: Any,
    monkeypatch: Any,
    public_url: str,
    expected: int,
) -> None:
    """With auth_token "set-me" anyone could sign; so nothing is served until it is replaced."""
    _seed(ddb_table, call_sid="CA9")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "set-me")
    monkeypatch.setenv("PUBLIC_API_URL", public_url)
    for name in ("twilio_answer", "twilio_status"):
        handler = handler_env(name)
        kind = "answer" if name == "twilio_answer" else "status"
        forged = signed_event(
            f"/twilio/{kind}/{{call_id}}",
            {"CallSid": "CA9", "CallStatus": "ringing"},
            path_params={"call_id": "c1"},
            token="set-me",
            public_url=public_url,
        )
        response = handler.lambda_handler(forged, lambda_context)
        assert response["statusCode"] == expected, response
        if expected == 503:
            assert json.loads(response["body"])["error"] == "not_configured"
            assert "set-me" not in response["body"]


def test_inbound_line_never_answers_with_a_persona_a_key_wrote(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    repo = CallRepository(ddb_table)
    monkeypatch.setenv("INBOUND_PERSONA_ID", "front-desk")
    assert repo.save_owned_persona(persona(persona_id="front-desk", name="F"), "attacker")
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA5", "To": "+15005550006", "From": "+14155550123"}
    response = handler.lambda_handler(signed_event("/twilio/answer", form), lambda_context)
    assert response["statusCode"] == 200
    assert "<Stream" not in response["body"] and "<Hangup" in response["body"]


def test_an_inbound_call_gets_its_time_limit_once_its_stream_starts(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any, fake_twilio: Any
) -> None:
    """Outbound calls carry `TimeLimit` from `calls.create`; an inbound one gets it by a live update."""
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    repo = _seed(ddb_table, call_sid="CA9")
    repo.put_persona(persona(persona_id="receptionist", name="R", max_duration_seconds=300))
    answer = handler_env("twilio_answer")
    form = {"CallSid": "CA77", "From": "+14155550100", "To": "+15005550006", "Direction": "inbound"}
    stream = _stream(answer.lambda_handler(signed_event("/twilio/answer", form), lambda_context))
    inbound_id = {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter")}["call_id"]
    status = handler_env("twilio_status")
    for call_id, sid in (("c1", "CA9"), (inbound_id, "CA77")):  # outbound first: no update for it
        started = {"CallSid": sid, "StreamSid": "MZ1", "StreamEvent": "stream-started"}
        event = signed_event("/twilio/stream-status/{call_id}", started, path_params={"call_id": call_id})
        assert status.lambda_handler(event, lambda_context)["statusCode"] == 200
    updates = [r for r in fake_twilio.requests if not r.path.endswith("/Calls.json")]
    assert [r.path.rsplit("/", 1)[1] for r in updates] == ["CA77.json"]
    assert updates[0].form["TimeLimit"] == [str(300 + 45)]  # the persona's maximum plus the goodbye
    assert "Status" not in updates[0].form and "Twiml" not in updates[0].form  # the call goes on


def test_a_failed_time_limit_update_still_answers_twilio_200(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any, fake_twilio: Any
) -> None:
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    _seed(ddb_table)
    answer = handler_env("twilio_answer")
    form = {"CallSid": "CA77", "From": "+14155550100", "To": "+15005550006"}
    stream = _stream(answer.lambda_handler(signed_event("/twilio/answer", form), lambda_context))
    inbound_id = {p.get("name"): p.get("value") or "" for p in stream.findall("Parameter")}["call_id"]
    fake_twilio.fail_with = (500, 20500, "Internal Server Error")
    started = {"CallSid": "CA77", "StreamSid": "MZ1", "StreamEvent": "stream-started"}
    event = signed_event("/twilio/stream-status/{call_id}", started, path_params={"call_id": inbound_id})
    assert handler_env("twilio_status").lambda_handler(event, lambda_context)["statusCode"] == 200
    assert len(fake_twilio.requests) >= 1


def _fleet(repo: CallRepository, *reports: tuple[int, int, float]) -> None:
    from callcore.fleet import TaskSlots

    for n, (live, capacity, age) in enumerate(reports):
        repo.report_task_slots(TaskSlots(f"task-{n}", live, capacity, __import__("time").time() - age))


@pytest.mark.parametrize(
    ("reports", "refused"),
    [
        ([(100, 100, 5), (100, 100, 20)], True),  # every fresh task is full
        ([(100, 100, 5), (99, 100, 20)], False),  # one slot left
        ([(100, 100, 5), (0, 0, 1)], True),  # the other task is draining
        ([(100, 100, 500)], False),  # only a stale report: unknown, so connect
        ([], False),  # no report at all (first deploy, local run)
    ],
)
def test_outbound_answer_refuses_politely_when_the_fleet_is_full(
    handler_env: Any, ddb_table: Any, lambda_context: Any, reports: list[Any], refused: bool
) -> None:
    repo = _seed(ddb_table)
    _fleet(repo, *reports)
    handler = handler_env("twilio_answer")
    event = signed_event("/twilio/answer/{call_id}", {"CallSid": "CA9"}, path_params={"call_id": "c1"})
    response = handler.lambda_handler(event, lambda_context)
    if not refused:
        _stream(response)
        return
    assert response["statusCode"] == 200
    document = ET.fromstring(response["body"].encode())
    assert [verb.tag for verb in document] == ["Say", "Hangup"]  # answered already: say why
    assert "lines are busy" in (document.find("Say").text or "")  # type: ignore[union-attr]
    record = repo.get_call("c1")
    assert record is not None and record.end_reason == "no_stream_capacity"


def test_inbound_answer_rejects_as_busy_when_the_fleet_is_full(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    repo = _seed(ddb_table)
    _fleet(repo, (10, 10, 1))
    handler = handler_env("twilio_answer")
    form = {"CallSid": "CA77", "From": "+14155550100", "To": "+15005550006"}
    response = handler.lambda_handler(signed_event("/twilio/answer", form), lambda_context)
    document = ET.fromstring(response["body"].encode())
    assert [(verb.tag, verb.get("reason")) for verb in document] == [("Reject", "busy")]  # never answered
    _fleet(repo, (9, 10, 1))
    _stream(handler.lambda_handler(signed_event("/twilio/answer", form), lambda_context))


def test_webhook_rule_keys_come_from_the_twilio_secret(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In AWS the Webhook Rules keys live in the Twilio secret, not in a plain environment value."""
    from callcore.credentials import twilio_credentials
    from callcore.settings import Settings

    from local.twilio_emulator.webhooks import Signer

    _seed(ddb_table)
    secret = {
        "account_sid": "AC" + "1" * 32,
        "auth_token": SECRET_TOKEN,
        "stream_token_secret": SECRET_KEY,
        "webhook_shared_keys": "HKrule=rule-secret-from-secrets-manager",
    }
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="voice/twilio-rules", SecretString=json.dumps(secret)
    )["ARN"]
    monkeypatch.setenv("TWILIO_SECRET_ARN", arn)
    monkeypatch.delenv("TWILIO_WEBHOOK_SHARED_KEYS", raising=False)
    form = {"CallSid": "CA9", "AccountSid": "AC1", "CallStatus": "in-progress"}
    event = signed_event("/twilio/answer/{call_id}", form, path_params={"call_id": "c1"}, token=SECRET_TOKEN)
    signer = Signer("unused", "HKrule", "rule-secret-from-secrets-manager")
    event["headers"].update(signer.sign(f"{PUBLIC_API_URL}/twilio/answer/c1", form))
    _stream(handler_env("twilio_answer").lambda_handler(event, lambda_context))
    creds = twilio_credentials(Settings.from_env())
    assert "rule-secret-from-secrets-manager" not in repr(creds) and "HKrule" in repr(creds)


def test_the_stream_host_reads_webhook_rule_keys_from_the_injected_secret() -> None:
    from callcore.settings import Settings, SettingsError

    secret = json.dumps({"auth_token": SECRET_TOKEN, "webhook_shared_keys": "HKa=one,HKb=two"})
    settings = Settings.from_env({"TWILIO_SECRET_JSON": secret})
    assert settings.twilio_webhook_shared_keys == (("HKa", "one"), ("HKb", "two"))
    assert (
        Settings.from_env({"TWILIO_SECRET_JSON": json.dumps({"auth_token": "x"})}).twilio_webhook_shared_keys
        == ()
    )
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"TWILIO_SECRET_JSON": "{not json " + SECRET_TOKEN})
    assert SECRET_TOKEN not in str(error.value)
