"""Free stream-host slots across the fleet (``callcore.fleet``), pure and through the table."""

from __future__ import annotations

from typing import Any

from callcore.fleet import STALE_AFTER_SECONDS, TaskSlots, free_slots
from callcore.repository import CallRepository

NOW = 1_800_000_000.0


def test_free_slots_add_up_fresh_reports_and_ignore_stale_ones() -> None:
    reports = [
        TaskSlots("a", live=100, capacity=100, reported_at=NOW - 10),
        TaskSlots("b", live=97, capacity=100, reported_at=NOW - 30),
        TaskSlots("dead", live=0, capacity=100, reported_at=NOW - STALE_AFTER_SECONDS - 1),
        TaskSlots("draining", live=40, capacity=0, reported_at=NOW),
    ]
    assert free_slots(reports, now=NOW) == 3
    assert free_slots(reports[:1] + reports[2:], now=NOW) == 0  # only a dead task has room
    assert free_slots(reports[2:3], now=NOW) is None  # nothing fresh: unknown, not full
    assert free_slots([], now=NOW) is None


def test_each_task_overwrites_its_own_report(ddb_table: Any) -> None:
    repo = CallRepository(ddb_table)
    repo.report_task_slots(TaskSlots("t1", live=3, capacity=10, reported_at=NOW))
    repo.report_task_slots(TaskSlots("t2", live=10, capacity=10, reported_at=NOW))
    repo.report_task_slots(TaskSlots("t1", live=10, capacity=10, reported_at=NOW + 5))
    reports = sorted(repo.task_slot_reports(), key=lambda r: r.task_id)
    assert [(r.task_id, r.live) for r in reports] == [("t1", 10), ("t2", 10)]
    assert free_slots(reports, now=NOW + 6) == 0


def test_a_stopped_task_withdraws_its_report(ddb_table: Any) -> None:
    repo = CallRepository(ddb_table)
    repo.report_task_slots(TaskSlots("t1", live=0, capacity=0, reported_at=NOW))  # draining
    repo.withdraw_task_slots("t1")
    repo.withdraw_task_slots("t1")  # twice is harmless
    assert repo.task_slot_reports() == []
    assert free_slots(repo.task_slot_reports(), now=NOW) is None  # unknown, so calls connect
