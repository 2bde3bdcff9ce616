"""Twilio's status callbacks: call progress and AMD, Media Stream status, recording status.

Each route checks ``X-Twilio-Signature`` first (403 before any read), then hands the form to
``callcore.status``. Stale or duplicate callbacks still answer 200: Twilio must not retry them.
A campaign call's final status also moves its recipient on (retry or final state) and refills the
campaign's freed slot (``callcore.campaign_engine.record_call_outcome``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import error_response, json_response, rest_resolver, signed_twilio_webhook
from callcore.campaign_engine import campaign_of, record_call_outcome
from callcore.campaign_queue import SqsDialQueue
from callcore.campaign_repository import CampaignRepository
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.signatures import FormParams
from callcore.status import (
    StatusOutcome,
    apply_call_callback,
    apply_recording_callback,
    apply_stream_callback,
)
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
campaigns = CampaignRepository.from_settings(settings)
dial_queue = SqsDialQueue.from_settings(settings) if settings.campaign_queue_url else None
logger = build_logger("twilio_status")
tracer = build_tracer("twilio_status")
metrics = Metrics(service="twilio_status")
app = rest_resolver()
signed = signed_twilio_webhook(app, settings, metrics=metrics, logger=logger)


def _respond(kind: str, call_id: str, outcome: StatusOutcome) -> Response[str]:
    logger.info(
        "callback",
        extra={
            "kind": kind,
            "call_id": call_id,
            "outcome": outcome.outcome,
            "status": outcome.status.value if outcome.status else None,
        },
    )
    if outcome.outcome == "applied" and outcome.status is not None:
        metrics.add_metric(name=f"CallStatus_{outcome.status.value}", unit=MetricUnit.Count, value=1)
    if outcome.outcome == "unknown_call":
        return error_response(404, "call_not_found", f"no call {call_id!r}")
    body: dict[str, Any] = {"outcome": outcome.outcome}
    if outcome.status is not None:
        body["status"] = outcome.status.value
    return json_response(200, body)


@app.post("/twilio/status/<call_id>")
@tracer.capture_method(capture_response=False)
@signed
def call_status(form: FormParams, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    now = datetime.now(UTC)
    outcome = apply_call_callback(repo, call_id, form, now=now)
    if outcome.outcome == "applied" and outcome.status is not None and outcome.status.is_terminal:
        _campaign_call_ended(call_id, now)
    return _respond("call", call_id, outcome)


def _campaign_call_ended(call_id: str, now: datetime) -> None:
    """Feed a campaign call's outcome back to its campaign; Twilio still gets its 200 on failure
    (the scheduler later reconciles a recipient whose call ended unseen)."""
    record = repo.get_call(call_id)
    if record is None or campaign_of(record) is None:
        return
    try:
        state = record_call_outcome(campaigns, repo, dial_queue, record, now=now)
    except Exception:
        logger.exception("campaign outcome not recorded", extra={"call_id": call_id})
        return
    logger.info("campaign recipient moved", extra={"call_id": call_id, "recipient_state": state})


@app.post("/twilio/stream-status/<call_id>")
@tracer.capture_method(capture_response=False)
@signed
def stream_status(form: FormParams, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    outcome = apply_stream_callback(repo, call_id, form, now=datetime.now(UTC))
    if outcome.outcome == "annotated" and form.get("StreamEvent") == "stream-started":
        _limit_inbound_call(call_id)
    return _respond("stream", call_id, outcome)


def _limit_inbound_call(call_id: str) -> None:
    """Give an inbound call the `TimeLimit` an outbound call gets when it is placed.

    Twilio takes ``TimeLimit`` only from `calls.create` or a live-call update, and an inbound call
    is never created by us; so once its stream has started (the call is live and answered), the
    limit is set with one REST update, off the caller's path. A failure is logged and counted:
    the stream host's own goodbye at the persona's maximum and the stale-call reconciler still
    bound the call.
    """
    record = repo.get_call(call_id)
    if record is None or record.direction != "inbound" or not record.call_sid:
        return
    persona = repo.get_persona(record.persona_id)
    if persona is None:
        return
    from callcore.twilio_rest import twilio_client  # the REST stack only on this path (cold start)
    from twilio.base.exceptions import TwilioRestException

    try:
        twilio_client(settings).calls(record.call_sid).update(time_limit=persona.twilio_time_limit_seconds)
    except (TwilioRestException, OSError) as error:
        metrics.add_metric(name="InboundTimeLimitFailed", unit=MetricUnit.Count, value=1)
        logger.warning("could not set the inbound call's time limit", extra={"error": str(error)[:200]})
        return
    logger.info("inbound time limit set", extra={"time_limit": persona.twilio_time_limit_seconds})


@app.post("/twilio/recording/<call_id>")
@tracer.capture_method(capture_response=False)
@signed
def recording_status(form: FormParams, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    return _respond(
        "recording", call_id, apply_recording_callback(repo, call_id, form, now=datetime.now(UTC))
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
