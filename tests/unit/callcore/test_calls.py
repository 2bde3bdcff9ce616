from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from callcore.calls import CallPlacementError, CallRequest, parse_call_request, place_call
from callcore.models import CallStatus
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.twilio_rest import twilio_client

from local.fake_twilio_rest import FakeTwilioRest
from tests.factories import persona

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASE = "https://api.example.com/dev"


def _settings(fake: FakeTwilioRest, **overrides: Any) -> Settings:
    return Settings(twilio_api_base_url=fake.base_url, max_concurrent_calls_per_user=2, **overrides)


def _repo(table: Any, *, machine_detection: bool = True, record: bool = True) -> CallRepository:
    repo = CallRepository(table)
    repo.put_persona(persona(machine_detection=machine_detection, record=record, max_duration_seconds=300))
    return repo


def _place(repo: CallRepository, settings: Settings, key: str | None = None, to: str = "+14155550123") -> Any:
    client = twilio_client(settings)
    return place_call(
        repo=repo,
        settings=settings,
        user_id="u1",
        request=CallRequest(to=to, persona_id="p"),
        idempotency_key=key,
        base_url=BASE,
        now=NOW,
        dial=lambda kwargs: str(client.calls.create(**kwargs).sid),
    )


def test_places_a_call_through_the_real_twilio_client(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = _repo(ddb_table)
    placed = _place(repo, settings)
    assert placed.dialled and placed.status is CallStatus.QUEUED and placed.call_sid.startswith("CA")
    [request] = fake_twilio.calls_created
    assert request.path == f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Calls.json"
    assert request.account == settings.twilio_account_sid
    form = request.form
    assert form["To"] == ["+14155550123"] and form["From"] == [settings.twilio_from_number]
    assert form["Url"] == [f"{BASE}/twilio/answer/{placed.call_id}"]
    assert form["StatusCallback"] == [f"{BASE}/twilio/status/{placed.call_id}"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["MachineDetection"] == ["Enable"] and form["AsyncAmd"] == ["true"]
    assert form["MachineDetectionTimeout"] == ["30"]  # explicit: the stream host reads the result for longer
    assert form["AsyncAmdStatusCallback"] == [f"{BASE}/twilio/status/{placed.call_id}"]
    assert form["Record"] == ["true"] and form["RecordingChannels"] == ["dual"]
    assert form["RecordingStatusCallback"] == [f"{BASE}/twilio/recording/{placed.call_id}"]
    assert form["TimeLimit"] == ["345"]  # 300 s + room for the goodbye (Twilio counts from answer)
    assert all("?" not in form[k][0] for k in ("Url", "StatusCallback"))
    stored = repo.get_call(placed.call_id)
    assert stored is not None and stored.call_sid == placed.call_sid and stored.holds_slot
    assert repo.find_call_id_by_sid(placed.call_sid) == placed.call_id
    assert repo.active_calls("u1") == 1


def test_same_key_never_dials_twice(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = _repo(ddb_table)
    first = _place(repo, settings, key="k1")
    second = _place(repo, settings, key="k1")
    assert first.call_id == second.call_id and not second.dialled
    assert len(fake_twilio.calls_created) == 1
    assert repo.active_calls("u1") == 1


def test_crash_after_dial_claim_is_not_redialled(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = _repo(ddb_table)

    def crash(_kwargs: dict[str, Any]) -> str:
        raise SystemExit("lambda died mid-flight")  # not an Exception: nothing gets marked failed

    with pytest.raises(SystemExit):
        place_call(
            repo=repo,
            settings=settings,
            user_id="u1",
            request=CallRequest("+14155550123", "p"),
            idempotency_key="k2",
            base_url=BASE,
            now=NOW,
            dial=crash,
        )
    retry = _place(repo, settings, key="k2")
    assert not retry.dialled and fake_twilio.calls_created == []


def test_twilio_error_becomes_502_and_failed_record(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = _repo(ddb_table)
    fake_twilio.fail_with = (400, 21215, "Account not authorized to call +14155550123")
    with pytest.raises(CallPlacementError) as refused:
        _place(repo, settings, key="k3")
    assert refused.value.status == 502 and "21215" in refused.value.message
    record = repo.get_call(refused.value.call_id or "")
    assert record is not None and record.status is CallStatus.FAILED
    assert record.error is not None and record.error["code"] == "21215" and record.error["source"] == "dial"
    assert "geographic permissions" in record.error["message"]
    assert repo.active_calls("u1") == 0
    # A retry with the same key gets the same answer and does not dial again.
    with pytest.raises(CallPlacementError):
        _place(repo, settings, key="k3")
    assert len(fake_twilio.calls_created) == 1


def test_concurrency_limit(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = _repo(ddb_table)
    _place(repo, settings)
    _place(repo, settings)
    with pytest.raises(CallPlacementError) as limited:
        _place(repo, settings)
    assert limited.value.status == 429
    assert len(fake_twilio.calls_created) == 2


def test_unknown_persona_writes_nothing(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    settings = _settings(fake_twilio)
    repo = CallRepository(ddb_table)
    with pytest.raises(CallPlacementError) as missing:
        _place(repo, settings)
    assert missing.value.status == 404
    assert ddb_table.scan()["Items"] == [] and fake_twilio.requests == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([], 400, "invalid_body"),
        ({"persona_id": "p"}, 400, "missing_field"),
        ({"to": "+14155550123"}, 400, "missing_field"),
        ({"to": "4155550123", "persona_id": "p"}, 400, "invalid_phone_number"),
        ({"to": "+447700900123", "persona_id": "p"}, 403, "destination_not_allowed"),
        ({"to": "+14155550123", "persona_id": "p", "metadata": []}, 400, "invalid_metadata"),
        ({"to": "+14155550123", "persona_id": "p", "metadata": {"x": "y" * 3000}}, 400, "metadata_too_large"),
        ({"to": "+14155550123", "persona_id": "p", "extra": 1}, 400, "unknown_field"),
    ],
)
def test_request_validation(body: object, status: int, code: str) -> None:
    with pytest.raises(CallPlacementError) as refused:
        parse_call_request(body, Settings())
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.to_json()["message"]


def test_daily_minutes_are_reserved_then_given_back(ddb_table: Any, fake_twilio: FakeTwilioRest) -> None:
    """Each call reserves its persona's maximum (300 s); the unused part returns when it ends."""
    from callcore.status import apply_call_callback

    settings = dataclasses.replace(
        _settings(fake_twilio), max_call_minutes_per_day_per_user=10, max_concurrent_calls_per_user=5
    )
    repo = _repo(ddb_table)
    first, second = _place(repo, settings), _place(repo, settings)
    with pytest.raises(CallPlacementError) as spent:
        _place(repo, settings)
    assert spent.value.status == 429 and spent.value.code == "daily_budget_exhausted"
    assert "10 call minutes" in spent.value.message
    assert repo.active_calls("u1") == 2  # the refused call's slot was given back
    day = NOW.strftime("%Y-%m-%d")
    assert repo.daily_budget_used("u1", day) == (2, 600)
    record = repo.get_call(first.call_id)
    assert record is not None
    done = {"CallSid": record.call_sid or "", "CallStatus": "completed", "CallDuration": "60"}
    apply_call_callback(repo, first.call_id, done, now=NOW)
    apply_call_callback(repo, first.call_id, done, now=NOW)  # a duplicate refunds nothing more
    assert repo.daily_budget_used("u1", day) == (2, 360)
    with pytest.raises(CallPlacementError):  # 360 s used or reserved + 300 s more > 600 s
        _place(repo, settings)
    record = repo.get_call(second.call_id)
    assert record is not None
    unanswered = {"CallSid": record.call_sid or "", "CallStatus": "no-answer"}
    apply_call_callback(repo, second.call_id, unanswered, now=NOW)
    assert repo.daily_budget_used("u1", day) == (2, 60)
    assert _place(repo, settings).dialled
