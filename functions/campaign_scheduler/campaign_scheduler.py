"""Every minute (EventBridge Scheduler): queue the campaign recipients that are due and in window.

The per-campaign work is ``callcore.campaign_engine.schedule_campaign``; a finished call also runs
it for its own campaign, so this pass is what starts campaigns, resumes them after a window opens
or a backoff ends, resends lost messages and completes finished campaigns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.campaign_engine import schedule_campaigns
from callcore.campaign_queue import SqsDialQueue
from callcore.campaign_repository import CampaignRepository
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
calls = CallRepository.from_settings(settings)
campaigns = CampaignRepository.from_settings(settings)
queue = SqsDialQueue.from_settings(settings)
logger = build_logger("campaign_scheduler")
tracer = build_tracer("campaign_scheduler")
metrics = Metrics(service="campaign_scheduler")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sent = schedule_campaigns(campaigns, calls, queue, now=datetime.now(UTC))
    queued = sum(sent.values())
    metrics.add_metric(name="CampaignRecipientsQueued", unit=MetricUnit.Count, value=queued)
    logger.info("scheduler pass", extra={"campaigns": len(sent), "queued": queued})
    return {"campaigns": len(sent), "queued": queued}
