"""The campaign engine through its Lambda handlers: scheduler -> SQS (moto) -> dialer -> fake
Twilio -> signed status callback -> recipient moved on. The window is open all week so the
assertions hold whenever the test runs (fixed-clock window tests are in tests/unit/campaigns)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from callcore.campaign_repository import CampaignRepository
from callcore.models import Persona
from callcore.repository import CallRepository

from local.fake_twilio_rest import FakeTwilioRest
from local.proxy_events import api_event
from tests.unit.functions.conftest import signed_event

ALWAYS = {"start": "00:00", "end": "23:59", "outside_default_hours": True}
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture
def engine(handler_env: Any, ddb_table: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="campaign-dial")["QueueUrl"]
    monkeypatch.setenv("CAMPAIGN_QUEUE_URL", url)
    CallRepository(ddb_table).put_persona(
        Persona(persona_id="reminder", name="R", voice_id="v", prompt="Remind {{name}}.", greeting="Hi")
    )
    return {
        "sqs": sqs,
        "url": url,
        "api": handler_env("campaigns"),
        "scheduler": handler_env("campaign_scheduler"),
        "dialer": handler_env("campaign_dialer"),
        "status": handler_env("twilio_status"),
    }


def _receive(engine: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        got = (
            engine["sqs"].receive_message(QueueUrl=engine["url"], MaxNumberOfMessages=10).get("Messages", [])
        )
        if not got:
            return messages
        messages += got


def _sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:campaign-dial",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def test_scheduler_queue_dialer_and_status_callback(
    engine: dict[str, Any], ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    body = {
        "persona_id": "reminder",
        "window": ALWAYS,
        "days": ALL_DAYS,
        "max_concurrent": 2,
        "retry": {"no_answer": 1, "backoff_minutes": 60},
        "recipients": [{"to": f"+1212555010{n}", "variables": {"name": f"N{n}"}} for n in range(3)],
    }
    created = engine["api"].lambda_handler(
        api_event("POST", "/campaigns", body=body, api_key_id="u1"), lambda_context
    )
    campaign_id = json.loads(created["body"])["campaign_id"]

    assert engine["scheduler"].lambda_handler({}, lambda_context) == {"campaigns": 1, "queued": 2}
    messages = _receive(engine)
    assert len(messages) == 2  # max_concurrent
    event = _sqs_event(messages)
    assert engine["dialer"].lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    # The same batch delivered again (SQS is at-least-once) places no new call.
    assert engine["dialer"].lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(fake_twilio.calls_created) == 2

    first = fake_twilio.calls_created[0].form
    call_id = first["StatusCallback"][0].rsplit("/", 1)[-1]
    record = CallRepository(ddb_table).get_call(call_id)
    assert record is not None and record.variables == {"name": f"N{record.metadata['campaign_row'] - 1}"}
    form = {"CallSid": "CA1", "AccountSid": "AC1", "CallStatus": "no-answer", "CallDuration": "0"}
    callback = signed_event("/twilio/status/{call_id}", form, path_params={"call_id": call_id})
    assert engine["status"].lambda_handler(callback, lambda_context)["statusCode"] == 200
    # The freed slot was refilled from the callback: the third recipient is on the queue now.
    refill = _receive(engine)
    assert [json.loads(m["Body"])["row"] for m in refill] == [3]

    campaign = CampaignRepository(ddb_table).get(campaign_id)
    assert campaign is not None
    assert (
        campaign.counts["pending"] == 1 and campaign.counts["calling"] == 1 and campaign.counts["queued"] == 1
    )
    assert campaign.live == 1
    got = engine["api"].lambda_handler(
        api_event(
            "GET", "/campaigns/{campaign_id}", path_params={"campaign_id": campaign_id}, api_key_id="u1"
        ),
        lambda_context,
    )
    page = json.loads(got["body"])["recipient_page"]
    retried = next(r for r in page if r["last_outcome"] == "no_answer")
    assert retried["state"] == "pending" and retried["attempts"] == 1 and retried["call_ids"] == [call_id]
    assert retried["next_attempt_at"] > "2026"


def test_a_broken_message_is_reported_back_to_the_queue(engine: dict[str, Any], lambda_context: Any) -> None:
    """Only the failing record returns to the queue (and, after maxReceiveCount, the DLQ)."""
    unknown = json.dumps({"campaign_id": "gone", "row": 1, "attempt": 1})
    event = _sqs_event(
        [
            {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "not json", "MD5OfBody": "x"},
            {"MessageId": "m2", "ReceiptHandle": "r2", "Body": unknown, "MD5OfBody": "y"},
        ]
    )
    assert engine["dialer"].lambda_handler(event, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}]
    }
