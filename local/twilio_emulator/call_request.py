"""The parameters of `POST /Calls.json`, validated the way Twilio validates them.

Pure: a multi-valued form in, a `CallRequest` (or a `TwilioError` with Twilio's code) out. The
emulator is stricter than Twilio in one place: it refuses `Url` and `Twiml` together (Twilio
silently ignores `Twiml`), because sending both is always a bug in the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from local.twilio_emulator.errors import TwilioError

__all__ = ["CALL_EVENTS", "CallRequest", "CallUpdate", "parse_call_request", "parse_call_update"]

CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MACHINE_DETECTION = {"Enable", "DetectMessageEnd"}
_TWIML_LIMIT = 4000

Form = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class CallRequest:
    to: str
    from_: str
    url: str | None
    twiml: str | None
    method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    machine_detection: str | None = None
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    record: bool = False
    timeout_seconds: int = 60
    time_limit_seconds: int = 4 * 3600
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CallUpdate:
    status: str | None
    url: str | None
    twiml: str | None
    method: str = "POST"


def _one(form: Form, name: str) -> str | None:
    values = form.get(name)
    if not values:
        return None
    return values[-1]


def _http_url(value: str, *, code: int, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TwilioError(code, f"{name} is not a valid URL: {value}")
    return value


def _method(form: Form, name: str) -> str:
    value = (_one(form, name) or "POST").upper()
    if value not in {"GET", "POST"}:
        raise TwilioError(21200, f"{name} must be GET or POST, not {value!r}")
    return value


def _flag(form: Form, name: str) -> bool:
    value = (_one(form, name) or "false").lower()
    if value not in {"true", "false"}:
        raise TwilioError(21200, f"{name} must be true or false")
    return value == "true"


def _int(form: Form, name: str, default: int, low: int, high: int) -> int:
    raw = _one(form, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise TwilioError(21200, f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise TwilioError(21200, f"{name} must be between {low} and {high}")
    return value


def _events(form: Form) -> frozenset[str]:
    events: set[str] = set()
    for value in form.get("StatusCallbackEvent", ()):
        events.update(value.split())
    unknown = events - set(CALL_EVENTS)
    if unknown:
        raise TwilioError(21200, f"StatusCallbackEvent has unknown values: {sorted(unknown)}")
    # Twilio always reports the end of the call to a StatusCallback.
    return frozenset(events | {"completed"})


def _body(form: Form, *, required: bool) -> tuple[str | None, str | None]:
    url, twiml = _one(form, "Url"), _one(form, "Twiml")
    if url and twiml:
        raise TwilioError(21200, "Url and Twiml are mutually exclusive")
    if required and not url and not twiml:
        raise TwilioError(21200, "A Url, ApplicationSid or Twiml parameter is required")
    if url:
        _http_url(url, code=21205, name="Url")
    if twiml and len(twiml) > _TWIML_LIMIT:
        raise TwilioError(21200, f"Twiml is longer than {_TWIML_LIMIT} characters")
    return url, twiml


def parse_call_request(form: Form) -> CallRequest:
    """Validate a create-call form; raises `TwilioError` with the code Twilio would answer."""
    to, from_ = _one(form, "To"), _one(form, "From")
    if not to:
        raise TwilioError(21201, "No 'To' number is specified")
    if not _E164.match(to):
        raise TwilioError(21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_:
        raise TwilioError(21213, "Caller phone number is required")
    if not _E164.match(from_):
        raise TwilioError(21212, f"The 'From' number {from_} is not a valid phone number.")
    url, twiml = _body(form, required=True)
    status_callback = _one(form, "StatusCallback")
    if status_callback:
        _http_url(status_callback, code=21609, name="StatusCallback")
    machine_detection = _one(form, "MachineDetection")
    if machine_detection is not None and machine_detection not in _MACHINE_DETECTION:
        raise TwilioError(21200, "MachineDetection must be Enable or DetectMessageEnd")
    amd_callback = _one(form, "AsyncAmdStatusCallback")
    if amd_callback:
        _http_url(amd_callback, code=21200, name="AsyncAmdStatusCallback")
    known = {
        "To", "From", "Url", "Twiml", "Method", "StatusCallback", "StatusCallbackMethod",
        "StatusCallbackEvent", "MachineDetection", "AsyncAmd", "AsyncAmdStatusCallback",
        "AsyncAmdStatusCallbackMethod", "Record", "Timeout", "TimeLimit",
    }  # fmt: skip
    return CallRequest(
        to=to,
        from_=from_,
        url=url,
        twiml=twiml,
        method=_method(form, "Method"),
        status_callback=status_callback,
        status_callback_method=_method(form, "StatusCallbackMethod"),
        status_callback_events=_events(form),
        machine_detection=machine_detection,
        async_amd=_flag(form, "AsyncAmd"),
        async_amd_status_callback=amd_callback,
        async_amd_status_callback_method=_method(form, "AsyncAmdStatusCallbackMethod"),
        record=_flag(form, "Record"),
        timeout_seconds=_int(form, "Timeout", 60, 1, 600),
        time_limit_seconds=_int(form, "TimeLimit", 4 * 3600, 1, 24 * 3600),
        extra={k: v[-1] for k, v in form.items() if k not in known and v},
    )


def parse_call_update(form: Form) -> CallUpdate:
    """Validate `POST /Calls/{Sid}.json`: a status change, or new instructions for the live call."""
    status = _one(form, "Status")
    if status is not None and status not in {"completed", "canceled"}:
        raise TwilioError(21200, "Status must be completed or canceled")
    url, twiml = _body(form, required=False)
    if status is None and not url and not twiml and not form:
        raise TwilioError(21200, "Nothing to update")
    return CallUpdate(status=status, url=url, twiml=twiml, method=_method(form, "Method"))
