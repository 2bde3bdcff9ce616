"""Ending a live call on its owner's request (`POST /calls/{call_id}/hangup`).

Twilio ends a call through the Calls resource: ``Status=canceled`` while it is queued or ringing,
``Status=completed`` once it is in progress. The request is recorded on the call (a ``trigger``
status event and ``hangup_requested_at``); the call's status itself moves when Twilio's
``completed``/``canceled`` callback arrives, as for any other ending. Asking twice is harmless:
Twilio is asked again only while the call is still live, and an ended call answers 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from callcore.calls import iso
from callcore.models import CallRecord, CallStatus, StatusEvent
from callcore.repository import CallRepository

__all__ = ["HangupError", "HangupResult", "hang_up", "twilio_end_status"]

# Twilio's "call is not in progress" refusal of an update: the call ended while we asked.
TWILIO_NOT_IN_PROGRESS = 21220


class HangupError(Exception):
    """A refusal with an HTTP status and a stable error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


@dataclass(frozen=True)
class HangupResult:
    call_id: str
    status: str  # the record's status when the request was accepted

    def to_json(self) -> dict[str, str]:
        return {"call_id": self.call_id, "status": self.status, "hangup": "requested"}


def twilio_end_status(status: CallStatus) -> str:
    """The ``Status`` Twilio needs to end a call in ``status`` (canceled before answer)."""
    return "completed" if status is CallStatus.IN_PROGRESS else "canceled"


def hang_up(
    *,
    repo: CallRepository,
    record: CallRecord,
    now: datetime,
    end_call: Callable[[str, str], None],
) -> HangupResult:
    """Ask Twilio to end ``record``'s call and note the request on the record.

    ``end_call(call_sid, twilio_status)`` performs the REST update; it raises ``HangupError`` for
    a refusal it understands. A call Twilio has not been asked to place yet (no CallSid) is
    cancelled in the table directly, which also frees its concurrent-call slot.
    """
    if record.status.is_terminal:
        raise HangupError(409, "call_ended", f"the call has already ended ({record.status.value})")
    at = iso(now)
    event = StatusEvent(
        call_id=record.call_id,
        kind="trigger",
        at=at,
        seq="hangup",
        status=record.status.value,
        detail={"action": "hangup_requested"},
    )
    if record.call_sid is None:
        repo.advance_status(
            record, CallStatus.CANCELED, fields={"updated_at": at, "end_reason": "hangup_api"}, event=event
        )
        return HangupResult(record.call_id, CallStatus.CANCELED.value)
    end_call(record.call_sid, twilio_end_status(record.status))
    repo.annotate_call(record.call_id, {"hangup_requested_at": at}, event)
    return HangupResult(record.call_id, record.status.value)
