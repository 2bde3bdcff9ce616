"""What the campaign engine reads per pass: one due-entries Query, no re-read of each recipient.

Each DynamoDB request costs capacity in AWS (and each Query walks the table in moto), so the
scheduler and the refill after a finished call must not read recipient by recipient. Counted here
by wrapping the table the repositories use; the counts do not depend on the machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from callcore.campaign_engine import schedule_campaign
from callcore.campaigns import RecipientState
from callcore.table import ResourceTable

from tests.unit.campaigns.harness import CampaignHarness

MONDAY_0900_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
VARS = {"name": "Ada", "time": "3 pm"}


@pytest.fixture
def harness(ddb_table: Any) -> CampaignHarness:
    return CampaignHarness(ddb_table)


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """DynamoDB requests made inside the block, by operation (``query:GSI1`` for index queries)."""
    counts: Counter[str] = Counter()
    shipped = ResourceTable.call

    def call(self: ResourceTable, operation: str, **params: Any) -> dict[str, Any]:
        counts[f"{operation}:{params['IndexName']}" if "IndexName" in params else operation] += 1
        return shipped(self, operation, **params)

    with monkeypatch.context() as patch:
        patch.setattr(ResourceTable, "call", call)
        yield counts


def _submit(harness: CampaignHarness, count: int, max_concurrent: int) -> str:
    body = {
        "persona_id": "reminder",
        "max_concurrent": max_concurrent,
        "recipients": [{"to": f"+1212555{n:04d}", "variables": VARS} for n in range(100, 100 + count)],
    }
    return harness.submit(body, now=MONDAY_0900_NY).campaign.campaign_id


def test_a_scheduler_pass_takes_due_recipients_from_one_query(
    harness: CampaignHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _submit(harness, 30, max_concurrent=5)
    with counted(monkeypatch) as counts:
        messages = harness.schedule(MONDAY_0900_NY)
    assert len(messages) == 5
    # Two Queries (overdue queued or calling entries; pending ones as far as slots are free), whole
    # items: no GetItem per recipient.
    assert counts["query:GSI1"] == 2
    assert counts["get_item"] == 1  # the campaign itself
    assert counts["transact_write_items"] == 5  # one conditional move per queued recipient
    page, _ = harness.campaigns.list_recipients(cid, limit=50)
    queued = [r for r in page if r.state is RecipientState.QUEUED]
    assert sorted(r.row for r in queued) == sorted(m.row for m in messages)


def test_a_refill_with_every_slot_taken_reads_no_recipients(
    harness: CampaignHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _submit(harness, 6, max_concurrent=2)
    for message in harness.schedule(MONDAY_0900_NY):
        assert harness.dial(message, MONDAY_0900_NY) == "dialled"
    with counted(monkeypatch) as counts:
        sent = schedule_campaign(
            harness.campaigns, harness.calls, harness.queue, cid, now=MONDAY_0900_NY, refill=True
        )
    assert sent == 0
    assert counts == Counter({"get_item": 1})  # the campaign's counters say there is no free slot


def test_a_refill_reads_only_as_many_due_entries_as_slots_are_free(
    harness: CampaignHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _submit(harness, 40, max_concurrent=2)
    for message in harness.schedule(MONDAY_0900_NY):
        assert harness.dial(message, MONDAY_0900_NY) == "dialled"
    limits: list[int] = []
    shipped = ResourceTable.call

    def call(self: ResourceTable, operation: str, **params: Any) -> dict[str, Any]:
        if operation == "query" and params.get("IndexName") == "GSI1":
            limits.append(params["Limit"])
        return shipped(self, operation, **params)

    monkeypatch.setattr(ResourceTable, "call", call)
    assert harness.end_call(harness.dialled[0].call_id, "completed", MONDAY_0900_NY) == "answered"
    [refill] = harness.queue.drain()  # the freed slot, filled at once
    assert harness.dial(refill, MONDAY_0900_NY) == "dialled"
    assert limits and all(limit <= 1 + 4 for limit in limits)  # one free slot + REFILL_SLACK


def test_a_stale_queued_entry_is_resent_only_for_the_attempt_it_was_queued_for(
    harness: CampaignHarness,
) -> None:
    cid = _submit(harness, 1, max_concurrent=1)
    [message] = harness.schedule(MONDAY_0900_NY)
    assert message.attempt == 1
    later = MONDAY_0900_NY + timedelta(minutes=20)
    # An index entry read a moment before the recipient moved on must not re-time or resend it.
    refused = harness.campaigns.set_due(
        cid, 1, state=RecipientState.QUEUED, due_at="2026-11-30T14:30:00.000Z", fields={}, expect_attempts=1
    )
    assert refused is False
    # Nobody took the message: the pass after QUEUED_STALE sends the same attempt again, once.
    [again] = harness.schedule(later)
    assert (again.row, again.attempt) == (1, 1)
    assert harness.dial(again, later) == "dialled"
    assert harness.dial(message, later) == "duplicate"
    assert len(harness.dialled) == 1


def test_with_every_slot_taken_a_pass_still_resends_a_lost_message_and_reads_no_pending(
    harness: CampaignHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _submit(harness, 5, max_concurrent=1)
    [lost] = harness.schedule(MONDAY_0900_NY)  # the one slot is held by this queued recipient
    later = MONDAY_0900_NY + timedelta(minutes=11)
    with counted(monkeypatch) as counts:
        [again] = harness.schedule(later)
    assert (again.row, again.attempt) == (lost.row, lost.attempt)
    assert counts["query:GSI1"] == 1  # the overdue queued/calling entries; no pending read
    assert harness.dial(again, later) == "dialled"
