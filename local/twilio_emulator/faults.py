"""The emulator's fault-injection switch: what Twilio's network does to the next calls, one entry each.

Like the provider fakes' switch (`local.fake_providers.faults`), it is a queue: every call placed
takes the next entry ("ok" lets one through), so a test or a person at the local stack can make
exactly the Nth call meet a busy line or reordered callbacks. Entries may combine with ``+``:

    python -m local.twilio_emulator --faults "ok,busy,late_callbacks+duplicate_callbacks"
    TWILIO_EMULATOR_FAULTS="transfer_no_answer" make dev
    curl -X POST localhost:3001/_emulator/faults -d '{"calls": ["fax"]}'

Faults, each something real Twilio does:
- ``busy`` / ``no-answer`` / ``failed``: the line is never answered (final status and SIP code);
- ``voicemail`` / ``fax``: answering machine detection reports ``machine_end_beep`` / ``fax``;
- ``late_callbacks``: the ``ringing`` status callback arrives after ``in-progress`` (Twilio does not
  promise callback order); ``duplicate_callbacks``: every status callback arrives twice;
- ``transfer_no_answer`` / ``transfer_busy``: a ``<Dial>`` in this call ends with that
  ``DialCallStatus`` whatever the number;
- ``update_refused``: every live update of this call that brings new instructions (``Twiml`` or
  ``Url``: a transfer, keypad digits) is refused with HTTP 400 and error 21220 "Invalid call state",
  as Twilio answers when it no longer holds the call in progress; a ``Status`` update (hang-up)
  still goes through, so the call can end normally.
An unknown fault is refused with the list of known ones, never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal, get_args

__all__ = [
    "CALL_FAULTS",
    "CallConditions",
    "CallFault",
    "CallFaultError",
    "conditions_for",
    "parse_call_faults",
]

CallFault = Literal[
    "ok",
    "busy",
    "no-answer",
    "failed",
    "voicemail",
    "fax",
    "late_callbacks",
    "duplicate_callbacks",
    "transfer_no_answer",
    "transfer_busy",
    "update_refused",
]
CALL_FAULTS: tuple[str, ...] = get_args(CallFault)


class CallFaultError(ValueError):
    """A call fault schedule names a fault the emulator does not have."""


@dataclass(frozen=True)
class CallConditions:
    """What one call meets; None leaves the emulator's own setting in force."""

    line: str | None = None
    answered_by: str | None = None
    late_status_callbacks: frozenset[str] = frozenset()
    duplicate_status_callbacks: bool = False
    dial_outcome: str | None = None
    refuse_redirects: bool = False


_ONE: dict[str, CallConditions] = {
    "ok": CallConditions(),
    "busy": CallConditions(line="busy"),
    "no-answer": CallConditions(line="no-answer"),
    "failed": CallConditions(line="failed"),
    "voicemail": CallConditions(answered_by="machine_end_beep"),
    "fax": CallConditions(answered_by="fax"),
    "late_callbacks": CallConditions(late_status_callbacks=frozenset({"ringing"})),
    "duplicate_callbacks": CallConditions(duplicate_status_callbacks=True),
    "transfer_no_answer": CallConditions(dial_outcome="no-answer"),
    "transfer_busy": CallConditions(dial_outcome="busy"),
    "update_refused": CallConditions(refuse_redirects=True),
}


def conditions_for(entry: str) -> CallConditions:
    """The conditions of one schedule entry (``"busy"``, ``"late_callbacks+duplicate_callbacks"``)."""
    merged = CallConditions()
    for name in entry.split("+"):
        one = _ONE.get(name.strip())
        if one is None:
            raise CallFaultError(f"unknown call fault {name.strip()!r}: use one of {', '.join(CALL_FAULTS)}")
        merged = replace(
            merged,
            line=one.line or merged.line,
            answered_by=one.answered_by or merged.answered_by,
            late_status_callbacks=merged.late_status_callbacks | one.late_status_callbacks,
            duplicate_status_callbacks=merged.duplicate_status_callbacks or one.duplicate_status_callbacks,
            dial_outcome=one.dial_outcome or merged.dial_outcome,
            refuse_redirects=merged.refuse_redirects or one.refuse_redirects,
        )
    return merged


def parse_call_faults(spec: str | Iterable[str]) -> list[str]:
    """``"ok,busy"`` or ``["ok", "busy"]`` -> the validated entries, in order."""
    entries = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for entry in entries:
        if not isinstance(entry, str):
            raise CallFaultError("each call fault must be a string")
        if entry.strip():
            conditions_for(entry)
            out.append(entry.strip())
    return out
