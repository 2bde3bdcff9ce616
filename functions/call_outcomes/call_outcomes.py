"""The outcomes queue's worker: finish a call (usage, cost, analysis, events) and deliver webhooks.

Each SQS message is one job (``callcore.outcomes``). A delivery that fails is queued again with its
backoff delay; one that is still failing after about a day goes to the webhook dead-letter queue,
whose alarm tells the operator. A job that raises is reported as a batch item failure, so SQS
retries it and, after five receipts, moves it to the same dead-letter queue.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.analysis import OfflineModel, StructuredModel
from callcore.calls import iso
from callcore.credentials import cerebras_api_key, webhook_signing_secret
from callcore.delivery import PostResult, attempt_delivery, post_signed
from callcore.logging import build_logger
from callcore.outcomes import FinishJob, WebhookJob, finish_call, job_from_message
from callcore.pricing import PriceTable
from callcore.queues import JobQueue
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.structured_llm import CerebrasStructuredModel
from callcore.webhooks import RetryPolicy

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("call_outcomes")
metrics = Metrics(service="call_outcomes")
queue = JobQueue(settings.outcomes_queue_url or "", region=settings.aws_region)
dead_letters = JobQueue(settings.webhook_dead_letter_queue_url or "", region=settings.aws_region)
prices = PriceTable.from_env()
policy = RetryPolicy(
    first_delay_seconds=settings.webhook_first_retry_seconds,
    max_age_seconds=settings.webhook_retry_hours * 3600,
)


def _model() -> StructuredModel:
    key = cerebras_api_key(settings)
    if key:
        return CerebrasStructuredModel(
            api_key=key, base_url=settings.cerebras_base_url, model=settings.cerebras_model
        )
    return OfflineModel()


def _post(job: WebhookJob) -> PostResult:
    return post_signed(
        job.url,
        job.body.encode(),
        webhook_signing_secret(settings),
        allow_loopback_http=settings.webhook_allow_loopback_http,
    )


def _deliver(job: WebhookJob) -> None:
    now = time.time()
    if job.not_before > now + 1:  # a wait longer than SQS's 15-minute delay: one more hop
        queue.send(job.to_message(), delay_seconds=job.delay_seconds(now))
        metrics.add_metric(name="Webhook_deferred", unit=MetricUnit.Count, value=1)
        return
    outcome = attempt_delivery(job, repo=repo, post=_post, policy=policy, now=now, at=iso(datetime.now(UTC)))
    logger.info(
        "webhook attempt",
        extra={
            "call_id": job.call_id,
            "event": job.event_type,
            "attempt": job.attempts + 1,
            "state": outcome.state,
        },
    )
    metrics.add_metric(name=f"Webhook_{outcome.state}", unit=MetricUnit.Count, value=1)
    if outcome.next_job is not None:
        queue.send(outcome.next_job.to_message(), delay_seconds=outcome.next_job.delay_seconds(now))
    elif outcome.state == "failed":
        dead_letters.send(job.to_message())


def _finish(job: FinishJob) -> None:
    jobs = finish_call(repo, job.call_id, model=_model(), prices=prices, now=lambda: datetime.now(UTC))
    for event in jobs:
        queue.send(event.to_message())
    metrics.add_metric(name="CallsFinished", unit=MetricUnit.Count, value=1)
    logger.info("call finished", extra={"call_id": job.call_id, "events": [j.event_type for j in jobs]})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    failures = []
    for message in event.get("Records", []):
        try:
            job = job_from_message(message["body"])
            logger.set_correlation_id(job.call_id)
            if isinstance(job, FinishJob):
                _finish(job)
            else:
                _deliver(job)
        except Exception:
            logger.exception("outcome job failed")
            failures.append({"itemIdentifier": message.get("messageId", "")})
    return {"batchItemFailures": failures}
