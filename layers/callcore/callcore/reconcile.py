"""Closing calls whose final status callback never arrived (the stale-call reconciler).

A per-key concurrency slot and the unused part of the daily budget are given back by the final
status callback. Twilio retries a failed callback only briefly, so a throttle or an outage on our
side can lose it, and the slot would then be held forever. Every call not yet final is in the
sparse index GSI2, keyed by ``reconcile_after`` (its time limit, the ring time and a grace period
after creation: ``callcore.models.stuck_after``). A scheduled run reads the oldest entries past
that moment (at most ``limit``: bounded work however much is stuck) and asks Twilio's REST API
what became of each call:

* Twilio reports a final status → it is applied exactly as the lost callback would have been
  (``callcore.status.apply_call_callback``: status, duration, slot, budget refund, history), and
  ``end_reason`` says ``reconciled`` when nothing else explained the end;
* Twilio still has it live (past its own limit: an inbound call whose limit update failed, or a
  limit we could not set) → it is ended (``canceled`` before answer, ``completed`` after) and
  the next callback, or the next run, closes the record;
* Twilio does not know the call (404), or it was never given a CallSid (the trigger died before
  dialling) → the record is closed as ``failed``.

Idempotent: every move is the same conditional status transition the callbacks use, so a run
that races a late callback, or a second run, changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from callcore.hangup import twilio_end_status
from callcore.repository import CallRepository
from callcore.status import apply_call_callback

__all__ = ["FINAL_TWILIO_STATUSES", "Reconciled", "TwilioCallView", "reconcile_stuck_calls"]

FINAL_TWILIO_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

Action = Literal["closed", "ended_at_twilio", "left_index", "twilio_error"]


@dataclass(frozen=True)
class TwilioCallView:
    """What Twilio's Calls resource says about one call."""

    status: str
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Reconciled:
    call_id: str
    action: Action
    status: str | None = None


def _now_key(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")  # the format of GSI2SK (models.stuck_after)


def reconcile_stuck_calls(
    repo: CallRepository,
    *,
    fetch_call: Callable[[str], TwilioCallView | None],
    end_call: Callable[[str, str], None],
    now: datetime,
    limit: int,
) -> list[Reconciled]:
    """Reconcile up to ``limit`` stuck calls; returns what was done to each.

    ``fetch_call(call_sid)`` returns Twilio's view, or None when Twilio has no such call (404);
    ``end_call(call_sid, status)`` asks Twilio to end a live call. Either may raise for any other
    Twilio or network fault: that call is reported as ``twilio_error`` and tried again next run.
    """
    done: list[Reconciled] = []
    for call_id in repo.stuck_call_ids(now_iso=_now_key(now), limit=limit):
        record = repo.get_call(call_id)
        if record is None:
            continue
        if record.status.is_terminal:
            repo.leave_live_index(call_id)  # final already; only the index entry was left behind
            done.append(Reconciled(call_id, "left_index", record.status.value))
            continue
        view: TwilioCallView | None
        if record.call_sid:
            try:
                view = fetch_call(record.call_sid)
            except Exception:
                done.append(Reconciled(call_id, "twilio_error"))
                continue
        else:
            view = None  # never dialled, so nothing to ask Twilio
        if view is not None and view.status not in FINAL_TWILIO_STATUSES:
            assert record.call_sid is not None
            try:
                end_call(record.call_sid, twilio_end_status(record.status))
            except Exception:
                done.append(Reconciled(call_id, "twilio_error", view.status))
                continue
            done.append(Reconciled(call_id, "ended_at_twilio", view.status))
            continue
        form = {"CallStatus": view.status if view is not None else "failed", "SequenceNumber": "reconciler"}
        if view is not None and view.duration_seconds is not None:
            form["CallDuration"] = str(view.duration_seconds)
        if record.call_sid:
            form["CallSid"] = record.call_sid
        outcome = apply_call_callback(repo, call_id, form, now=now)
        if outcome.outcome == "applied" and not record.end_reason:
            reason = "reconciled" if view is not None else "reconciled_unknown_at_twilio"
            repo.set_call_fields(call_id, {"end_reason": reason})
        done.append(Reconciled(call_id, "closed", form["CallStatus"]))
    return done
