"""Test data with ordinary defaults: one builder for a call record, one for a persona.

A test names only the fields its behaviour turns on (``call_record(status=CallStatus.RINGING)``,
``persona(max_duration_seconds=300)``); every other field is a valid, unremarkable value that the
whole suite shares, so a reader sees at once what the test is about.
"""

from __future__ import annotations

from typing import Any

from callcore.models import CallRecord, CallStatus, Persona
from callcore.repository import CallRepository

__all__ = ["CALLEE", "CALLER_ID", "CREATED_AT", "call_record", "persona", "repository_with_call"]

CALLEE = "+14155550123"  # the number a test call dials
CALLER_ID = "+15005550006"  # the number it is placed from (Twilio's test "from" number)
CREATED_AT = "2026-11-25T12:00:00.000Z"


def call_record(*, at: str = CREATED_AT, **fields: Any) -> CallRecord:
    """Call ``c1`` of user ``u1`` to ``CALLEE`` with persona ``p``, queued, created and updated ``at``.

    ``fields`` set any other ``CallRecord`` field, or override these.
    """
    values: dict[str, Any] = {
        "call_id": "c1",
        "user_id": "u1",
        "to_number": CALLEE,
        "from_number": CALLER_ID,
        "persona_id": "p",
        "status": CallStatus.QUEUED,
        "created_at": at,
        "updated_at": at,
    }
    return CallRecord(**(values | fields))


def persona(**fields: Any) -> Persona:
    """Persona ``p`` (name ``P``, voice ``v``, prompt ``x``, greeting ``hi``); ``fields`` override."""
    values: dict[str, Any] = dict(persona_id="p", name="P", voice_id="v", prompt="x", greeting="hi")
    return Persona(**(values | fields))


def repository_with_call(table: Any, **fields: Any) -> CallRepository:
    """A repository over ``table`` holding one call that took a concurrency slot, as trigger_call leaves it.

    The call is ``call_record(holds_slot=True, **fields)``; its user's slot is taken (of 3).
    """
    repo = CallRepository(table)
    record = call_record(**({"holds_slot": True} | fields))
    assert repo.acquire_slot(record.user_id, 3)
    assert repo.create_call(record)
    return repo
