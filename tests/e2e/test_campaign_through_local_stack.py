"""A small campaign through the real local stack: API -> DynamoDB (moto) -> scheduler loop ->
SQS (moto) -> dialer handler -> Twilio emulator (phones that answer, are busy, never answer, or are
voicemail) -> stream host -> signed status callbacks -> recipients in their final states.

The window is open all week (with outside_default_hours) so the test does not depend on when it
runs; windows on a fixed clock are in tests/unit/campaigns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from local.stack import LocalStack
from local.twilio_emulator.caller import CallerScript, Utterance
from tests.e2e.conftest import api, started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HUMAN, BUSY, NO_ANSWER, VOICEMAIL = "+12125550141", "+12125550142", "+12125550143", "+12125550144"
LISTED, LISTED_LATER = "+12125550145", "+12125550146"
OPTS_OUT = "+12125550147"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with started_stack(tmp_path_factory.mktemp("recordings"), {"LOCAL_SCHEDULE_SECONDS": "1"}) as local:
        yield local


async def test_campaign_reaches_final_states_and_never_dials_listed_numbers(stack: LocalStack) -> None:
    emulator = stack.emulator
    assert emulator is not None
    emulator.lines.update({BUSY: "busy", NO_ANSWER: "no-answer"})
    emulator.voicemail.add(VOICEMAIL)
    emulator.scripts[HUMAN] = CallerScript((), hang_up=True)  # hangs up after the greeting
    emulator.scripts[VOICEMAIL] = CallerScript((), hang_up=False)
    # Asks by voice not to be called again: the bot confirms, lists the number and hangs up.
    emulator.scripts[OPTS_OUT] = CallerScript((Utterance("Please don't call me again."),), hang_up=False)
    assert (await api(stack, "PUT", f"/do-not-call/{LISTED}"))[0] == 200
    rows = [HUMAN, BUSY, NO_ANSWER, VOICEMAIL, LISTED, HUMAN, LISTED_LATER, OPTS_OUT]
    # The example persona's placeholders are filled from the CSV's columns.
    csv_text = "to,first_name,appointment_time\n" + "".join(f"{n},Ann,10:30\n" for n in rows)
    query = {
        "persona_id": "appointment-reminder",
        "window_start": "00:00",
        "window_end": "23:59",
        "outside_default_hours": "true",
        "days": "mon,tue,wed,thu,fri,sat,sun",
        "max_concurrent": "2",
        "retry_busy": "0",
        "retry_no_answer": "0",
        "retry_failed": "2",  # an opt-out is never retried, whatever the policy
    }
    status, created = await api(
        stack, "POST", "/campaigns", data=csv_text, params=query, headers={"Content-Type": "text/csv"}
    )
    assert status == 202, created
    assert [(r["row"], r["error"]) for r in created["refused"]] == [(5, "do_not_call"), (6, "duplicate")]
    # Listed after submission: the dialer's own check refuses it.
    assert (await api(stack, "PUT", f"/do-not-call/{LISTED_LATER}"))[0] == 200
    campaign_id = created["campaign_id"]

    deadline = asyncio.get_running_loop().time() + 240
    campaign: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        _, campaign = await api(stack, "GET", f"/campaigns/{campaign_id}")
        if campaign["state"] == "completed":
            break
        await asyncio.sleep(0.5)
    assert campaign["state"] == "completed", (campaign["counts"], campaign["recipient_page"])
    states = {r["to"]: r["state"] for r in campaign["recipient_page"]}
    assert states == {
        HUMAN: "answered",
        BUSY: "busy",
        NO_ANSWER: "no_answer",
        VOICEMAIL: "voicemail",
        LISTED_LATER: "do_not_call",
        OPTS_OUT: "opted_out",
    }
    assert campaign["live_calls"] == 0
    dialled = [call.request.to for call in emulator.calls.values()]
    assert LISTED not in dialled and LISTED_LATER not in dialled
    assert sorted(dialled) == sorted([HUMAN, BUSY, NO_ANSWER, VOICEMAIL, OPTS_OUT])  # one attempt each
    status, listed = await api(stack, "GET", "/do-not-call", params={"number": OPTS_OUT})
    opted = next(r for r in campaign["recipient_page"] if r["to"] == OPTS_OUT)
    assert status == 200 and listed["listed"] is True and listed["source"] == "opt_out", listed
    assert listed["call_id"] == opted["call_ids"][0]
    _, opted_record = await api(stack, "GET", f"/calls/{opted['call_ids'][0]}")
    assert opted_record["opted_out"] is True and opted_record["end_reason"] == "opted-out"
    # A campaign call discloses first (the example persona has no text of its own: the default one).
    assert opted_record["disclosure_played_at"]
    assert opted_record["turns"][0]["text"].startswith("Hello, this is"), opted_record["turns"][0]
    # The call records say which campaign they belong to, through GET /calls/{id}.
    human = next(r for r in campaign["recipient_page"] if r["to"] == HUMAN)
    status, record = await api(stack, "GET", f"/calls/{human['call_ids'][0]}")
    assert (
        status == 200 and record["metadata"]["campaign_id"] == campaign_id and record["status"] == "completed"
    )
