"""The ``ActiveCalls`` CloudWatch metric that the stream host fleet scales on.

Request counts are the wrong signal for Media Streams: a call is one WebSocket upgrade that then lasts
minutes. Each task therefore reports how many calls it carries, every ``interval`` seconds and whenever the
count changes, and target tracking on the average keeps calls per task near the configured target.

``PutMetricData`` goes straight to CloudWatch (not an EMF log line): the ``awslogs`` driver does not mark
log events as EMF, so metrics in stdout would not reach the autoscaler on Fargate. The boto3 call runs in a
worker thread so it never blocks the audio event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["ActiveCallsPublisher"]

log = logging.getLogger(__name__)


class ActiveCallsPublisher:
    """Publishes the live-call count of this task.

    Args:
        cloudwatch: a boto3 CloudWatch client, or None to publish nothing (local runs).
        namespace: the metric namespace shared with the template's scaling policy and alarms.
        count: returns the current number of live calls.
        interval: seconds between reports while nothing changes; CloudWatch needs a steady series even when
            idle, or target tracking sees missing data instead of zero.
        report_slots: called (in a worker thread) with the count at every report; publishes the task's
            free slots for the answer webhook. Runs also where there is no CloudWatch (local runs).
    """

    def __init__(
        self,
        cloudwatch: Any,
        *,
        namespace: str,
        count: Callable[[], int],
        interval: float = 30.0,
        service: str = "stream-host",
        report_slots: Callable[[int], None] | None = None,
    ) -> None:
        self._report_slots = report_slots
        self._cloudwatch = cloudwatch
        self._namespace = namespace
        self._count = count
        self._interval = interval
        self._dimensions = [{"Name": "Service", "Value": service}]
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if (self._cloudwatch is not None or self._report_slots is not None) and self._task is None:
            self._task = asyncio.create_task(self._run(), name="active-calls-metric")

    def notify_changed(self) -> None:
        """Report soon: scale-out should see a burst of calls before the next interval."""
        self._changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._cloudwatch is not None or self._report_slots is not None:
            await self.publish_once()  # a last value, so the fleet does not keep counting a stopped task

    async def publish_once(self) -> None:
        value = self._count()
        if self._report_slots is not None:
            try:
                await asyncio.to_thread(self._report_slots, value)
            except Exception as exc:  # a slow or failing table must never hurt calls either
                log.warning("fleet slots not reported", extra={"error": repr(exc)})
        if self._cloudwatch is None:
            return
        try:
            await asyncio.to_thread(
                self._cloudwatch.put_metric_data,
                Namespace=self._namespace,
                MetricData=[
                    {
                        "MetricName": "ActiveCalls",
                        "Dimensions": self._dimensions,
                        "Value": value,
                        "Unit": "Count",
                    }
                ],
            )
        except Exception as exc:  # any botocore fault: metrics must never hurt calls
            log.warning("ActiveCalls metric not published", extra={"error": repr(exc)})

    async def _run(self) -> None:
        while True:
            # Cleared before reading the count: a change during the slow publish is then not lost.
            self._changed.clear()
            await self.publish_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._interval)
