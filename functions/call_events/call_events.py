"""The table's stream → the outcomes queue: ``call.started`` on answer, ``finish`` at the end.

Reading the DynamoDB Stream (not the status webhook) makes the record the outbox: a status move
that was written is seen exactly as written, even if the webhook Lambda died right after the write.
Only call records (``SK = META``, ``entity = call``) matter; the event source mapping filters the
rest out in AWS, and this handler checks again (the local stack feeds it unfiltered).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.attribute_values import from_attribute_value
from callcore.logging import build_logger
from callcore.models import CallRecord
from callcore.outcomes import FinishJob, triggers_for_change, webhook_job
from callcore.queues import JobQueue
from callcore.repository import CallRepository
from callcore.settings import Settings

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("call_events")
metrics = Metrics(service="call_events")
queue = JobQueue(settings.outcomes_queue_url or "", region=settings.aws_region)


def _record(image: dict[str, Any] | None) -> CallRecord | None:
    if not image:
        return None
    item = {name: from_attribute_value(value) for name, value in image.items()}
    if item.get("SK") != "META" or item.get("entity") != "call":
        return None
    return CallRecord.from_item(item)


def handle_change(old: CallRecord | None, new: CallRecord) -> list[str]:
    """Queue what this change of one call starts; returns the triggers, for the log."""
    triggers = triggers_for_change(old, new)
    for trigger in triggers:
        if trigger == "finish":
            queue.send(FinishJob(new.call_id).to_message(), delay_seconds=settings.call_finish_delay_seconds)
            continue
        history = repo.get_call_history(new.call_id)
        job = webhook_job(history, trigger, datetime.now(UTC)) if history else None
        if job is not None:
            queue.send(job.to_message())
    return list(triggers)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    queued = 0
    for stream_record in event.get("Records", []):
        change = stream_record.get("dynamodb", {})
        new = _record(change.get("NewImage"))
        if new is None:
            continue
        try:
            triggers = handle_change(_record(change.get("OldImage")), new)
        except Exception:
            logger.exception("could not queue the call's outcome jobs", extra={"call_id": new.call_id})
            failures.append({"itemIdentifier": change.get("SequenceNumber", "")})
            break  # stream records must be handled in order: retry from the failed one
        if triggers:
            logger.info("call changed", extra={"call_id": new.call_id, "triggers": triggers})
            queued += len(triggers)
    # Once per batch, zero included: most table changes start nothing, and a batch without a metric
    # makes Powertools warn "No application metrics to publish" on every invocation.
    metrics.add_metric(name="OutcomeJobsQueued", unit=MetricUnit.Count, value=queued)
    return {"batchItemFailures": failures}
