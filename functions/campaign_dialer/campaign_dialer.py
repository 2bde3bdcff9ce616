"""SQS -> one call per message, through the same placement path as POST /calls.

Each message names (campaign, row, attempt); ``callcore.campaign_engine.dial_from_message`` claims
the attempt and a campaign slot conditionally, so a message delivered twice (or to two dialers at
once) places at most one call. A message that raises is reported back as a partial batch failure
and returns to the queue; after the queue's maxReceiveCount it moves to the dead-letter queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.campaign_engine import DialMessage, dial_from_message
from callcore.campaign_repository import CampaignRepository
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer
from callcore.twilio_rest import twilio_client

settings = Settings.from_env()
calls = CallRepository.from_settings(settings)
campaigns = CampaignRepository.from_settings(settings)
logger = build_logger("campaign_dialer")
tracer = build_tracer("campaign_dialer", patch_modules=("botocore", "requests"))
metrics = Metrics(service="campaign_dialer")
processor = BatchProcessor(event_type=EventType.SQS)


def _dial(kwargs: dict[str, Any]) -> str:
    return str(twilio_client(settings).calls.create(**kwargs).sid)


def handle_record(record: SQSRecord) -> str:
    if not settings.public_api_url:
        raise RuntimeError("PUBLIC_API_URL must be set for the dialer (Twilio's webhook base)")
    message = DialMessage.from_body(record.body)
    result = dial_from_message(
        message,
        campaigns=campaigns,
        calls=calls,
        settings=settings,
        base_url=settings.public_api_url,
        now=datetime.now(UTC),
        dial=_dial,
    )
    metrics.add_metric(name=f"CampaignDial_{result}", unit=MetricUnit.Count, value=1)
    logger.info(
        "dial message", extra={"campaign_id": message.campaign_id, "row": message.row, "result": result}
    )
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
    return dict(response)
