"""Twilio failures become the record's ``error: {code, message, source}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from callcore.models import CallStatus
from callcore.repository import CallRepository
from callcore.status import apply_call_callback, apply_stream_callback
from callcore.twilio_errors import (
    EXPLANATIONS,
    error_from_call_callback,
    error_from_stream_callback,
    explain,
    update_refused_by_twilio,
)
from twilio.base.exceptions import TwilioRestException

from tests.factories import repository_with_call

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", ["12100", "11200", "31920", "31921", "31924", "21211", "21215", "13227"])
def test_the_codes_users_meet_have_an_explanation(code: str) -> None:
    line = explain(code)
    assert line is not None and len(line) < 240 and "\n" not in line


def test_every_explanation_is_one_line() -> None:
    assert all("\n" not in text for text in EXPLANATIONS.values())


# What Twilio's error dictionary (twilio.com/docs/api/errors/<code>) says each code is, as words our
# line must carry; checked on 2026-11-30 (the geographic-permission codes 13227, 21215 and 32205 from
# Twilio's support article on Voice Geo Permissions, which lists those three).
DICTIONARY = {
    "11200": "retrieval failure",  # HTTP retrieval failure
    "11205": "connection failure",  # HTTP connection failure
    "12100": "parse",  # Document parse failure
    "13224": "valid",  # Dial: Twilio does not support calling this number or the number is invalid
    "13226": "country code",  # Dial: Invalid country code
    "13227": "geographic permissions",  # Dial: No International Authorization
    "20003": "credentials",  # Authentication Error
    "20429": "Too many requests",  # Too Many Requests
    "21210": "verified caller ID",  # 'From' phone number not verified
    "21211": "not a valid phone number",  # Invalid 'To' Phone Number
    "21215": "geographic permissions",  # Geo Permission configuration is not permitting call
    "21216": "blocks",  # API: Call blocked by Twilio
    "21217": "valid phone number",  # Phone number does not appear to be valid
    "21220": "no longer in progress",  # Invalid call state
    "31901": "in time",  # Stream - WebSocket - Connection Timeout
    "31902": "refused",  # Stream - WebSocket - Connection Refused
    "31903": "abruptly",  # Stream - WebSocket - Connection Broken Pipe
    "31920": "101",  # Stream - WebSocket - Handshake Error (an HTTP code other than 101)
    "31921": "closed by the stream host",  # Stream - WebSocket - Close Error
    "31922": "wss",  # Stream - WebSocket - URL Schema Not Supported
    "31923": "malformed",  # Stream - WebSocket - Malformed URL
    "31924": "protocol error",  # Stream - Websocket - Protocol Error
    "32205": "geographic permissions",
    "573005": "verification",  # Destination number has not completed verification (trial)
}


def test_every_explanation_says_what_twilios_dictionary_says() -> None:
    assert set(EXPLANATIONS) == set(DICTIONARY)
    for code, words in DICTIONARY.items():
        assert words.lower() in EXPLANATIONS[code].lower(), code


def test_callback_error_code_keeps_twilios_words_and_adds_ours() -> None:
    error = error_from_call_callback(
        {"CallStatus": "completed", "ErrorCode": "12100", "ErrorMessage": "Document parse failure"}
    )
    assert error is not None
    assert (error["code"], error["source"]) == ("12100", "call")
    assert error["message"].startswith("Document parse failure (") and "TwiML" in error["message"]


@pytest.mark.parametrize(
    ("form", "code", "words"),
    [
        ({"CallStatus": "busy"}, "busy", "busy"),
        ({"CallStatus": "no-answer"}, "no-answer", "answered"),
        ({"CallStatus": "failed", "SipResponseCode": "404"}, "failed", "does not exist"),
        ({"CallStatus": "failed", "ErrorCode": "13227"}, "13227", "geographic permissions"),
    ],
)
def test_final_statuses_without_success_carry_a_reason(form: dict[str, str], code: str, words: str) -> None:
    error = error_from_call_callback(form)
    assert error is not None and error["code"] == code and words in error["message"]


def test_successful_calls_have_no_error() -> None:
    assert error_from_call_callback({"CallStatus": "completed", "CallDuration": "30"}) is None
    assert error_from_call_callback({"CallStatus": "in-progress"}) is None


def test_stream_error_keeps_the_text_and_finds_the_code_in_it() -> None:
    error = error_from_stream_callback(
        {"StreamEvent": "stream-error", "StreamError": "31920: Stream - WebSocket - Handshake Error"}
    )
    assert error is not None and (error["code"], error["source"]) == ("31920", "stream")
    assert "Handshake Error" in error["message"] and "101" in error["message"]
    assert error_from_stream_callback({"StreamEvent": "stream-started"}) is None
    other = error_from_stream_callback({"StreamEvent": "stream-error", "StreamError": "boom"})
    assert other is not None and other["code"] == "stream-error" and other["message"] == "boom"


def _repo(table: Any) -> CallRepository:
    return repository_with_call(table, status=CallStatus.RINGING, at="2026-11-30T12:00:00.000Z")


def test_busy_callback_puts_the_error_on_the_record(repo_table: Any) -> None:
    repo = _repo(repo_table)
    apply_call_callback(repo, "c1", {"CallStatus": "busy", "SipResponseCode": "486"}, now=NOW)
    record = repo.get_call("c1")
    assert record is not None and record.status is CallStatus.BUSY and record.error is not None
    assert record.error["code"] == "busy" and record.error["sip_response_code"] == "486"
    assert record.to_json()["error"]["source"] == "call"


def test_the_first_error_explains_the_call(repo_table: Any) -> None:
    repo = _repo(repo_table)
    apply_stream_callback(
        repo, "c1", {"StreamEvent": "stream-error", "StreamError": "31921 closed by server"}, now=NOW
    )
    apply_call_callback(
        repo, "c1", {"CallStatus": "completed", "ErrorCode": "31920", "ErrorMessage": "x"}, now=NOW
    )
    record = repo.get_call("c1")
    assert record is not None and record.status is CallStatus.COMPLETED
    assert record.error is not None and (record.error["code"], record.error["source"]) == ("31921", "stream")


# --- a live update that did not happen: `update_error` -------------------------------------------


def test_a_refused_update_keeps_twilios_code_status_and_words_with_numbers_masked() -> None:
    raised = TwilioRestException(
        400,
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1.json",
        msg="Unable to update record: Call is not in-progress. Cannot redirect. Dialled +14155550199.",
        code=21220,
        method="POST",
    )
    refusal = update_refused_by_twilio("transfer", raised, at="2026-11-30T12:00:00Z")
    assert {k: refusal[k] for k in ("code", "source", "update", "http_status", "at")} == {
        "code": "21220",
        "source": "update",
        "update": "transfer",
        "http_status": 400,
        "at": "2026-11-30T12:00:00Z",
    }
    assert refusal["message"].startswith("Call is not in-progress. Cannot redirect. Dialled +1*")
    assert "no longer in progress" in refusal["message"]  # our explanation of 21220 follows
    assert "4155550199" not in refusal["message"]


@pytest.mark.parametrize(
    ("raised", "code"),
    [(TimeoutError(), "timeout"), (ConnectionError("connection refused"), "unavailable")],
    ids=["no-answer-in-time", "network"],
)
def test_an_update_twilio_never_answered_still_says_why(raised: Exception, code: str) -> None:
    refusal = update_refused_by_twilio("digits", raised, at="t")
    assert (refusal["code"], refusal["update"], refusal["source"]) == (code, "digits", "update")
    assert refusal["message"] and "http_status" not in refusal
