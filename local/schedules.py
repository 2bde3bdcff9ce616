"""Scheduled Lambda events on the local stack, read from template.yaml.

For every function event of ``Type: ScheduleV2`` (EventBridge Scheduler) or ``Type: Schedule`` with
a ``rate(N minute[s]|second[s]|hour[s])`` expression, a loop invokes the real handler at that rate
(or every ``LOCAL_SCHEDULE_SECONDS`` when set, to watch a campaign move without waiting a minute).
SQS and table-stream events are ``local.event_sources``'; between the two, every trigger of the
template runs locally from the template itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.api_gateway import Handler, LambdaContext, load_handler
from local.template import function_spec, load_template

__all__ = ["LocalSchedules", "ScheduledFunction", "rate_seconds", "scheduled_functions"]

log = logging.getLogger("local.schedules")

_RATE = re.compile(r"^rate\((\d+) (second|minute|hour|day)s?\)$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """``rate(1 minute)`` -> 60.0; None for cron() and anything else this loop cannot follow."""
    match = _RATE.match(expression.strip())
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)]) if match else None


@dataclass(frozen=True)
class ScheduledFunction:
    function_id: str
    every_seconds: float


def scheduled_functions(template: dict[str, Any]) -> list[ScheduledFunction]:
    found: list[ScheduledFunction] = []
    for function_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") not in ("ScheduleV2", "Schedule"):
                continue
            expression = (event.get("Properties") or {}).get("ScheduleExpression") or (
                (event.get("Properties") or {}).get("Schedule")
            )
            seconds = rate_seconds(expression) if isinstance(expression, str) else None
            if seconds is None:
                log.warning("%s: schedule %r is not a rate(); not run locally", function_id, expression)
                continue
            found.append(ScheduledFunction(function_id, seconds))
    return found


class LocalSchedules:
    def __init__(self, template_path: Path, *, override_seconds: float | None = None) -> None:
        self.template_path = template_path
        self.override_seconds = override_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: dict[str, tuple[Handler, int]] = {}

    def _load(self, function_id: str) -> tuple[Handler, int]:
        spec = function_spec(load_template(self.template_path), self.template_path.parent, function_id)
        handler = load_handler(function_id, spec.code_dir, spec.module, spec.function, spec.environment)
        return handler, spec.timeout_seconds

    async def start(self) -> None:
        for scheduled in scheduled_functions(load_template(self.template_path)):
            self._handlers[scheduled.function_id] = await asyncio.to_thread(self._load, scheduled.function_id)
            every = self.override_seconds or scheduled.every_seconds
            self._tasks.append(asyncio.create_task(self._loop(scheduled.function_id, every)))
            log.info("%s every %.0f s (schedule)", scheduled.function_id, every)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def run_once(self, function_id: str) -> Any:
        """Invoke a scheduled function now (tests, or to skip the wait)."""
        handler, timeout_seconds = self._handlers[function_id]
        event = {"source": "local.schedule", "detail-type": "Scheduled Event"}
        return await asyncio.to_thread(handler, event, LambdaContext(function_id, timeout_seconds))

    async def _loop(self, function_id: str, every: float) -> None:
        while True:
            try:
                await self.run_once(function_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: scheduled run failed", function_id)
            await asyncio.sleep(every)
