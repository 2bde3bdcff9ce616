"""Security controls seen from outside: the local stack's HTTP API with two API keys.

The stack runs without the stream host (nothing here needs a live call's audio): moto, the
template-driven API with the real handlers, and the Twilio emulator.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from twilio.request_validator import RequestValidator

from local.stack import LocalStack
from tests.e2e.conftest import api, record_when, started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KEY_A, KEY_B, KEY_C = "key-a-secret", "key-b-secret", "key-c-secret"
CALLS_PER_DAY = 4
TERMINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    base = {
        "LOCAL_API_KEYS": f"{KEY_A}:user-a,{KEY_B}:user-b,{KEY_C}:user-c",
        "MAX_CALLS_PER_DAY_PER_USER": str(CALLS_PER_DAY),
        "MAX_CONCURRENT_CALLS_PER_USER": "10",
    }
    recordings = tmp_path_factory.mktemp("recordings")
    async with started_stack(recordings, base, stream_host=False, quiet=True) as local:
        yield local


def persona_body(**overrides: Any) -> dict[str, Any]:
    return {"voice_id": "v1", "prompt": "Be brief.", "greeting": "Hello!", **overrides}


# -- toll fraud ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("+19005550123", "premium rate"),
        ("+18765551234", "region JM"),
        ("+12845550123", "region VG"),
        ("+16495550123", "region TC"),
        ("+881612345678", "country codes"),
    ],
)
async def test_premium_and_one_ring_destinations_are_refused(stack: LocalStack, to: str, why: str) -> None:
    status, body = await api(
        stack, "POST", "/calls", key=KEY_A, json={"to": to, "persona_id": "receptionist"}
    )
    assert status == 403, body
    assert body["error"] == "destination_not_allowed" and why in body["message"], body


async def test_transfer_number_is_checked_with_the_dial_policy(stack: LocalStack) -> None:
    status, body = await api(
        stack, "PUT", "/personas/a-transfer", key=KEY_A, json=persona_body(transfer_number="+19005550123")
    )
    assert status == 400 and "transfer_number" in body["message"] and "premium" in body["message"], body
    status, body = await api(
        stack, "PUT", "/personas/a-transfer", key=KEY_A, json=persona_body(transfer_number="+14155550188")
    )
    assert status == 200, body


async def test_a_key_that_spent_its_daily_calls_gets_429(stack: LocalStack) -> None:
    body = {
        "to": "+14155550160",
        "persona_id": "appointment-reminder",
        "variables": {"first_name": "Sam", "appointment_time": "Friday at ten"},
    }
    for _ in range(CALLS_PER_DAY):
        status, placed = await api(stack, "POST", "/calls", key=KEY_C, json=body)
        assert status == 202, placed
    status, refused = await api(stack, "POST", "/calls", key=KEY_C, json=body)
    assert status == 429 and refused["error"] == "daily_budget_exhausted", refused
    assert f"its {CALLS_PER_DAY} calls for today" in refused["message"]
    # Another key's budget is its own.
    status, placed = await api(stack, "POST", "/calls", key=KEY_B, json=body)
    assert status == 202, placed


# -- tenants ---------------------------------------------------------------------------------------


async def test_a_key_sees_and_changes_only_its_own_personas(stack: LocalStack) -> None:
    status, mine = await api(
        stack, "PUT", "/personas/a-sales", key=KEY_A, json=persona_body(greeting="Hi from A")
    )
    assert status == 200 and mine["template"] is False, mine

    # Key B can neither read, list, overwrite nor call with key A's persona.
    assert (await api(stack, "GET", "/personas/a-sales", key=KEY_B))[0] == 404
    status, listed = await api(stack, "GET", "/personas", key=KEY_B)
    assert "a-sales" not in {p["persona_id"] for p in listed["personas"]}
    status, body = await api(
        stack, "PUT", "/personas/a-sales", key=KEY_B, json=persona_body(greeting="pwned")
    )
    assert status == 409 and body["error"] == "persona_id_taken", body
    status, body = await api(
        stack, "POST", "/calls", key=KEY_B, json={"to": "+14155550142", "persona_id": "a-sales"}
    )
    assert status == 404 and body["error"] == "persona_not_found", body

    # Key A still has its own version, and lists it beside the templates.
    status, got = await api(stack, "GET", "/personas/a-sales", key=KEY_A)
    assert status == 200 and got["greeting"] == "Hi from A"
    status, listed = await api(stack, "GET", "/personas", key=KEY_A)
    ids = {p["persona_id"]: p["template"] for p in listed["personas"]}
    assert ids["a-sales"] is False and ids["appointment-reminder"] is True


async def test_templates_are_read_only_and_copyable(stack: LocalStack) -> None:
    status, template = await api(stack, "GET", "/personas/appointment-reminder", key=KEY_B)
    assert status == 200 and template["template"] is True
    copy = {k: v for k, v in template.items() if k != "persona_id"}  # "template" is ignored on PUT
    status, body = await api(stack, "PUT", "/personas/appointment-reminder", key=KEY_B, json=copy)
    assert status == 403 and body["error"] == "persona_read_only", body
    status, body = await api(
        stack, "PUT", "/personas/b-reminder", key=KEY_B, json={**copy, "greeting": "B's copy"}
    )
    assert status == 200, body
    status, again = await api(stack, "GET", "/personas/appointment-reminder", key=KEY_A)
    assert again["greeting"] == template["greeting"]


async def test_the_inbound_persona_is_not_writable_through_the_api(stack: LocalStack) -> None:
    for key in (KEY_A, KEY_B, stack.api_key):
        status, body = await api(
            stack, "PUT", "/personas/receptionist", key=key, json=persona_body(record=True)
        )
        assert status == 403 and body["error"] == "persona_reserved", body


# -- bad input is a 4xx naming the field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        ('{"to": "+14155550123", "persona_id": "receptionist", "metadata": {"x": NaN}}', 400, "NaN"),
        ('{"to": "+14155550123", "persona_id": "receptionist", "metadata": {"x": 1e400}}', 400, "range"),
        (
            '{"to": "+14155550123", "persona_id": "receptionist", "metadata": {"x": -Infinity}}',
            400,
            "Infinity",
        ),
        (
            '{"to": "+14155550123", "persona_id": "receptionist", "metadata": {"n": 1' + "0" * 40 + "}}",
            400,
            "38",
        ),
        ("[" * 100_000 + "]" * 100_000, 413, "bytes"),
        ("[" * 5000 + "]" * 5000, 400, "nested"),
        (
            '{"to": "+14155550123", "persona_id": "receptionist", '
            '"metadata": {"a": {"b": {"c": {"d": {"e": 1}}}}}}',
            400,
            "'metadata.a.b.c.d' is nested deeper",
        ),
        ('{"to": "+14155550123", "persona_id": "receptionist", "metadata": {"": 1}}', 400, "keys"),
        ('{"to": 14155550123, "persona_id": "receptionist"}', 400, "'to'"),
    ],
)
async def test_malformed_call_requests_are_4xx(stack: LocalStack, raw: str, status: int, needle: str) -> None:
    got, body = await api(
        stack, "POST", "/calls", key=KEY_A, data=raw.encode(), headers={"content-type": "application/json"}
    )
    assert got == status and needle in body["message"], body


async def test_malformed_persona_bodies_are_4xx(stack: LocalStack) -> None:
    raw = '{"voice_id": "v", "prompt": "p", "greeting": "g", "max_duration_seconds": NaN}'
    status, body = await api(stack, "PUT", "/personas/a-nan", key=KEY_A, data=raw.encode())
    assert status == 400 and "NaN" in body["message"], body
    status, body = await api(
        stack, "PUT", "/personas/a-deep", key=KEY_A, data=("[" * 3000 + "]" * 3000).encode()
    )
    assert status == 400, body


# -- Twilio webhooks -------------------------------------------------------------------------------


async def signed_post(
    stack: LocalStack, path: str, form: dict[str, str], *, signature: str | None = None
) -> tuple[int, str]:
    url = f"{stack.env['PUBLIC_API_URL']}{path}"
    if signature is None:
        signature = RequestValidator(stack.env["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.api_url}{path}", data=form, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_unsigned_and_oversized_webhooks_are_refused_before_parsing(stack: LocalStack) -> None:
    status, body = await signed_post(stack, "/twilio/status/any", {"CallSid": "CA1"}, signature="")
    assert status == 403 and "missing" in body
    huge = {"CallSid": "CA1", "Junk": "x" * (64 * 1024)}
    status, body = await signed_post(stack, "/twilio/status/any", huge)
    assert status == 413 and "body_too_large" in body


async def test_a_replayed_answer_webhook_mints_no_token_after_the_call_ended(stack: LocalStack) -> None:
    status, placed = await api(
        stack,
        "POST",
        "/calls",
        key=KEY_A,
        json={
            "to": "+14155550177",
            "persona_id": "appointment-reminder",
            "variables": {"first_name": "Sam", "appointment_time": "Friday at ten"},
        },
    )
    assert status == 202, placed
    record = await record_when(
        stack, placed["call_id"], lambda r: r["status"] in TERMINAL and r.get("call_sid"), key=KEY_A
    )
    form = {
        "CallSid": record["call_sid"],
        "AccountSid": stack.env["TWILIO_ACCOUNT_SID"],
        "CallStatus": "in-progress",
    }
    status, twiml = await signed_post(stack, f"/twilio/answer/{placed['call_id']}", form)
    assert status == 200 and "<Stream" not in twiml and "token" not in twiml and "<Hangup" in twiml, twiml


async def test_a_second_stream_for_a_live_call_is_refused(stack: LocalStack) -> None:
    # An inbound call: the first answer connects; once its stream has started, a replay does not.
    call_sid = "CA" + "7" * 32
    inbound = {"CallSid": call_sid, "To": stack.env["TWILIO_FROM_NUMBER"], "From": "+14155550190"}
    status, first = await signed_post(stack, "/twilio/answer", inbound)
    assert status == 200 and "<Stream" in first, first
    call_id = re.search(r'name="call_id" value="([^"]+)"', first)
    assert call_id is not None
    started = {"CallSid": call_sid, "StreamSid": "MZ" + "1" * 32, "StreamEvent": "stream-started"}
    status, _ = await signed_post(stack, f"/twilio/stream-status/{call_id.group(1)}", started)
    assert status == 200
    status, replay = await signed_post(stack, "/twilio/answer", inbound)
    assert status == 200 and "<Stream" not in replay and "<Hangup" in replay, replay


async def test_persona_pages_walk_own_personas_then_templates(stack: LocalStack) -> None:
    for name in ("b-page-1", "b-page-2", "b-page-3"):
        assert (await api(stack, "PUT", f"/personas/{name}", key=KEY_B, json=persona_body()))[0] == 200
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api(stack, "GET", f"/personas{query}", key=KEY_B)
        assert status == 200 and len(page["personas"]) <= 2, page
        seen += [p["persona_id"] for p in page["personas"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {"b-page-1", "b-page-2", "b-page-3"} <= set(seen)
    assert "appointment-reminder" in seen and "receptionist" in seen
    assert not any(s.startswith("a-") for s in seen) and len(seen) == len(set(seen))
