"""Free stream-host slots across the fleet, so the answer webhook never connects a call to a full
fleet.

Each stream-host task already counts its authenticated calls (the ``ActiveCalls`` metric). It also
writes that count, with its ``MAX_CALLS`` (0 while draining), to one small item per task in the
calls table (``PK=FLEET#stream-host``, ``SK=TASK#<task id>``), on the same schedule as the metric:
every 30 s and whenever the count changes. The answer webhook reads the partition (one query of a
few items) and adds up the free slots of the tasks that reported recently.

Why the table and not CloudWatch: the metric is per task with one ``Service`` dimension, arrives
a minute late, and its statistics cannot say how many tasks there are; the items are fresh to
the second, carry each task's own limit, and a task that died stops counting once its report is
older than ``STALE_AFTER_SECONDS`` (its item then expires by TTL). No report at all (a first
deploy, a local run without a host) means "unknown", and the call is connected: the host still
refuses a handshake at ``MAX_CALLS``. The count is approximate by design (calls answered in the
same second all see the same free slot); it turns a full fleet's silent failures into a polite
refusal, it does not replace the host's own limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FLEET_PARTITION",
    "STALE_AFTER_SECONDS",
    "TaskSlots",
    "free_slots",
    "task_slots_item",
]

FLEET_PARTITION = "FLEET#stream-host"
# Three missed 30-second reports: the task is gone (or cut off from DynamoDB, which is as bad).
STALE_AFTER_SECONDS = 95
_ITEM_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class TaskSlots:
    """One task's last report: its live calls and how many it accepts (0 while draining)."""

    task_id: str
    live: int
    capacity: int
    reported_at: float

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TaskSlots:
        return cls(
            task_id=str(item["SK"]).removeprefix("TASK#"),
            live=int(item.get("live", 0)),
            capacity=int(item.get("capacity", 0)),
            reported_at=float(item.get("reported_at", 0)),
        )


def task_slots_item(slots: TaskSlots) -> dict[str, Any]:
    return {
        "PK": FLEET_PARTITION,
        "SK": f"TASK#{slots.task_id}",
        "live": slots.live,
        "capacity": slots.capacity,
        "reported_at": int(slots.reported_at),
        "expiration": int(slots.reported_at) + _ITEM_TTL_SECONDS,
    }


def free_slots(reports: Iterable[TaskSlots], *, now: float) -> int | None:
    """Free slots of the tasks that reported within ``STALE_AFTER_SECONDS``; None when none did."""
    fresh = [r for r in reports if now - r.reported_at <= STALE_AFTER_SECONDS]
    if not fresh:
        return None
    return sum(max(0, r.capacity - r.live) for r in fresh)
