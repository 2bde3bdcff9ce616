"""Applying Twilio's callbacks to a call record without ever moving it backwards.

Twilio may deliver callbacks twice and out of order. Progress callbacks go through
``CallRepository.advance_status`` (a rank-conditioned transaction), so a late ``ringing`` after
``completed`` is a no-op and the user's slot is released exactly once. Facts that are not progress
(answering-machine result, recording, stream events) are recorded whenever they arrive.
Pure decisions live in ``interpret_*``; ``apply_*`` do the single repository call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from callcore.calls import iso
from callcore.models import CallRecord, CallStatus, StatusEvent
from callcore.repository import CallRepository
from callcore.twilio_errors import error_from_call_callback, error_from_stream_callback

__all__ = [
    "StatusOutcome",
    "apply_call_callback",
    "apply_recording_callback",
    "apply_stream_callback",
    "interpret_call_callback",
]

# The first failure reported explains the call best (a stream-error's text, then the final
# callback's code for the same fault): later reports never overwrite it.
_FIRST_ERROR_WINS = frozenset({"error"})

Outcome = Literal["applied", "stale", "annotated", "ignored", "unknown_call"]


@dataclass(frozen=True)
class StatusOutcome:
    outcome: Outcome
    status: CallStatus | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallCallback:
    """What one call-progress or AMD callback means for the record."""

    status: CallStatus | None
    fields: dict[str, Any]
    annotations: dict[str, Any]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def interpret_call_callback(form: Mapping[str, str]) -> CallCallback:
    """Split a callback into a state move (``CallStatus``) and facts (duration, AnsweredBy, ``error``)."""
    raw = (form.get("CallStatus") or "").strip().lower()
    try:
        status: CallStatus | None = CallStatus(raw) if raw else None
    except ValueError:
        status = None
    fields: dict[str, Any] = {}
    if (duration := _int(form.get("CallDuration"))) is not None:
        fields["duration_seconds"] = duration
    if status is not None and (error := error_from_call_callback(form)) is not None:
        fields["error"] = error
    if form.get("SipResponseCode"):
        fields["sip_response_code"] = form["SipResponseCode"]
    annotations: dict[str, Any] = {}
    if form.get("AnsweredBy"):
        annotations["answered_by"] = form["AnsweredBy"]
        if (amd_ms := _int(form.get("MachineDetectionDuration"))) is not None:
            annotations["machine_detection_ms"] = amd_ms
    return CallCallback(status=status, fields=fields, annotations=annotations)


def _event(
    call_id: str, kind: Any, now: datetime, seq: str, status: str | None, form: Mapping[str, str]
) -> StatusEvent:
    keep = (
        "CallStatus",
        "CallDuration",
        "AnsweredBy",
        "ErrorCode",
        "StreamEvent",
        "StreamError",
        "RecordingStatus",
        "SequenceNumber",
        "Timestamp",
        "SipResponseCode",
    )
    return StatusEvent(
        call_id=call_id,
        kind=kind,
        at=iso(now),
        seq=seq,
        status=status,
        detail={k: form[k] for k in keep if form.get(k)},
    )


def _link_sid_if_missing(repo: CallRepository, record: CallRecord, form: Mapping[str, str]) -> None:
    """Closes the trigger's crash window: the first callback tells us the CallSid too."""
    sid = form.get("CallSid")
    if sid and not record.call_sid:
        repo.link_call_sid(record.call_id, sid)


def _refund_unused_budget(repo: CallRepository, record: CallRecord, duration: object) -> None:
    """Give back the talk time a finished call reserved but did not use (once: the terminal move
    is conditional, so only one callback ever gets here)."""
    if not record.budget_day or not record.budget_seconds:
        return
    used = duration if isinstance(duration, int) and duration > 0 else 0
    repo.refund_daily_budget(record.user_id, record.budget_day, seconds=max(0, record.budget_seconds - used))


def apply_call_callback(
    repo: CallRepository, call_id: str, form: Mapping[str, str], *, now: datetime
) -> StatusOutcome:
    """Call progress (``CallStatus``) and async AMD (``AnsweredBy``) callbacks."""
    record = repo.get_call(call_id)
    if record is None:
        return StatusOutcome("unknown_call")
    _link_sid_if_missing(repo, record, form)
    meaning = interpret_call_callback(form)
    outcome: Outcome = "ignored"
    # Twilio repeats AnsweredBy on every status callback after AMD decided: only news is noted.
    if meaning.annotations and meaning.annotations["answered_by"] != record.answered_by:
        repo.annotate_call(
            call_id,
            {**meaning.annotations, "updated_at": iso(now)},
            _event(call_id, "amd", now, f"amd-{meaning.annotations['answered_by']}", None, form),
        )
        outcome = "annotated"
    if meaning.status is not None:
        seq = f"call-{form.get('SequenceNumber') or meaning.status.rank}-{meaning.status.value}"
        applied = repo.advance_status(
            record,
            meaning.status,
            fields={**meaning.fields, "updated_at": iso(now)},
            event=_event(call_id, "call", now, seq, meaning.status.value, form),
            keep_existing=_FIRST_ERROR_WINS,
        )
        if applied:
            if meaning.status.is_terminal:
                _refund_unused_budget(repo, record, meaning.fields.get("duration_seconds"))
            return StatusOutcome("applied", meaning.status)
        return StatusOutcome("stale" if outcome == "ignored" else outcome, meaning.status)
    return StatusOutcome(outcome)


def apply_stream_callback(
    repo: CallRepository, call_id: str, form: Mapping[str, str], *, now: datetime
) -> StatusOutcome:
    """``<Stream statusCallback>``: stream-started / stream-stopped / stream-error (with its text)."""
    event = (form.get("StreamEvent") or "").strip()
    if not event:
        return StatusOutcome("ignored")
    fields = {
        "stream_event": event,
        "stream_sid": form.get("StreamSid"),
        "stream_error": form.get("StreamError"),
        "error": error_from_stream_callback(form),
    }
    ok = repo.annotate_call(
        call_id,
        fields,
        _event(call_id, "stream", now, f"stream-{event}", None, form),
        keep_existing=_FIRST_ERROR_WINS,
    )
    return StatusOutcome("annotated" if ok else "unknown_call", detail={"stream_event": event})


def apply_recording_callback(
    repo: CallRepository, call_id: str, form: Mapping[str, str], *, now: datetime
) -> StatusOutcome:
    """Recording status: the URL of the dual-channel recording lands on the call record."""
    state = (form.get("RecordingStatus") or "").strip()
    if state != "completed" or not form.get("RecordingUrl"):
        ok = repo.annotate_call(
            call_id,
            {"updated_at": iso(now)},
            _event(call_id, "recording", now, f"recording-{state or 'unknown'}", None, form),
        )
        return StatusOutcome("annotated" if ok else "unknown_call")
    fields = {
        "recording_url": form["RecordingUrl"],
        "recording_sid": form.get("RecordingSid"),
        "updated_at": iso(now),
    }
    ok = repo.annotate_call(
        call_id, fields, _event(call_id, "recording", now, "recording-completed", None, form)
    )
    return StatusOutcome("annotated" if ok else "unknown_call")
