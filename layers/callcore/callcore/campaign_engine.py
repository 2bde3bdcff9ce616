"""The campaign engine: scheduler pass, dialer step and call outcome, as plain functions.

Three AWS-driven entry points share this module (the handlers are thin shells around it):

* ``schedule_campaigns`` runs every minute (EventBridge Scheduler) and ``schedule_campaign`` right
  after a campaign call ends (the status callback, so a freed slot is refilled at once). It finds
  recipients that are due, checks their calling window *now*, moves them ``pending -> queued``
  (never more than ``max_concurrent`` minus live calls minus already queued) and only then puts a
  message on SQS. A recipient left ``queued`` too long (a lost message) is sent again.
* ``dial_from_message`` is the dialer Lambda's body for one SQS message. It re-checks everything
  at dial time (campaign state, window, do-not-call), then claims the attempt and a campaign slot
  in one transaction (``queued -> calling`` where ``attempts`` is still the previous count, and
  ``live < max_concurrent``), and places the call through ``callcore.calls.place_call``, the same
  path as ``POST /calls`` with an idempotency key derived from (campaign, row, attempt). A message
  delivered twice finds the recipient already claimed and does nothing.
* ``record_call_outcome`` runs when Twilio reports a campaign call's final status: it maps the call
  to an ``Outcome``, consults the retry policy, and moves the recipient (``calling -> pending`` with
  the backoff and the next window, or to a final state), releasing the campaign slot, exactly once.

No clock is read here: ``now`` is passed in, so tests and the benchmark run on a fixed clock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from callcore.calling_windows import is_open
from callcore.calls import CallPlacementError, CallRequest, budget_day, call_id_for, place_call
from callcore.campaign_repository import CampaignRepository, Move
from callcore.campaigns import (
    FINAL_STATE_OF,
    Campaign,
    CampaignState,
    Outcome,
    Recipient,
    RecipientState,
    iso_utc,
    next_attempt,
    retry_after,
    window_zones,
)
from callcore.logging import mask_phone
from callcore.models import CallRecord, CallStatus
from callcore.repository import CallRepository
from callcore.settings import Settings

__all__ = [
    "QUEUED_STALE",
    "DialMessage",
    "DialQueue",
    "dial_from_message",
    "idempotency_key_for",
    "next_budget_day",
    "outcome_of",
    "record_call_outcome",
    "schedule_campaign",
    "schedule_campaigns",
]

log = logging.getLogger("callcore.campaigns")

QUEUED_STALE = timedelta(minutes=10)  # a queued recipient no dialer took by then is sent again
CALLING_STALE = timedelta(minutes=30)  # a call with no final callback by then is looked up
SLOT_WAIT = timedelta(seconds=30)  # a recipient that found no free slot waits this long
SCHEDULE_BATCH = 200  # due recipients looked at per campaign per pass
REFILL_SLACK = 4  # extra due entries a refill reads (some may be out of their window or overdue calls)


@dataclass(frozen=True)
class DialMessage:
    """What travels on the queue: which recipient, and which attempt of it."""

    campaign_id: str
    row: int
    attempt: int

    def to_body(self) -> str:
        return json.dumps({"campaign_id": self.campaign_id, "row": self.row, "attempt": self.attempt})

    @classmethod
    def from_body(cls, body: str) -> DialMessage:
        data = json.loads(body)
        return cls(campaign_id=str(data["campaign_id"]), row=int(data["row"]), attempt=int(data["attempt"]))


class DialQueue(Protocol):
    def send(self, messages: list[DialMessage]) -> None: ...


def idempotency_key_for(campaign_id: str, row: int, attempt: int) -> str:
    """The POST /calls idempotency key of one attempt: the call id follows from it."""
    return f"campaign:{campaign_id}:{row}:{attempt}"


def _open_now(campaign: Campaign, recipient: Recipient, now: datetime) -> bool:
    return is_open(
        campaign.options.window,
        window_zones=window_zones(campaign.options, recipient),
        recipient_zones=recipient.zones,
        at=now,
    )


def _park(
    campaigns: CampaignRepository,
    recipient: Recipient,
    source: RecipientState,
    *,
    campaign: Campaign,
    now: datetime,
    not_before: datetime,
    expect_attempts: int | None = None,
) -> bool:
    """Back to ``pending`` until the recipient's next window at or after ``not_before``."""
    opens = next_attempt(campaign.options, recipient, not_before=not_before)
    if opens is None:  # cannot happen for a window accepted at submission, but never loop on it
        return _finish(campaigns, recipient, source, RecipientState.FAILED, now=now, outcome=None)
    due = iso_utc(opens)
    move = Move(
        campaign_id=recipient.campaign_id,
        row=recipient.row,
        source=source,
        target=RecipientState.PENDING,
        at=iso_utc(now),
        fields={"next_attempt_at": due},
        due_at=due,
        expect_attempts=expect_attempts,
    )
    return campaigns.move(move) == "moved"


def _finish(
    campaigns: CampaignRepository,
    recipient: Recipient,
    source: RecipientState,
    target: RecipientState,
    *,
    now: datetime,
    outcome: Outcome | None,
    expect_attempts: int | None = None,
) -> bool:
    fields: dict[str, Any] = {"next_attempt_at": None}
    if outcome is not None:
        fields["last_outcome"] = outcome.value
    move = Move(
        campaign_id=recipient.campaign_id,
        row=recipient.row,
        source=source,
        target=target,
        at=iso_utc(now),
        fields=fields,
        expect_attempts=expect_attempts,
    )
    return campaigns.move(move) == "moved"


# -- scheduler ------------------------------------------------------------------------------------


def schedule_campaigns(
    campaigns: CampaignRepository, calls: CallRepository, queue: DialQueue, *, now: datetime
) -> dict[str, int]:
    """One scheduler pass over every campaign that is not finished; returns messages sent per id."""
    sent: dict[str, int] = {}
    for campaign_id in campaigns.registered():
        sent[campaign_id] = schedule_campaign(campaigns, calls, queue, campaign_id, now=now)
    return sent


def schedule_campaign(
    campaigns: CampaignRepository,
    calls: CallRepository,
    queue: DialQueue,
    campaign_id: str,
    *,
    now: datetime,
    batch: int = SCHEDULE_BATCH,
    refill: bool = False,
) -> int:
    """Queue what is due for one campaign (see the module docstring); returns messages sent.

    Recipients come whole from the campaign's due entries (not re-read): one Query of the overdue
    queued and calling ones, and, when a slot is free, one of the pending ones, read only as far
    as there are free slots plus ``REFILL_SLACK``. ``refill`` (a finished call freed a slot): the
    pending ones only, and no read at all when no slot is free."""
    campaign = campaigns.get(campaign_id)
    if campaign is None:
        campaigns.unregister(campaign_id)
        return 0
    if campaign.state is CampaignState.PAUSED:
        return 0
    if campaign.state is CampaignState.CANCELLED:
        _sweep_cancelled(campaigns, campaign, now=now, batch=batch)
        return 0
    if campaign.state is CampaignState.COMPLETED:
        campaigns.unregister(campaign_id)
        return 0
    if campaign.unfinished == 0:
        if campaigns.set_state(
            campaign_id, CampaignState.COMPLETED, allowed_from=[CampaignState.ACTIVE], at=iso_utc(now)
        ):
            log.info("campaign %s completed", campaign_id)
        campaigns.unregister(campaign_id)
        return 0
    free = (
        campaign.options.max_concurrent - campaign.live - campaign.counts.get(RecipientState.QUEUED.value, 0)
    )
    if refill and free <= 0:
        return 0  # nothing to fill; overdue queued or calling entries wait for the minute's pass
    messages: list[DialMessage] = []
    if not refill:
        for recipient in campaigns.due(campaign_id, until=iso_utc(now), limit=batch, watched=True):
            _look_again(campaigns, calls, queue, campaign, recipient, messages, now=now)
    if free > 0:
        # Pending recipients only as far as slots are free (plus a few that may be out of window).
        limit = min(batch, free + REFILL_SLACK)
        for recipient in campaigns.due(campaign_id, until=iso_utc(now), limit=limit):
            if free > 0 and _queue_pending(campaigns, campaign, recipient, messages, now=now):
                free -= 1
    if messages:
        queue.send(messages)
    return len(messages)


def _queue_pending(
    campaigns: CampaignRepository,
    campaign: Campaign,
    recipient: Recipient,
    messages: list[DialMessage],
    *,
    now: datetime,
) -> bool:
    """``pending -> queued`` and a message, if its window is open now (else park it until it
    opens); True when it took a slot."""
    if recipient.state is not RecipientState.PENDING:
        return False  # the index entry was a moment old
    if not _open_now(campaign, recipient, now):
        _park(campaigns, recipient, RecipientState.PENDING, campaign=campaign, now=now, not_before=now)
        return False
    moved = campaigns.move(
        Move(
            campaign_id=campaign.campaign_id,
            row=recipient.row,
            source=RecipientState.PENDING,
            target=RecipientState.QUEUED,
            at=iso_utc(now),
            fields={"queued_at": iso_utc(now)},
            due_at=iso_utc(now + QUEUED_STALE),
            expect_attempts=recipient.attempts,
        )
    )
    if moved != "moved":
        return False
    messages.append(DialMessage(campaign.campaign_id, recipient.row, recipient.attempts + 1))
    return True


def _look_again(
    campaigns: CampaignRepository,
    calls: CallRepository,
    queue: DialQueue,
    campaign: Campaign,
    recipient: Recipient,
    messages: list[DialMessage],
    *,
    now: datetime,
) -> None:
    """An overdue queued or calling recipient: resend its message, or reconcile its call."""
    if recipient.state is RecipientState.QUEUED:
        # No dialer took it in time (a lost or failed message): send the same attempt again.
        if campaigns.set_due(
            campaign.campaign_id,
            recipient.row,
            state=RecipientState.QUEUED,
            due_at=iso_utc(now + QUEUED_STALE),
            fields={},
            expect_attempts=recipient.attempts,
        ):
            messages.append(DialMessage(campaign.campaign_id, recipient.row, recipient.attempts + 1))
    elif recipient.state is RecipientState.CALLING:
        _reconcile_call(campaigns, calls, queue, campaign, recipient, now=now)


def _reconcile_call(
    campaigns: CampaignRepository,
    calls: CallRepository,
    queue: DialQueue,
    campaign: Campaign,
    recipient: Recipient,
    *,
    now: datetime,
) -> None:
    """A call overdue for its final callback: apply the record's final status if it has one."""
    record = calls.get_call(recipient.current_call_id) if recipient.current_call_id else None
    if record is not None and record.status.is_terminal:
        record_call_outcome(campaigns, calls, queue, record, now=now, refill=False)
        return
    campaigns.set_due(
        campaign.campaign_id,
        recipient.row,
        state=RecipientState.CALLING,
        due_at=iso_utc(now + CALLING_STALE),
        fields={},
    )


def _sweep_cancelled(campaigns: CampaignRepository, campaign: Campaign, *, now: datetime, batch: int) -> None:
    """Cancel every waiting recipient; calls in progress are left to finish on their own."""
    waiting = [
        *campaigns.due(campaign.campaign_id, until=None, limit=batch),
        *campaigns.due(campaign.campaign_id, until=None, limit=batch, watched=True),
    ]
    for recipient in waiting:
        if recipient.state not in (RecipientState.PENDING, RecipientState.QUEUED):
            continue
        _finish(campaigns, recipient, recipient.state, RecipientState.CANCELLED, now=now, outcome=None)
    if campaign.unfinished == 0:
        campaigns.unregister(campaign.campaign_id)


# -- dialer ---------------------------------------------------------------------------------------


def dial_from_message(
    message: DialMessage,
    *,
    campaigns: CampaignRepository,
    calls: CallRepository,
    settings: Settings,
    base_url: str,
    now: datetime,
    dial: Callable[[dict[str, Any]], str],
) -> str:
    """Handle one queue message; returns what happened (for logs, metrics and tests).

    Exceptions are left to the caller (the message then returns to the queue): every step before
    the call is conditional, and the call itself is idempotent on (campaign, row, attempt).
    """
    campaign = campaigns.get(message.campaign_id)
    recipient = campaigns.get_recipient(message.campaign_id, message.row)
    if campaign is None or recipient is None:
        return "unknown"
    previous = message.attempt - 1
    if recipient.state is not RecipientState.QUEUED or recipient.attempts != previous:
        return "duplicate"
    queued = RecipientState.QUEUED
    if campaign.state is CampaignState.CANCELLED:
        _finish(campaigns, recipient, queued, RecipientState.CANCELLED, now=now, outcome=None)
        return "cancelled"
    if campaign.state is not CampaignState.ACTIVE:
        _park(
            campaigns, recipient, queued, campaign=campaign, now=now, not_before=now, expect_attempts=previous
        )
        return "paused"
    if not _open_now(campaign, recipient, now):
        _park(
            campaigns, recipient, queued, campaign=campaign, now=now, not_before=now, expect_attempts=previous
        )
        return "outside_window"
    if calls.is_on_do_not_call_list(campaign.user_id, recipient.to):
        _finish(campaigns, recipient, queued, RecipientState.DO_NOT_CALL, now=now, outcome=None)
        return "do_not_call"
    key = idempotency_key_for(campaign.campaign_id, recipient.row, message.attempt)
    call_id = call_id_for(campaign.user_id, key)
    claimed = campaigns.move(
        Move(
            campaign_id=campaign.campaign_id,
            row=recipient.row,
            source=queued,
            target=RecipientState.CALLING,
            at=iso_utc(now),
            fields={
                "attempts": message.attempt,
                "current_call_id": call_id,
                "call_ids": [*recipient.call_ids, call_id],
                "next_attempt_at": None,
            },
            due_at=iso_utc(now + CALLING_STALE),
            expect_attempts=previous,
            live_delta=1,
            max_live=campaign.options.max_concurrent,
            require_active=True,
        )
    )
    if claimed == "recipient_changed":
        return "duplicate"
    if claimed == "campaign_refused":  # every slot taken, or paused/cancelled a moment ago
        _park(
            campaigns,
            recipient,
            queued,
            campaign=campaign,
            now=now,
            not_before=now + SLOT_WAIT,
            expect_attempts=previous,
        )
        return "no_free_slot"
    request = CallRequest(
        to=recipient.to,
        persona_id=campaign.options.persona_id,
        metadata={
            "campaign_id": campaign.campaign_id,
            "campaign_row": recipient.row,
            "attempt": message.attempt,
        },
        variables=dict(recipient.variables),
        webhook_url=campaign.options.webhook_url,  # every campaign call reports to it (callcore.webhooks)
    )
    try:
        place_call(
            repo=calls,
            settings=settings,
            user_id=campaign.user_id,
            request=request,
            idempotency_key=key,
            base_url=base_url,
            now=now,
            dial=dial,
        )
    except CallPlacementError as error:
        return _placement_refused(campaigns, calls, campaign, recipient, message, call_id, error, now=now)
    log.info(
        "campaign call placed",
        extra={"campaign_id": campaign.campaign_id, "row": recipient.row, "to": mask_phone(recipient.to)},
    )
    return "dialled"


def next_budget_day(now: datetime) -> datetime:
    """When a key's daily budget is next renewed after ``now`` (``callcore.calls.budget_day``)."""
    return budget_day(now).next_starts_at


def _placement_refused(
    campaigns: CampaignRepository,
    calls: CallRepository,
    campaign: Campaign,
    recipient: Recipient,
    message: DialMessage,
    call_id: str,
    error: CallPlacementError,
    *,
    now: datetime,
) -> str:
    """The call path said no: give the slot back and decide what the recipient does next."""

    def release(target: RecipientState, fields: dict[str, Any], due_at: str | None = None) -> None:
        campaigns.move(
            Move(
                campaign_id=campaign.campaign_id,
                row=recipient.row,
                source=RecipientState.CALLING,
                target=target,
                at=iso_utc(now),
                fields=fields,
                due_at=due_at,
                expect_call_id=call_id,
                live_delta=-1,
            )
        )

    if error.status == 429:  # the key's own limits: not an attempt, try again once they allow it
        # A live-call slot frees within minutes; a spent daily budget only on the next (UTC) day,
        # so waiting SLOT_WAIT would re-queue the recipient every half minute until midnight.
        not_before = next_budget_day(now) if error.code == "daily_budget_exhausted" else now + SLOT_WAIT
        opens = next_attempt(campaign.options, recipient, not_before=not_before) or not_before
        release(
            RecipientState.PENDING,
            {
                "attempts": message.attempt - 1,
                "current_call_id": None,
                "call_ids": list(recipient.call_ids),
                "next_attempt_at": iso_utc(opens),
            },
            due_at=iso_utc(opens),
        )
        return "daily_budget" if error.code == "daily_budget_exhausted" else "key_limit"
    if error.code == "number_on_do_not_call_list":
        target, outcome = RecipientState.DO_NOT_CALL, None
    elif error.status == 502:  # Twilio refused this attempt: an outcome like any other
        record = calls.get_call(call_id)
        if record is not None:
            record_call_outcome(campaigns, calls, None, record, now=now, refill=False)
            return "twilio_refused"
        target, outcome = RecipientState.FAILED, Outcome.FAILED
    else:  # persona gone, destination no longer allowed: retrying cannot help
        target, outcome = RecipientState.FAILED, Outcome.FAILED
    release(target, {"current_call_id": None, "last_outcome": outcome.value if outcome else error.code})
    return error.code


# -- outcomes -------------------------------------------------------------------------------------


def outcome_of(record: CallRecord) -> Outcome:
    """What the retry policy sees in a finished call record."""
    if getattr(record, "opted_out", False):
        return Outcome.OPTED_OUT
    if record.status is CallStatus.BUSY:
        return Outcome.BUSY
    if record.status is CallStatus.NO_ANSWER:
        return Outcome.NO_ANSWER
    if record.status is CallStatus.COMPLETED:
        answered_by = (record.answered_by or "").lower()
        if answered_by.startswith("machine") or answered_by == "fax":
            return Outcome.VOICEMAIL
        return Outcome.HUMAN
    return Outcome.FAILED


def campaign_of(record: CallRecord) -> tuple[str, int] | None:
    """The (campaign id, row) a call was placed for, from its metadata."""
    metadata: Mapping[str, Any] = record.metadata or {}
    campaign_id, row = metadata.get("campaign_id"), metadata.get("campaign_row")
    if not isinstance(campaign_id, str) or not isinstance(row, int):
        return None
    return campaign_id, row


def record_call_outcome(
    campaigns: CampaignRepository,
    calls: CallRepository,
    queue: DialQueue | None,
    record: CallRecord,
    *,
    now: datetime,
    refill: bool = True,
) -> str | None:
    """Move the recipient of a finished campaign call on (once), then refill the freed slot.

    Returns the recipient's new state, or None when the call is not a campaign's or was already
    accounted for (a duplicate callback).
    """
    target = campaign_of(record)
    if target is None:
        return None
    campaign_id, row = target
    campaign = campaigns.get(campaign_id)
    recipient = campaigns.get_recipient(campaign_id, row)
    if campaign is None or recipient is None:
        return None
    if recipient.state is not RecipientState.CALLING or recipient.current_call_id != record.call_id:
        return None
    outcome = outcome_of(record)
    counts = dict(recipient.outcome_counts)
    counts[outcome.value] = counts.get(outcome.value, 0) + 1
    fields: dict[str, Any] = {
        "outcome_counts": counts,
        "last_outcome": outcome.value,
        "current_call_id": None,
    }
    # A paused campaign still schedules retries (they wait for the resume); a cancelled one does not.
    still_running = campaign.state in (CampaignState.ACTIVE, CampaignState.PAUSED)
    retry = still_running and counts[outcome.value] <= campaign.options.retry.retries_for(outcome)
    opens = (
        next_attempt(campaign.options, recipient, not_before=retry_after(campaign.options, now))
        if retry
        else None
    )
    if opens is not None:
        due = iso_utc(opens)
        new_state = RecipientState.PENDING
        fields["next_attempt_at"] = due
    else:
        due = None
        new_state = FINAL_STATE_OF[outcome]
    moved = campaigns.move(
        Move(
            campaign_id=campaign_id,
            row=row,
            source=RecipientState.CALLING,
            target=new_state,
            at=iso_utc(now),
            fields=fields,
            due_at=due,
            expect_call_id=record.call_id,
            live_delta=-1,
        )
    )
    if moved != "moved":
        return None
    log.info(
        "campaign call ended",
        extra={"campaign_id": campaign_id, "row": row, "outcome": outcome.value, "next": new_state.value},
    )
    if refill and queue is not None:
        schedule_campaign(campaigns, calls, queue, campaign_id, now=now, batch=20, refill=True)
    return new_state.value
