"""TwiML documents we return to Twilio, built only with twilio's ``VoiceResponse``.

The library escapes attribute values, so no caller-supplied text can produce invalid XML (Twilio
error 12100). We add the two rules the library does not enforce: the ``<Stream>`` URL must be a
query-less ``wss://`` URL (Twilio refuses query strings, error 31920), and each ``<Parameter>``'s
name plus value must stay under 500 characters (Twilio's documented limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from callcore.settings import SettingsError, validate_stream_url

__all__ = [
    "DEFAULT_TRANSFER_TIME_LIMIT_SECONDS",
    "DIAL_CONNECTED",
    "MAX_PARAMETER_LENGTH",
    "TRANSFER_FAILED",
    "TwimlError",
    "busy_reject_twiml",
    "dial_action_twiml",
    "dial_action_url",
    "digits_twiml",
    "spoken_hangup_twiml",
    "stream_twiml",
    "transfer_twiml",
]

TRANSFER_FAILED = "Sorry, nobody could take your call right now. Goodbye."
# `DialCallStatus` values meaning the other side picked up (and the talk is over by now).
DIAL_CONNECTED = frozenset({"completed", "answered"})

MAX_PARAMETER_LENGTH = 500  # name + value, exclusive (Twilio: "must be under 500 characters")

# Characters XML 1.0 cannot carry at all, even escaped; Twilio would reject the document.
_XML_FORBIDDEN = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {0xFFFE, 0xFFFF}


class TwimlError(ValueError):
    """A TwiML document we refuse to build because Twilio would reject it."""


def _xml_safe(text: str) -> str:
    """Drop code points XML cannot represent (and lone surrogates) instead of emitting bad XML."""
    return "".join(ch for ch in text if ord(ch) not in _XML_FORBIDDEN and not 0xD800 <= ord(ch) <= 0xDFFF)


def stream_twiml(
    *,
    stream_url: str,
    parameters: Mapping[str, str],
    status_callback_url: str | None = None,
    stream_name: str | None = None,
) -> str:
    """``<Response><Connect><Stream url=…>`` with one ``<Parameter>`` per item.

    Nothing follows ``</Connect>``: when the stream host closes the WebSocket, the call ends.
    """
    try:
        validate_stream_url(stream_url)
    except SettingsError as error:
        raise TwimlError(str(error)) from None
    response = VoiceResponse()
    connect = response.connect()
    stream_kwargs: dict[str, str] = {"url": stream_url}
    if stream_name:
        stream_kwargs["name"] = stream_name
    if status_callback_url:
        stream_kwargs["status_callback"] = status_callback_url
        stream_kwargs["status_callback_method"] = "POST"
    stream = connect.stream(**stream_kwargs)
    for name, value in parameters.items():
        clean_name, clean_value = _xml_safe(str(name)), _xml_safe(str(value))
        if not clean_name:
            raise TwimlError("a <Parameter> needs a name")
        if len(clean_name) + len(clean_value) >= MAX_PARAMETER_LENGTH:
            raise TwimlError(f"<Parameter> {clean_name!r} is too long for Twilio (name + value < 500)")
        stream.parameter(name=clean_name, value=clean_value)
    return str(response)


def spoken_hangup_twiml(message: str, *, language: str = "en-US") -> str:
    """Say something, then hang up: the answer for unknown calls, never a 5xx."""
    response = VoiceResponse()
    response.say(_xml_safe(message), language=language)
    response.hangup()
    return str(response)


def busy_reject_twiml() -> str:
    """``<Reject reason="busy">``: an inbound caller hears a busy tone and the call is never
    answered (so neither side is billed for it). Only valid as the first verb of the answer
    document; a call that is already answered (our outbound calls) gets `spoken_hangup_twiml`."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


DEFAULT_TRANSFER_TIME_LIMIT_SECONDS = 1800


def transfer_twiml(
    number: str,
    *,
    action_url: str | None = None,
    caller_id: str | None = None,
    timeout_s: int = 30,
    time_limit_seconds: int = DEFAULT_TRANSFER_TIME_LIMIT_SECONDS,
) -> str:
    """``<Dial timeLimit=…>`` the human, and nothing after it.

    ``timeLimit`` bounds the bridged leg: a transfer is a second paid call, and without a limit a
    transfer to a number that never hangs up (or to a line that plays audio forever) runs for
    Twilio's account maximum of four hours or more. The number must already have passed the
    dial policy (``callcore.phone.DialPolicy``). ``timeout_s`` is how long it rings.

    Twilio runs the verbs after a ``<Dial>`` whatever its outcome, so an apology placed there is
    heard after every *completed* transfer too. The ``action`` (``dial_action_url``) is where Twilio
    reports ``DialCallStatus`` and gets `dial_action_twiml`, which apologises only when nobody
    answered; without an action a failed transfer simply ends the call.
    """
    if time_limit_seconds < 1:
        raise TwimlError("a transfer needs a positive time limit")
    response = VoiceResponse()
    kwargs: dict[str, Any] = {"timeout": timeout_s, "time_limit": time_limit_seconds}
    if action_url:
        kwargs.update(action=action_url, method="POST")
    if caller_id:
        kwargs["caller_id"] = caller_id
    response.dial(number, **kwargs)
    return str(response)


def dial_action_url(public_api_url: str | None, call_id: str) -> str | None:
    """``<base>/twilio/dial-action/<call_id>``, only for a public https API Twilio can reach."""
    if not public_api_url or not public_api_url.startswith("https://") or not call_id:
        return None
    return f"{public_api_url.rstrip('/')}/twilio/dial-action/{call_id}"


def dial_action_twiml(dial_call_status: str, *, language: str = "en-US") -> str:
    """What the caller hears after a transfer's `<Dial>` ends: nothing if the human answered
    (the conversation is over), an apology if nobody did (busy, no-answer, failed, canceled)."""
    response = VoiceResponse()
    if dial_call_status not in DIAL_CONNECTED:
        response.say(TRANSFER_FAILED, language=language)
    response.hangup()
    return str(response)


def digits_twiml(digits: str) -> str:
    """``<Play digits>`` then a short pause so the far end registers the last key."""
    response = VoiceResponse()
    response.play(digits=digits)
    response.pause(length=1)
    return str(response)
