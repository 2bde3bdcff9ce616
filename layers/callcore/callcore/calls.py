"""Placing an outbound call: validate, reserve a slot, record, then ask Twilio exactly once.

Order matters for money and for truth:
1. Everything that can be refused is checked before anything is written or dialled.
2. The user's concurrent-call slot is taken with a conditional counter (the limit holds across
   concurrent Lambdas).
3. The record is written as ``queued`` *before* Twilio is asked, with an id derived from the user
   and the ``Idempotency-Key``; a conditional "dial claim" on it means a retry after a crash between
   Twilio's answer and our write can never dial a second time.
4. Twilio's refusal marks the record ``failed`` with Twilio's code and message and releases the slot
   in the same transaction.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callcore.disclosure import recording_at_dial
from callcore.logging import mask_phone
from callcore.models import AMD_TIMEOUT_SECONDS, CallRecord, CallStatus, Persona, StatusEvent, stuck_after
from callcore.phone import DialPolicy, PhoneNumberError
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.twilio_errors import call_error, rest_error_parts
from callcore.variables import VariablesError, missing_variables, parse_variables
from callcore.webhooks import WebhookUrlError, validate_webhook_url

__all__ = [
    "STATUS_CALLBACK_EVENTS",
    "BudgetDay",
    "CallPlacementError",
    "CallRequest",
    "PlacedCall",
    "budget_day",
    "build_dial_request",
    "call_id_for",
    "iso",
    "metadata_error",
    "parse_call_request",
    "place_call",
    "recording_options",
    "webhook_url",
]

STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_METADATA_BYTES = 2048
MAX_METADATA_DEPTH = 4
MAX_METADATA_KEY_LENGTH = 100
_NAMESPACE = uuid.UUID("6f1d3c55-3f7e-4f0e-9a43-2f2bd1f0c0de")


class CallPlacementError(Exception):
    """A refusal with an HTTP status and a stable error code for the API response."""

    def __init__(
        self, status: int, code: str, message: str, *, call_id: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.call_id = call_id
        self.field = field  # the request field at fault, when one is

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.call_id:
            body["call_id"] = self.call_id
        return body


@dataclass(frozen=True)
class CallRequest:
    to: str
    persona_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    webhook_url: str | None = None


@dataclass(frozen=True)
class PlacedCall:
    call_id: str
    status: CallStatus
    call_sid: str | None
    dialled: bool  # False when an earlier request with the same key already did the work

    def to_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "status": self.status.value}


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds: sortable as a string (GSI1SK, STATUS# keys)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def webhook_url(base_url: str, kind: str, call_id: str) -> str:
    """``<base>/twilio/<kind>/<call_id>``: no query string, so signatures can be re-checked exactly."""
    return f"{base_url.rstrip('/')}/twilio/{kind}/{call_id}"


def call_id_for(user_id: str, idempotency_key: str | None) -> str:
    """Same user + key → same call id (the crash-window guard); no key → a fresh id."""
    if idempotency_key:
        return str(uuid.uuid5(_NAMESPACE, f"{user_id}\n{idempotency_key}"))
    return str(uuid.uuid4())


def parse_call_request(
    body: object, settings: Settings, *, resolve: Callable[[str, int], Iterable[str]] | None = None
) -> CallRequest:
    """Validate the JSON body of POST /calls (400/403 with a reason; nothing is written)."""
    if not isinstance(body, Mapping):
        raise CallPlacementError(400, "invalid_body", "the body must be a JSON object")
    unknown = sorted(set(body) - {"to", "persona_id", "metadata", "user_id", "variables", "webhook_url"})
    if unknown:
        raise CallPlacementError(
            400, "unknown_field", f"unknown field(s): {', '.join(unknown)}", field=unknown[0]
        )
    for name in ("to", "persona_id"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise CallPlacementError(
                400, "missing_field", f"'{name}' is required and must be a string", field=name
            )
    try:
        to = DialPolicy.from_settings(settings).check(body["to"].strip(), field_name="to")
    except PhoneNumberError as error:
        raise CallPlacementError(error.status, error.code, error.message, field="to") from None
    metadata = body.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise CallPlacementError(
            400, "invalid_metadata", "'metadata' must be a JSON object", field="metadata"
        )
    metadata = dict(metadata)
    problem = metadata_error(metadata)
    if problem:
        raise CallPlacementError(400, "invalid_metadata", problem, field="metadata")
    if "user_id" in body:
        if not isinstance(body["user_id"], str) or len(body["user_id"]) > 128:
            raise CallPlacementError(
                400,
                "invalid_user_id",
                "'user_id' must be a string of at most 128 characters",
                field="user_id",
            )
        metadata["user_id"] = body["user_id"]
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise CallPlacementError(
            400,
            "metadata_too_large",
            f"'metadata' must be at most {MAX_METADATA_BYTES} bytes",
            field="metadata",
        )
    try:
        variables = parse_variables(body.get("variables"))
    except VariablesError as error:
        raise CallPlacementError(400, "invalid_variables", str(error), field="variables") from None
    webhook = body.get("webhook_url")
    if webhook is not None:
        try:
            webhook = validate_webhook_url(
                webhook, allow_loopback_http=settings.webhook_allow_loopback_http, resolve=resolve
            )
        except WebhookUrlError as error:
            raise CallPlacementError(400, "invalid_webhook_url", str(error), field="webhook_url") from None
    return CallRequest(
        to=to,
        persona_id=body["persona_id"].strip(),
        metadata=metadata,
        variables=variables,
        webhook_url=webhook,
    )


def metadata_error(metadata: Mapping[str, Any]) -> str | None:
    """Why ``metadata`` cannot be stored as given (naming the key), or None.

    Checked before a slot is taken: values are strings, finite numbers, booleans, null, lists or
    objects with non-empty string keys, at most MAX_METADATA_DEPTH levels deep.
    """
    stack: list[tuple[Any, str, int]] = [(metadata, "metadata", 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_METADATA_DEPTH:
                return f"'{where}' is nested deeper than {MAX_METADATA_DEPTH} levels"
            for key, child in node.items():
                if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LENGTH:
                    return f"'{where}' keys must be 1-{MAX_METADATA_KEY_LENGTH} characters"
                stack.append((child, f"{where}.{key}", depth + 1))
        elif isinstance(node, list):
            if depth > MAX_METADATA_DEPTH:
                return f"'{where}' is nested deeper than {MAX_METADATA_DEPTH} levels"
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            return f"'{where}' must be a finite number"
        elif node is not None and not isinstance(node, str | int | float | bool):
            return f"'{where}' must be a string, number, boolean, null, list or object"
    return None


def build_dial_request(record: CallRecord, persona: Persona, *, base_url: str) -> dict[str, Any]:
    """Keyword arguments for ``Client.calls.create`` (pure, so tests can read them)."""
    kwargs: dict[str, Any] = {
        "to": record.to_number,
        "from_": record.from_number,
        "url": webhook_url(base_url, "answer", record.call_id),
        "method": "POST",
        "status_callback": webhook_url(base_url, "status", record.call_id),
        "status_callback_event": list(STATUS_CALLBACK_EVENTS),
        "status_callback_method": "POST",
        "time_limit": persona.twilio_time_limit_seconds,
    }
    if persona.machine_detection:
        kwargs.update(
            machine_detection="DetectMessageEnd" if persona.voicemail_message else "Enable",
            async_amd="true",
            async_amd_status_callback=webhook_url(base_url, "status", record.call_id),
            async_amd_status_callback_method="POST",
            machine_detection_timeout=AMD_TIMEOUT_SECONDS,
        )
    if recording_at_dial(persona):
        kwargs.update(record=True, **recording_options(base_url, record.call_id))
    return kwargs


def recording_options(base_url: str, call_id: str) -> dict[str, Any]:
    """How a call is recorded, at the dial or (after consent) mid-call: both sides on their own
    channel, one status callback when the recording is complete."""
    return {
        "recording_channels": "dual",
        "recording_status_callback": webhook_url(base_url, "recording", call_id),
        "recording_status_callback_method": "POST",
        "recording_status_callback_event": ["completed"],
    }


@dataclass(frozen=True)
class BudgetDay:
    """The day of a key's daily budget (calls and minutes are counted per UTC date)."""

    day: str  # "2026-11-30": the UTC date the instant charges, as the table keys the budget
    next_starts_at: datetime  # midnight UTC after it, when the budget is renewed


def budget_day(moment: datetime) -> BudgetDay:
    """The budget day an instant charges: its UTC date, whatever zone ``moment`` is written in.

    The single source for both ``place_call`` (which day to charge) and the campaign engine (when
    a spent budget renews). A naive datetime names no instant, so it is refused (ValueError).
    """
    if moment.utcoffset() is None:
        raise ValueError("the budget day needs an aware datetime (one with a time zone)")
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return BudgetDay(day=start.strftime("%Y-%m-%d"), next_starts_at=start + timedelta(days=1))


def _budget_message(spent: str, settings: Settings, reserve: int) -> str:
    if spent == "calls":
        return (
            f"this API key has placed its {settings.max_calls_per_day_per_user} calls for today (UTC); "
            "the budget resets at midnight UTC"
        )
    return (
        f"this API key's {settings.max_call_minutes_per_day_per_user} call minutes for today (UTC) "
        f"cannot cover another call of up to {reserve // 60} minutes (the persona's maximum duration); "
        "minutes a call does not use are given back when it ends"
    )


def place_call(
    *,
    repo: CallRepository,
    settings: Settings,
    user_id: str,
    request: CallRequest,
    idempotency_key: str | None,
    base_url: str,
    now: datetime,
    dial: Callable[[dict[str, Any]], str],
) -> PlacedCall:
    """Place one call; ``dial`` sends the kwargs to Twilio and returns the CallSid.

    Raises CallPlacementError (404 unknown persona, 400 a placeholder without a value, 403 number on
    the key's do-not-call list, 429 over the limit, 502 Twilio refused).
    """
    persona = repo.get_persona_for(user_id, request.persona_id)
    if persona is None:  # missing, or another key's: the same answer, so ids cannot be probed
        raise CallPlacementError(
            404, "persona_not_found", f"persona {request.persona_id!r} does not exist", field="persona_id"
        )
    missing = missing_variables(persona, request.variables)
    if missing:
        raise CallPlacementError(
            400,
            "missing_variables",
            f"persona {persona.persona_id!r} needs 'variables' for: {', '.join(missing)}",
            field="variables",
        )
    call_id = call_id_for(user_id, idempotency_key)
    existing = repo.get_call(call_id) if idempotency_key else None
    if existing is not None:
        refused = existing.error if existing.error and existing.error.get("source") == "dial" else None
        if existing.status is CallStatus.FAILED and existing.call_sid is None and refused:
            # Twilio refused this key's call before: answer the retry the same way, never redial.
            raise CallPlacementError(
                502,
                "twilio_error",
                f"Twilio refused the call ({refused['code']}): {refused['message']}",
                call_id=existing.call_id,
            )
        return PlacedCall(existing.call_id, existing.status, existing.call_sid, dialled=False)
    if repo.is_on_do_not_call_list(user_id, request.to):
        raise CallPlacementError(
            403,
            "number_on_do_not_call_list",
            f"{mask_phone(request.to)} is on this API key's do-not-call list (DELETE /do-not-call/{{number}} "
            "removes it)",
            field="to",
        )
    if not repo.acquire_slot(user_id, settings.max_concurrent_calls_per_user):
        raise CallPlacementError(
            429,
            "too_many_active_calls",
            f"at most {settings.max_concurrent_calls_per_user} calls may be active at once for this key",
        )
    day = budget_day(now).day
    reserve = persona.max_duration_seconds
    spent = repo.charge_daily_budget(
        user_id,
        day,
        seconds=reserve,
        max_calls=settings.max_calls_per_day_per_user,
        max_seconds=settings.max_call_minutes_per_day_per_user * 60,
    )
    if spent is not None:
        repo.release_slot(user_id)
        raise CallPlacementError(429, "daily_budget_exhausted", _budget_message(spent, settings, reserve))
    stamp = iso(now)
    record = CallRecord(
        call_id=call_id,
        user_id=user_id,
        to_number=request.to,
        from_number=settings.twilio_from_number,
        persona_id=persona.persona_id,
        status=CallStatus.QUEUED,
        created_at=stamp,
        updated_at=stamp,
        idempotency_key=idempotency_key,
        metadata=request.metadata,
        variables=request.variables,
        webhook_url=request.webhook_url,
        holds_slot=True,
        budget_day=day,
        budget_seconds=reserve,
        reconcile_after=stuck_after(now, persona.twilio_time_limit_seconds),
        expiration=int(now.timestamp()) + settings.call_ttl_days * 24 * 3600,
    )
    try:
        created = repo.create_call(record)
    except Exception:
        repo.release_slot(user_id)
        repo.refund_daily_budget(user_id, day, seconds=reserve, calls=1)
        raise
    if not created or not repo.mark_dial_started(call_id, stamp):
        # A concurrent request with the same key won the race; it owns the slot and the dial.
        if created is False:
            repo.release_slot(user_id)
            repo.refund_daily_budget(user_id, day, seconds=reserve, calls=1)
        current = repo.get_call(call_id) or record
        return PlacedCall(call_id, current.status, current.call_sid, dialled=False)
    try:
        call_sid = dial(build_dial_request(record, persona, base_url=base_url))
    except Exception as error:  # TwilioRestException, or the network to Twilio failing
        code, message = rest_error_parts(error)
        refusal = call_error(code, message, "dial")
        repo.refund_daily_budget(user_id, day, seconds=reserve)  # no talk time was used
        repo.advance_status(
            record,
            CallStatus.FAILED,
            fields={"error": refusal, "updated_at": stamp},
            event=StatusEvent(
                call_id=call_id,
                kind="trigger",
                at=stamp,
                seq="dial",
                status=CallStatus.FAILED.value,
                detail={"error_code": code, "error_message": message},
            ),
        )
        raise CallPlacementError(
            502, "twilio_error", f"Twilio refused the call ({code}): {refusal['message']}", call_id=call_id
        ) from error
    repo.link_call_sid(call_id, call_sid)
    return PlacedCall(call_id, CallStatus.QUEUED, call_sid, dialled=True)
