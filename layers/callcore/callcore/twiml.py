"""TwiML documents we return to Twilio, built only with twilio's ``VoiceResponse``.

The library escapes attribute values, so no caller-supplied text can produce invalid XML (Twilio
error 12100). We add the two rules the library does not enforce: the ``<Stream>`` URL must be a
query-less ``wss://`` URL (Twilio refuses query strings, error 31920), and each ``<Parameter>``'s
name plus value must stay under 500 characters (Twilio's documented limit).
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import VoiceResponse

from callcore.settings import SettingsError, validate_stream_url

__all__ = [
    "DEFAULT_TRANSFER_TIME_LIMIT_SECONDS",
    "DIAL_CONNECTED",
    "MAX_PARAMETER_LENGTH",
    "TRANSFER_FAILED",
    "TwimlError",
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

    ("DEFAULT_TRANSFER_TIME_LIMIT_SECONDS",)
    ("DIAL_CONNECTED",)
    return str(response)


def digits_twiml(digits: str) -> str:
    """``<Play digits>`` then a short pause so the far end registers the last key."""
    response = VoiceResponse()
    response.play(digits=digits)
    response.pause(length=1)
    return str(response)
