"""A key whose daily call budget is spent: campaign recipients wait for the next budget day."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from callcore.calls import BudgetDay, budget_day
from callcore.campaign_engine import next_budget_day
from callcore.campaigns import RecipientState

from tests.unit.campaigns.harness import CampaignHarness

MONDAY_0900_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
VARS = {"name": "Ada", "time": "3 pm"}


def test_next_budget_day_is_the_next_utc_midnight() -> None:
    assert next_budget_day(MONDAY_0900_NY) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_budget_day(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2026, 12, 2, tzinfo=UTC)


def test_the_budget_day_turns_at_midnight_utc_to_the_millisecond() -> None:
    last = budget_day(datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=UTC))
    first = budget_day(datetime(2026, 12, 1, tzinfo=UTC))
    assert last == BudgetDay(day="2026-11-30", next_starts_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert first == BudgetDay(day="2026-12-01", next_starts_at=datetime(2026, 12, 2, tzinfo=UTC))
    assert next_budget_day(datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=UTC)) == datetime(
        2026, 12, 1, tzinfo=UTC
    )
    assert next_budget_day(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2026, 12, 2, tzinfo=UTC)


def test_the_budget_day_of_an_instant_written_in_another_zone_is_its_utc_date() -> None:
    # 19:30 in New York on 30 November is 00:30 UTC on 1 December: that UTC day is charged.
    evening_ny = datetime(2026, 11, 30, 19, 30, tzinfo=ZoneInfo("America/New_York"))
    assert budget_day(evening_ny) == BudgetDay("2026-12-01", datetime(2026, 12, 2, tzinfo=UTC))
    assert next_budget_day(evening_ny) == datetime(2026, 12, 2, tzinfo=UTC)
    # 09:00 on 1 December in Kiritimati (UTC+14) is still 30 November in UTC.
    morning_kiritimati = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=14)))
    assert budget_day(morning_kiritimati).day == "2026-11-30"
    assert next_budget_day(morning_kiritimati) == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_naive_datetime_names_no_instant_and_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        budget_day(datetime(2026, 11, 30, 12, 0))


def test_place_call_charges_the_utc_day_of_an_instant_given_in_another_zone(ddb_table: Any) -> None:
    harness = CampaignHarness(ddb_table)
    harness.settings = dataclasses.replace(harness.settings, max_calls_per_day_per_user=1)
    body = {"persona_id": "reminder", "recipients": [{"to": "+12125550101", "variables": VARS}]}
    harness.submit(body, now=MONDAY_0900_NY)
    evening_ny = datetime(2026, 11, 30, 19, 30, tzinfo=ZoneInfo("America/New_York"))  # 00:30 UTC, 1 Dec
    [message] = harness.schedule(evening_ny)
    assert harness.dial(message, evening_ny) == "dialled"
    assert harness.calls.daily_budget_used("u1", "2026-12-01")[0] == 1
    assert harness.calls.daily_budget_used("u1", "2026-11-30")[0] == 0


def test_a_spent_daily_budget_parks_the_recipient_until_the_next_day_without_an_attempt(
    ddb_table: Any,
) -> None:
    harness = CampaignHarness(ddb_table)
    harness.settings = dataclasses.replace(harness.settings, max_calls_per_day_per_user=1)
    body = {
        "persona_id": "reminder",
        "max_concurrent": 2,
        "recipients": [{"to": n, "variables": VARS} for n in ("+12125550101", "+12125550102")],
    }
    cid = harness.submit(body, now=MONDAY_0900_NY).campaign.campaign_id
    first, second = harness.schedule(MONDAY_0900_NY)
    assert harness.dial(first, MONDAY_0900_NY) == "dialled"
    assert harness.dial(second, MONDAY_0900_NY) == "daily_budget"
    parked = harness.campaigns.get_recipient(cid, second.row)
    assert parked is not None and parked.state is RecipientState.PENDING and parked.attempts == 0
    # Midnight UTC is 19:00 in New York, still inside its 09:00-20:00 window.
    assert parked.next_attempt_at == "2026-12-01T00:00:00.000Z"
    campaign = harness.campaigns.get(cid)
    assert campaign is not None and campaign.live == 1  # the slot it held was given back
    assert harness.schedule(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == []
    [again] = harness.schedule(datetime(2026, 12, 1, tzinfo=UTC))
    assert (again.row, again.attempt) == (second.row, 1)
    assert harness.dial(again, datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=1)) == "dialled"
