"""Why a call failed, in words: the ``error`` object of a call record.

Twilio reports a failure in three places, and the record keeps the first one that explains the
call (``source``):

* ``dial``: our own ``calls.create`` was refused (a REST error with Twilio's code and message);
* ``call``: the call's status callback (``ErrorCode``/``ErrorMessage``, ``SipResponseCode``, or a
  final ``busy``/``no-answer``/``failed`` with no code at all);
* ``stream``: the ``<Stream statusCallback>`` reported ``stream-error`` with its ``StreamError`` text.

A live call update that did not happen (a transfer's ``<Dial>``, keypad digits) is not a failure of
the call, which goes on: it is kept apart, as the record's ``update_error`` (`update_refusal`), in
the same shape with ``source`` ``update`` (Twilio refused the REST update, or did not answer it) or
``dial_policy`` (our own dial policy refused the transfer number before anything was sent).

Each code a user of this system is likely to meet gets one line saying what it means here and what
to do, checked against Twilio's error dictionary (https://www.twilio.com/docs/api/errors/<code>)
and, for the geographic-permission codes, Twilio's support article on Voice Geo Permissions.
Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from callcore.logging import mask_phones_in

__all__ = [
    "EXPLANATIONS",
    "ErrorSource",
    "UpdateErrorSource",
    "UpdateKind",
    "call_error",
    "error_from_call_callback",
    "error_from_stream_callback",
    "explain",
    "rest_error_parts",
    "update_refusal",
    "update_refused_by_twilio",
]

ErrorSource = Literal["dial", "call", "stream"]
UpdateErrorSource = Literal["update", "dial_policy"]
UpdateKind = Literal["transfer", "digits"]  # which live update of the call did not happen

# One line per code: Twilio's meaning, then what usually causes it in this system.
EXPLANATIONS: dict[str, str] = {
    "11200": "HTTP retrieval failure: Twilio could not fetch a webhook of this API (4xx/5xx answer, "
    "network failure, or a missing Content-Type). Check PUBLIC_API_URL and the function logs.",
    "11205": "HTTP connection failure: Twilio could not connect to this API within its timeouts.",
    "12100": "Document parse failure: the answer webhook returned TwiML Twilio could not parse.",
    "13224": "Twilio cannot call this number, or it is not a valid in-service E.164 number.",
    "13226": "Dial: the country code of the number is unknown.",
    "13227": "The account's Voice geographic permissions do not allow calling this country "
    "(enable it under Voice > Settings > Geo permissions in the Twilio console).",
    "20003": "Twilio refused the credentials: check TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (or the secret).",
    "20429": "Too many requests to Twilio's API at once; the request may be retried later.",
    "21210": "The caller ID (TWILIO_FROM_NUMBER) is not a Twilio number or a verified caller ID "
    "of this account.",
    "21211": "The 'To' number is not a valid phone number.",
    "21215": "The account's geographic permissions do not allow calling this number "
    "(Voice geo permissions in the Twilio console).",
    "21216": "Twilio blocks calls to this number (a high fraud risk, a regulatory block, or a +1 call from "
    "an account without a Primary Customer Profile in Trust Hub).",
    "21217": "The number dialled does not appear to be a valid phone number.",
    "21220": "The call was no longer in progress, so it could not be updated (transferred, redirected, "
    "recorded).",
    "31901": "Media stream: the stream host did not answer the WebSocket connection in time.",
    "31902": "Media stream: the stream host refused the connection (down, or wrong port).",
    "31903": "Media stream: the stream host closed the connection abruptly (crash, restart, idle timeout).",
    "31920": "Media stream handshake failed: the stream host did not answer 101 Switching Protocols "
    "(wrong STREAM_PUBLIC_URL, no healthy task behind the load balancer, or a rejected signature).",
    "31921": "Media stream closed by the stream host while the call was live.",
    "31922": "Media stream URL must be wss://.",
    "31923": "Media stream URL is malformed.",
    "31924": "Media stream protocol error: the stream host sent a message Twilio does not accept.",
    "32205": "The account's geographic permissions do not allow this call.",
    "573005": "A trial account may only call verified numbers, and this one has not completed "
    "verification (or upgrade the account).",
}

# A final status with no Twilio error code still deserves a reason.
_STATUS_REASONS = {
    "busy": "The line was busy.",
    "no-answer": "Nobody answered before the ring timeout.",
    "failed": "Twilio could not connect the call.",
    "canceled": "The call was canceled before it was answered.",
}

# SIP responses a carrier may give for a failed call (RFC 3261 reason phrases).
_SIP_REASONS = {
    "404": "the number does not exist (SIP 404 Not Found)",
    "408": "the carrier timed out (SIP 408 Request Timeout)",
    "480": "the callee is temporarily unavailable (SIP 480)",
    "486": "the callee is busy (SIP 486 Busy Here)",
    "487": "the call was cancelled (SIP 487 Request Terminated)",
    "500": "the carrier failed (SIP 500)",
    "503": "the carrier is unavailable (SIP 503 Service Unavailable)",
    "600": "the callee is busy everywhere (SIP 600 Busy Everywhere)",
    "603": "the callee declined the call (SIP 603 Decline)",
}


def explain(code: str) -> str | None:
    """The one-line explanation of a Twilio error code, if we have one."""
    return EXPLANATIONS.get(code.strip())


def call_error(
    code: str, message: str | None, source: ErrorSource | UpdateErrorSource, **extra: Any
) -> dict[str, Any]:
    """The record's ``error`` object: Twilio's own words first, then our explanation."""
    ours = explain(code)
    theirs = (message or "").strip()
    text = theirs or ours or f"Twilio reported error {code}."
    if theirs and ours:
        text = f"{theirs} ({ours})"
    error: dict[str, Any] = {"code": code, "message": text, "source": source}
    error.update({k: v for k, v in extra.items() if v not in (None, "")})
    return error


def error_from_call_callback(form: Mapping[str, str]) -> dict[str, Any] | None:
    """The ``error`` a call status callback reports, or None when the call did not fail."""
    status = (form.get("CallStatus") or "").strip().lower()
    code = (form.get("ErrorCode") or "").strip()
    sip = (form.get("SipResponseCode") or "").strip() or None
    if code:
        return call_error(code, form.get("ErrorMessage"), "call", sip_response_code=sip)
    if status in _STATUS_REASONS:
        message = _STATUS_REASONS[status]
        if sip and sip in _SIP_REASONS:
            message = f"{message[:-1]}: {_SIP_REASONS[sip]}."
        return call_error(status, message, "call", sip_response_code=sip)
    return None


def error_from_stream_callback(form: Mapping[str, str]) -> dict[str, Any] | None:
    """``stream-error`` carries only text; a Twilio code inside it (e.g. "31920 ...") is kept."""
    if (form.get("StreamEvent") or "").strip() != "stream-error":
        return None
    text = (form.get("StreamError") or "").strip() or "The media stream failed."
    code = next((word for word in text.replace(":", " ").split() if word in EXPLANATIONS), "stream-error")
    return call_error(code, text, "stream")


def rest_error_parts(error: BaseException) -> tuple[str, str]:
    """Twilio's error code and its own message from a failed REST request (``TwilioRestException``
    has ``code`` and ``msg``; the SDK prefixes "Unable to create record: "). ``unavailable`` when
    the error carries no code (the network to Twilio failed)."""
    code = getattr(error, "code", None)
    message = str(
        getattr(error, "detail", None)
        or getattr(error, "msg", None)
        or getattr(error, "title", None)
        or str(error)
        or error.__class__.__name__
    )
    prefix, sep, rest = message.partition(": ")
    if sep and prefix.startswith("Unable to "):
        message = rest
    return (str(code) if code is not None else "unavailable", message)


def update_refusal(
    update: UpdateKind,
    code: str,
    message: str,
    source: UpdateErrorSource,
    *,
    at: str,
    http_status: int | None = None,
) -> dict[str, Any]:
    """The record's ``update_error``: which live update did not happen, and why, in words.

    Phone numbers in the text are masked (Twilio's messages may quote the number dialled).
    """
    refusal = call_error(code, mask_phones_in(message), source, update=update, http_status=http_status)
    refusal["at"] = at
    return refusal


def update_refused_by_twilio(update: UpdateKind, error: BaseException, *, at: str) -> dict[str, Any]:
    """``update_error`` for a REST update of the live call that failed: Twilio's code, message and
    HTTP status when it refused (``TwilioRestException``), ``timeout`` when it did not answer."""
    if isinstance(error, TimeoutError):
        code, message = "timeout", "Twilio's REST API did not answer the update in time."
    else:
        code, message = rest_error_parts(error)
    status = getattr(error, "status", None)
    http_status = status if isinstance(status, int) and not isinstance(status, bool) else None
    return update_refusal(update, code, message, "update", at=at, http_status=http_status)
