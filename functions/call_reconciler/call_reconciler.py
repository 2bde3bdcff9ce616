"""Every five minutes (EventBridge Scheduler): close the calls whose final status callback was lost.

The work is ``callcore.reconcile.reconcile_stuck_calls``: at most ``RECONCILE_BATCH_SIZE`` calls
per run, each looked up through Twilio's REST API and closed as the lost callback would have
closed it (slot and unused budget given back), or ended at Twilio when it is still live past its
limit. Counted as ``CallsReconciled`` (closed) and ``CallsEndedByReconciler``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.logging import build_logger
from callcore.reconcile import TwilioCallView, reconcile_stuck_calls
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer
from callcore.twilio_rest import twilio_client
from twilio.base.exceptions import TwilioRestException

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("call_reconciler")
tracer = build_tracer("call_reconciler", patch_modules=("botocore", "requests"))
metrics = Metrics(service="call_reconciler")


def _fetch_call(call_sid: str) -> TwilioCallView | None:
    try:
        call = twilio_client(settings).calls(call_sid).fetch()
    except TwilioRestException as error:
        if error.status == 404:
            return None
        raise
    duration = int(call.duration) if call.duration not in (None, "") else None
    return TwilioCallView(status=str(call.status), duration_seconds=duration)


def _end_call(call_sid: str, status: str) -> None:
    twilio_client(settings).calls(call_sid).update(status=status)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    done = reconcile_stuck_calls(
        repo,
        fetch_call=_fetch_call,
        end_call=_end_call,
        now=datetime.now(UTC),
        limit=settings.reconcile_batch_size,
    )
    counts: dict[str, int] = {}
    for item in done:
        counts[item.action] = counts.get(item.action, 0) + 1
        extra = {"call_id": item.call_id, "action": item.action, "status": item.status}
        logger.info("reconciled", extra=extra)
    metrics.add_metric(name="CallsReconciled", unit=MetricUnit.Count, value=counts.get("closed", 0))
    metrics.add_metric(
        name="CallsEndedByReconciler", unit=MetricUnit.Count, value=counts.get("ended_at_twilio", 0)
    )
    return {"examined": len(done), **counts}
