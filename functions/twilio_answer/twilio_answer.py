"""Twilio's answer webhook: the TwiML that connects the call to the stream host.

``/twilio/answer/{call_id}`` answers the outbound calls we placed; ``/twilio/answer`` answers
inbound calls to TWILIO_FROM_NUMBER with INBOUND_PERSONA_ID; ``/twilio/dial-action/{call_id}`` is
the `<Dial action>` of a transfer, where Twilio reports `DialCallStatus` and asks what the caller
hears next (an apology only when the human did not answer). The signature check is the first
thing each route does (403 before any read). Anything we cannot connect gets spoken TwiML and a
hang-up, never a 5xx, because Twilio would play its own error message to the person instead.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import event_api_base_url, rest_resolver, signed_twilio_webhook, twiml_response
from callcore.calls import iso, webhook_url
from callcore.credentials import twilio_credentials
from callcore.fleet import free_slots
from callcore.logging import build_logger
from callcore.models import CallRecord, CallStatus, Persona, stuck_after
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.signatures import FormParams
from callcore.tokens import issue_stream_token
from callcore.tracing import build_tracer
from callcore.twiml import busy_reject_twiml, dial_action_twiml, spoken_hangup_twiml, stream_twiml

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("twilio_answer")
tracer = build_tracer("twilio_answer")
metrics = Metrics(service="twilio_answer")
app = rest_resolver()
signed = signed_twilio_webhook(app, settings, metrics=metrics, logger=logger)

CANNOT_CONNECT = "Sorry, this call cannot be connected right now. Goodbye."
LINES_BUSY = "Sorry, all of our lines are busy right now. Please try again in a few minutes. Goodbye."
_INBOUND_NAMESPACE = uuid.UUID("0c6f0f3e-8a55-4a43-b7c4-6f1f7e0f9a21")


def _hang_up(reason: str) -> Response[str]:
    metrics.add_metric(name="AnswerRefused", unit=MetricUnit.Count, value=1)
    logger.warning("answering with a hang-up", extra={"reason": reason})
    return twiml_response(spoken_hangup_twiml(CANNOT_CONNECT))


def _fleet_is_full() -> bool:
    """True when every stream-host task that reported recently is full (``callcore.fleet``).

    Unknown (no reports, or the table did not answer) is not full: the call is connected and the
    host's own limit still applies. One small query on the answer path.
    """
    try:
        free = free_slots(repo.task_slot_reports(), now=time.time())
    except Exception:
        logger.exception("fleet slots unreadable; connecting anyway")
        return False
    if free is None or free > 0:
        return False
    metrics.add_metric(name="CallsRefusedFleetFull", unit=MetricUnit.Count, value=1)
    logger.warning("every stream-host slot is taken: refusing the call")
    return True


def _replay_refusal(record: CallRecord) -> str | None:
    """Why no stream token may be minted for this call any more (a replayed answer webhook).

    A signed request can be replayed as-is; the signature cannot tell. The record can: once the
    call has ended, or once its one bidirectional stream has started, a new token would only
    serve someone else's socket.
    """
    if record.status.is_terminal or record.ended_at:
        return "the call has already ended"
    if record.stream_sid:
        return "the call already has a live stream"
    return None


def _connect(record: CallRecord, persona: Persona, call_sid: str) -> Response[str]:
    base_url = event_api_base_url(app.current_event, settings)
    token = issue_stream_token(
        twilio_credentials(settings).stream_token_secret,
        call_id=record.call_id,
        call_sid=call_sid,
        persona_id=persona.persona_id,
        now=time.time(),
        ttl_seconds=settings.stream_token_ttl_seconds,
    )
    xml = stream_twiml(
        stream_url=settings.stream_public_url,
        parameters={"call_id": record.call_id, "token": token, "persona_id": persona.persona_id},
        status_callback_url=webhook_url(base_url, "stream-status", record.call_id) if base_url else None,
    )
    metrics.add_metric(name="CallsAnswered", unit=MetricUnit.Count, value=1)
    return twiml_response(xml)


@app.post("/twilio/answer/<call_id>")
@tracer.capture_method(capture_response=False)
@signed
def answer_outbound(form: FormParams, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    call_sid = form.get("CallSid", "")
    record = repo.get_call(call_id)
    if record is None or not call_sid:
        return _hang_up("unknown call")
    if record.call_sid and record.call_sid != call_sid:
        return _hang_up("CallSid does not match the call record")
    refusal = _replay_refusal(record)
    if refusal:
        return _hang_up(refusal)
    persona = repo.get_persona(record.persona_id)
    if persona is None:
        return _hang_up("unknown persona")
    if not record.call_sid:
        # Twilio can call back before calls.create has returned to the trigger.
        repo.link_call_sid(call_id, call_sid)
    if _fleet_is_full():
        # The callee has already picked up: <Reject> is too late, so say why and hang up.
        repo.set_call_fields(call_id, {"end_reason": "no_stream_capacity"})
        return twiml_response(spoken_hangup_twiml(LINES_BUSY))
    return _connect(record, persona, call_sid)


@app.post("/twilio/dial-action/<call_id>")
@tracer.capture_method(capture_response=False)
@signed
def dial_action(form: FormParams, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    status = form.get("DialCallStatus", "")
    logger.info("transfer ended", extra={"dial_call_status": status})
    metrics.add_metric(
        name="TransferConnected" if status in ("completed", "answered") else "TransferFailed",
        unit=MetricUnit.Count,
        value=1,
    )
    return twiml_response(dial_action_twiml(status))


@app.post("/twilio/answer")
@tracer.capture_method(capture_response=False)
@signed
def answer_inbound(form: FormParams) -> Response[str]:
    call_sid = form.get("CallSid", "")
    logger.set_correlation_id(call_sid)
    if not call_sid or form.get("To") != settings.twilio_from_number:
        return _hang_up("inbound call to an unconfigured number")
    stored = repo.get_stored_persona(settings.inbound_persona_id)
    if stored is None:
        return _hang_up("inbound persona missing")
    if not stored.is_template:
        # Only the operator decides who answers the public line: never a persona an API key wrote.
        return _hang_up("inbound persona is owned by an API key, not the operator")
    if _fleet_is_full():
        # Not answered yet: a busy tone, nothing billed, and the caller can simply call again.
        return twiml_response(busy_reject_twiml())
    persona = stored.persona
    now = iso(datetime.now(UTC))
    record = CallRecord(
        call_id=str(uuid.uuid5(_INBOUND_NAMESPACE, call_sid)),  # Twilio retries map to one record
        user_id="inbound",
        direction="inbound",
        to_number=form.get("To", ""),
        from_number=form.get("From", ""),
        persona_id=persona.persona_id,
        status=CallStatus.RINGING,
        created_at=now,
        updated_at=now,
        call_sid=call_sid,
        reconcile_after=stuck_after(datetime.now(UTC), persona.twilio_time_limit_seconds),
        expiration=int(time.time()) + settings.call_ttl_days * 24 * 3600,
    )
    if repo.create_call(record):
        repo.link_call_sid(record.call_id, call_sid)
    else:
        existing = repo.get_call(record.call_id)
        refusal = _replay_refusal(existing) if existing is not None else None
        if refusal:
            return _hang_up(refusal)
    return _connect(record, persona, call_sid)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
