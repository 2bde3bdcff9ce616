"""What happens after the call: jobs for the outcomes queue and the work each one does.

Two kinds of job travel on one SQS queue (``OUTCOMES_QUEUE_URL``), both produced off the audio path:

* ``finish``: the call reached a final status (seen on the table's stream by ``call_events``, sent
  with a short delay so the stream host's last turns are stored). It writes ``usage`` and
  ``cost_usd``, queues ``call.ended`` or ``call.failed``, runs the post-call analysis when the
  persona asks for one, writes ``analysis`` and queues ``call.analyzed``.
* ``deliver``: one webhook event to one URL, with its attempt count; a failed attempt puts the job
  back with a delay (SQS delays stop at 15 minutes, so a longer wait is served in hops).

Event ids are derived from the call and the event type, so a job run twice (SQS delivers at least
once) produces the same event, and the receiver can drop the duplicate by ``id``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from callcore.analysis import StructuredModel, analyse_call
from callcore.calls import iso
from callcore.models import CallRecord, CallStatus
from callcore.pricing import PriceTable, cost_of
from callcore.repository import CallHistory, CallRepository
from callcore.webhooks import event_body

__all__ = [
    "MAX_SQS_DELAY_SECONDS",
    "FinishJob",
    "WebhookJob",
    "delivery_entry",
    "event_id_for",
    "finish_call",
    "is_failure",
    "job_from_message",
    "triggers_for_change",
    "usage_for",
    "webhook_job",
]

MAX_SQS_DELAY_SECONDS = 900
MAX_EVENT_BYTES = 200_000  # leaves room in SQS's 256 KB message for the job's other fields
_EVENT_NAMESPACE = uuid.UUID("3b8f6f0e-55c4-4d2b-9c1e-7a1b2f0d4e61")

Trigger = Literal["call.started", "finish"]


def triggers_for_change(old: CallRecord | None, new: CallRecord) -> list[Trigger]:
    """What a change of the call record starts: ``call.started`` on answer, ``finish`` at the end."""
    triggers: list[Trigger] = []
    old_rank = old.status.rank if old is not None else -1
    if new.webhook_url and new.status is CallStatus.IN_PROGRESS and old_rank < CallStatus.IN_PROGRESS.rank:
        triggers.append("call.started")
    if new.status.is_terminal and not (old is not None and old.status.is_terminal):
        triggers.append("finish")
    return triggers


def event_id_for(call_id: str, event_type: str) -> str:
    return "evt_" + uuid.uuid5(_EVENT_NAMESPACE, f"{call_id}\n{event_type}").hex


def is_failure(record: CallRecord) -> bool:
    """``call.failed`` rather than ``call.ended``: not completed, or Twilio reported an error."""
    return record.status is not CallStatus.COMPLETED or record.error is not None


@dataclass(frozen=True)
class WebhookJob:
    """One event for one receiver; ``body`` is the exact JSON signed and sent on every attempt."""

    call_id: str
    event_id: str
    event_type: str
    url: str
    body: str
    created_at: float  # epoch seconds of the event: the retry window counts from here
    attempts: int = 0
    not_before: float = 0.0
    kind: Literal["deliver"] = "deliver"

    def to_message(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def delay_seconds(self, now: float) -> int:
        return max(0, min(MAX_SQS_DELAY_SECONDS, math.ceil(self.not_before - now)))

    def after_failure(self, delay: float, now: float) -> WebhookJob:
        return replace(self, attempts=self.attempts + 1, not_before=now + delay)


@dataclass(frozen=True)
class FinishJob:
    call_id: str
    kind: Literal["finish"] = "finish"

    def to_message(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def job_from_message(body: str) -> WebhookJob | FinishJob:
    data = json.loads(body)
    if data.get("kind") == "finish":
        return FinishJob(call_id=str(data["call_id"]))
    if data.get("kind") == "deliver":
        return WebhookJob(**{k: data[k] for k in WebhookJob.__dataclass_fields__ if k in data})
    raise ValueError(f"unknown outcome job kind {data.get('kind')!r}")


def webhook_job(history: CallHistory, event_type: str, now: datetime) -> WebhookJob | None:
    """The ``event_type`` event of this call as a delivery job (None when the call has no URL)."""
    record = history.record
    if not record.webhook_url:
        return None
    event_id = event_id_for(record.call_id, event_type)
    call = history.to_json()
    body = event_body(event_id, event_type, iso(now), call)
    if len(body) > MAX_EVENT_BYTES:
        # An SQS message holds 256 KB: a very long transcript is left to GET /calls/{id}.
        call = {**call, "turns": [], "turns_omitted": len(call.get("turns") or [])}
        body = event_body(event_id, event_type, iso(now), call)
    return WebhookJob(
        call_id=record.call_id,
        event_id=event_id,
        event_type=event_type,
        url=record.webhook_url,
        body=body.decode(),
        created_at=now.timestamp(),
    )


def usage_for(record: CallRecord) -> dict[str, Any]:
    """The stream host's counts (written once at call end) plus Twilio's billed minutes."""
    counted = dict(record.usage or {})
    usage: dict[str, Any] = {
        "stt_seconds": float(counted.get("stt_seconds", 0) or 0),
        "llm_input_tokens": int(counted.get("llm_input_tokens", 0) or 0),
        "llm_output_tokens": int(counted.get("llm_output_tokens", 0) or 0),
        "tts_characters": int(counted.get("tts_characters", 0) or 0),
        # Twilio bills voice per started minute.
        "twilio_minutes": math.ceil((record.duration_seconds or 0) / 60),
    }
    if counted.get("llm_tokens_estimated"):
        usage["llm_tokens_estimated"] = True
    for name in ("analysis_input_tokens", "analysis_output_tokens"):  # written by an earlier run
        if name in counted:
            usage[name] = int(counted[name] or 0)
    return usage


def finish_call(
    repo: CallRepository,
    call_id: str,
    *,
    model: StructuredModel,
    prices: PriceTable,
    now: Callable[[], datetime],
) -> list[WebhookJob]:
    """Usage, cost, the ended/failed event, the analysis and its event; returns the jobs to queue.

    Safe to run twice: the analysis is not redone once stored, and event ids repeat.
    """
    history = repo.get_call_history(call_id)
    if history is None:
        return []
    record = history.record
    usage = usage_for(record)
    repo.set_call_fields(call_id, {"usage": usage, "cost_usd": cost_of(usage, prices)})
    history = repo.get_call_history(call_id) or history
    jobs: list[WebhookJob] = []
    ended = webhook_job(history, "call.failed" if is_failure(record) else "call.ended", now())
    if ended is not None:
        jobs.append(ended)
    persona = repo.get_persona(record.persona_id)
    if persona is None or not persona.analysis:
        return jobs
    if record.analysis is None:
        result = analyse_call(record, persona, history.turns, model, at=iso(now()))
        if result is not None:
            fields: dict[str, Any] = {"analysis": result.analysis}
            if result.input_tokens or result.output_tokens:  # the model was asked: its tokens cost too
                usage = {
                    **usage,
                    "analysis_input_tokens": result.input_tokens,
                    "analysis_output_tokens": result.output_tokens,
                }
                fields.update(usage=usage, cost_usd=cost_of(usage, prices))
            repo.set_call_fields(call_id, fields)
    history = repo.get_call_history(call_id) or history
    analysed = webhook_job(history, "call.analyzed", now())
    if analysed is not None:
        jobs.append(analysed)
    return jobs


def delivery_entry(
    job: WebhookJob, *, state: str, last_status: int | None, at: str, error: str | None = None
) -> dict[str, Any]:
    """What the record keeps about one event's delivery (shown in ``webhook_deliveries``)."""
    entry: dict[str, Any] = {
        "event": job.event_type,
        "attempts": job.attempts + 1,
        "state": state,
        "last_status": last_status,
        "last_attempt_at": at,
    }
    if error:
        entry["last_error"] = error[:200]
    return entry
