"""The campaign engine on moto with a fixed clock and real time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from callcore.campaign_engine import idempotency_key_for
from callcore.campaigns import CampaignError, RecipientState
from callcore.do_not_call import add_number

from tests.unit.campaigns.harness import CampaignHarness

MONDAY_0900_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 06:00 in Los Angeles
MONDAY_0900_LA = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
LA = "+14155550101"
LA2 = "+14155550102"
NY = "+12125550101"
VARS = {"name": "Ada", "time": "3 pm"}


@pytest.fixture
def harness(ddb_table: Any) -> CampaignHarness:
    return CampaignHarness(ddb_table)


def _body(*numbers: str, **extra: Any) -> dict[str, Any]:
    return {"persona_id": "reminder", "recipients": [{"to": n, "variables": VARS} for n in numbers], **extra}


def _recipient(h: CampaignHarness, campaign_id: str, row: int) -> Any:
    recipient = h.campaigns.get_recipient(campaign_id, row)
    assert recipient is not None
    return recipient


def test_recipient_outside_its_window_waits_for_local_nine(harness: CampaignHarness) -> None:
    submitted = harness.submit(_body(NY, LA), now=MONDAY_0900_NY)
    cid = submitted.campaign.campaign_id
    assert _recipient(harness, cid, 2).next_attempt_at == "2026-11-30T17:00:00.000Z"
    first = harness.schedule(MONDAY_0900_NY)
    assert [m.row for m in first] == [1]  # New York is open, Los Angeles is not
    assert harness.dial(first[0], MONDAY_0900_NY) == "dialled"
    assert harness.schedule(MONDAY_0900_LA - timedelta(minutes=1)) == []
    later = harness.schedule(MONDAY_0900_LA)
    assert [m.row for m in later] == [2]
    assert harness.dial(later[0], MONDAY_0900_LA) == "dialled"
    assert [d.to for d in harness.dialled] == [NY, LA]


def test_campaign_calls_carry_the_rows_variables_and_the_campaign_webhook(harness: CampaignHarness) -> None:
    body = _body(NY, webhook_url="http://127.0.0.1:9/campaign-events")
    harness.submit(body, now=MONDAY_0900_NY)
    [message] = harness.schedule(MONDAY_0900_NY)
    harness.dial(message, MONDAY_0900_NY)
    record = harness.calls.get_call(harness.dialled[0].call_id)
    assert record is not None and record.variables == VARS
    assert record.webhook_url == "http://127.0.0.1:9/campaign-events"
    bad = _body(NY, webhook_url="http://10.0.0.1/hook")
    with pytest.raises(CampaignError) as error:
        harness.submit(bad, now=MONDAY_0900_NY)
    assert error.value.field == "webhook_url"


def test_a_message_that_arrives_after_the_window_closed_is_not_dialled(harness: CampaignHarness) -> None:
    cid = harness.submit(_body(NY), now=MONDAY_0900_NY).campaign.campaign_id
    [message] = harness.schedule(MONDAY_0900_NY)
    evening = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 20:00 in New York: closed
    assert harness.dial(message, evening) == "outside_window"
    recipient = _recipient(harness, cid, 1)
    assert (
        recipient.state is RecipientState.PENDING and recipient.next_attempt_at == "2026-12-01T14:00:00.000Z"
    )
    assert harness.dialled == []


def test_no_answer_is_retried_after_the_backoff_exactly_per_policy(harness: CampaignHarness) -> None:
    body = _body(NY, retry={"no_answer": 1, "backoff_minutes": 30})
    cid = harness.submit(body, now=MONDAY_0900_NY).campaign.campaign_id
    [message] = harness.schedule(MONDAY_0900_NY)
    harness.dial(message, MONDAY_0900_NY)
    ended = MONDAY_0900_NY + timedelta(minutes=1)
    assert harness.end_call(harness.dialled[0].call_id, "no-answer", ended) == "pending"
    recipient = _recipient(harness, cid, 1)
    assert recipient.next_attempt_at == "2026-11-30T14:31:00.000Z" and recipient.attempts == 1
    assert harness.schedule(ended + timedelta(minutes=29)) == []
    [retry] = harness.schedule(ended + timedelta(minutes=30))
    assert retry.attempt == 2
    harness.dial(retry, ended + timedelta(minutes=30))
    second = harness.dialled[1]
    assert second.call_id != harness.dialled[0].call_id
    # The one retry is used up: a second no-answer is final.
    assert harness.end_call(second.call_id, "no-answer", ended + timedelta(minutes=31)) == "no_answer"
    recipient = _recipient(harness, cid, 1)
    assert recipient.attempts == 2 and recipient.outcome_counts == {"no_answer": 2}
    assert len(recipient.call_ids) == 2
    campaign = harness.campaigns.get(cid)
    assert campaign is not None and campaign.live == 0 and campaign.counts["no_answer"] == 1
    assert harness.schedule(ended + timedelta(hours=5)) == []
    completed = harness.campaigns.get(cid)
    assert completed is not None and completed.state.value == "completed"


def test_outcomes_map_to_final_states(harness: CampaignHarness) -> None:
    numbers = ["+12125550111", "+12125550112", "+12125550113"]
    body = _body(*numbers, retry={"no_answer": 0, "busy": 0, "voicemail": 0, "failed": 0})
    cid = harness.submit(body, now=MONDAY_0900_NY).campaign.campaign_id
    for message in harness.schedule(MONDAY_0900_NY):
        harness.dial(message, MONDAY_0900_NY)
    by_to = {d.to: d.call_id for d in harness.dialled}
    assert harness.end_call(by_to[numbers[0]], "completed", MONDAY_0900_NY, answered_by="human") == "answered"
    assert harness.end_call(
        by_to[numbers[1]], "completed", MONDAY_0900_NY, answered_by="machine_end_beep"
    ) == ("voicemail")
    assert harness.end_call(by_to[numbers[2]], "busy", MONDAY_0900_NY) == "busy"
    campaign = harness.campaigns.get(cid)
    assert campaign is not None
    assert {k: v for k, v in campaign.counts.items() if v} == {"answered": 1, "voicemail": 1, "busy": 1}


def test_a_duplicate_delivery_does_not_dial_twice(harness: CampaignHarness) -> None:
    harness.submit(_body(NY), now=MONDAY_0900_NY)
    [message] = harness.schedule(MONDAY_0900_NY)
    assert harness.dial(message, MONDAY_0900_NY) == "dialled"
    assert harness.dial(message, MONDAY_0900_NY) == "duplicate"
    assert len(harness.dialled) == 1
    # A stale message of an earlier attempt is ignored too, even after the recipient moved on.
    harness.end_call(harness.dialled[0].call_id, "busy", MONDAY_0900_NY)
    assert harness.dial(message, MONDAY_0900_NY) == "duplicate"
    assert len(harness.dialled) == 1


def test_the_same_attempt_places_one_call_even_if_the_claim_is_lost(harness: CampaignHarness) -> None:
    """Two dialers racing past the claim still share one call id: place_call dials it once."""
    cid = harness.submit(_body(NY), now=MONDAY_0900_NY).campaign.campaign_id
    key = idempotency_key_for(cid, 1, 1)
    from callcore.calls import CallRequest, call_id_for, place_call

    request = CallRequest(to=NY, persona_id="reminder", metadata={}, variables=VARS)
    sids = iter(["CA1", "CA2"])
    for _ in range(2):
        place_call(
            repo=harness.calls,
            settings=harness.settings,
            user_id="u1",
            request=request,
            idempotency_key=key,
            base_url="https://api.example.com",
            now=MONDAY_0900_NY,
            dial=lambda kwargs: next(sids),
        )
    record = harness.calls.get_call(call_id_for("u1", key))
    assert record is not None and record.call_sid == "CA1"


def test_do_not_call_numbers_are_refused_up_front_and_before_each_dial(harness: CampaignHarness) -> None:
    add_number(harness.calls, "u1", LA2, now=MONDAY_0900_NY)
    submitted = harness.submit(_body(NY, LA2, "+12125550199"), now=MONDAY_0900_NY)
    assert [(r["row"], r["error"]) for r in submitted.refused] == [(2, "do_not_call")]
    # Added after submission: the dialer checks again.
    add_number(harness.calls, "u1", "+12125550199", now=MONDAY_0900_NY)
    outcomes = [harness.dial(m, MONDAY_0900_NY) for m in harness.schedule(MONDAY_0900_NY)]
    assert sorted(outcomes) == ["dialled", "do_not_call"]
    assert [d.to for d in harness.dialled] == [NY]
    # Rows keep their submitted numbers: row 2 was refused, row 3 is now on the list.
    assert harness.campaigns.get_recipient(submitted.campaign.campaign_id, 2) is None
    assert _recipient(harness, submitted.campaign.campaign_id, 3).state is RecipientState.DO_NOT_CALL


def test_slots_are_held_to_max_concurrent_and_refilled_when_a_call_ends(harness: CampaignHarness) -> None:
    numbers = [f"+1212555{n:04d}" for n in range(200, 206)]
    cid = harness.submit(_body(*numbers, max_concurrent=2), now=MONDAY_0900_NY).campaign.campaign_id
    messages = harness.schedule(MONDAY_0900_NY)
    assert len(messages) == 2
    for message in messages:
        harness.dial(message, MONDAY_0900_NY)
    assert harness.schedule(MONDAY_0900_NY) == []  # both slots live
    harness.end_call(harness.dialled[0].call_id, "completed", MONDAY_0900_NY)
    # The finished call's callback refilled its slot at once (no scheduler tick needed).
    [refill] = harness.queue.drain()
    assert harness.dial(refill, MONDAY_0900_NY) == "dialled"
    campaign = harness.campaigns.get(cid)
    assert campaign is not None and campaign.live == 2


def test_pause_stops_new_dials_and_cancel_lets_live_calls_finish(harness: CampaignHarness) -> None:
    from callcore.campaigns import CampaignState

    numbers = [f"+1212555{n:04d}" for n in range(300, 304)]
    cid = harness.submit(_body(*numbers, max_concurrent=2), now=MONDAY_0900_NY).campaign.campaign_id
    first, second = harness.schedule(MONDAY_0900_NY)
    harness.dial(first, MONDAY_0900_NY)
    at = "2026-11-30T14:00:00.000Z"
    assert harness.campaigns.set_state(cid, CampaignState.PAUSED, allowed_from=[CampaignState.ACTIVE], at=at)
    assert harness.dial(second, MONDAY_0900_NY) == "paused"
    harness.end_call(harness.dialled[0].call_id, "completed", MONDAY_0900_NY)
    assert harness.schedule(MONDAY_0900_NY) == [] and len(harness.dialled) == 1
    assert harness.campaigns.set_state(cid, CampaignState.ACTIVE, allowed_from=[CampaignState.PAUSED], at=at)
    resumed = harness.schedule(MONDAY_0900_NY)
    harness.dial(resumed[0], MONDAY_0900_NY)
    assert harness.campaigns.set_state(
        cid, CampaignState.CANCELLED, allowed_from=[CampaignState.ACTIVE], at=at
    )
    harness.schedule(MONDAY_0900_NY)  # sweeps the waiting recipients
    live_call = harness.dialled[-1].call_id
    assert harness.calls.get_call(live_call) is not None
    assert harness.end_call(live_call, "completed", MONDAY_0900_NY) == "answered"  # not cut, not retried
    campaign = harness.campaigns.get(cid)
    assert campaign is not None and campaign.unfinished == 0 and campaign.live == 0
    assert campaign.counts["cancelled"] == 2 and campaign.counts["answered"] == 2


def test_a_recipient_who_opts_out_is_never_called_again(harness: CampaignHarness) -> None:
    """The stream host's opt_out tool writes through `CallRepository.record_opt_out` mid-call."""
    body = _body(NY, retry={"no_answer": 3, "busy": 3, "voicemail": 3, "failed": 3, "backoff_minutes": 5})
    cid = harness.submit(body, now=MONDAY_0900_NY).campaign.campaign_id
    [message] = harness.schedule(MONDAY_0900_NY)
    harness.dial(message, MONDAY_0900_NY)
    call_id = harness.dialled[0].call_id
    entry = harness.calls.record_opt_out(call_id, at="2026-11-30T14:00:30+00:00")
    assert entry is not None and entry.number == NY and entry.source == "opt_out" and entry.call_id == call_id
    # Twilio reports the hang-up as an ordinary completed, human-answered call.
    state = harness.end_call(call_id, "completed", MONDAY_0900_NY, answered_by="human")
    assert state == "opted_out"
    recipient = _recipient(harness, cid, 1)
    assert recipient.last_outcome == "opted_out" and recipient.next_attempt_at is None
    assert harness.schedule(MONDAY_0900_NY + timedelta(days=3)) == []
    assert len(harness.dialled) == 1
    campaign = harness.campaigns.get(cid)
    assert campaign is not None and campaign.counts["opted_out"] == 1 and campaign.live == 0
    # The same key's next campaign refuses the number up front; the list is the API's own.
    again = harness.submit(_body(NY, LA), now=MONDAY_0900_NY + timedelta(days=1))
    assert [(r["row"], r["error"]) for r in again.refused] == [(1, "do_not_call")]
    assert harness.calls.record_opt_out("no-such-call", at="2026-11-30T14:00:30+00:00") is None
