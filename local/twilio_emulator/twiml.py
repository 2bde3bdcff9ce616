"""Strict TwiML reading: the document Twilio would refuse, the emulator refuses the same way.

Pure functions: text in, verbs (or a `TwilioError`) out. The rules that matter to this project:
- the document must be well-formed XML with a `<Response>` root, else 12100 (an unescaped `&`, a
  blank line before `<?xml`, an unclosed tag all end here);
- a `<Stream url>` must be an absolute `wss://` URL without a query string (31920 for a query
  string, 31922 for another scheme, 31923 for a URL that is not absolute). `ws://` is accepted only
  for loopback hosts and only when the caller of `parse_twiml` allows insecure local streams;
- each `<Parameter>`'s name plus value must stay under 500 characters;
- `<Play digits>` takes `0-9 * #` and `w` (a half-second pause) only; anything else (such as the
  `W` that only `sendDigits` documents) is skipped with a 12200 warning.
`<Dial>` carries its `action`, `method` and `timeout`: Twilio runs the verbs after it when there
is no action, and requests the action (with `DialCallStatus`) instead when there is one.
Unknown verbs are skipped with a 12200 warning, as Twilio's schema validation does.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from local.twilio_emulator.errors import (
    DOCUMENT_PARSE_FAILURE,
    SCHEMA_WARNING,
    STREAM_HANDSHAKE_ERROR,
    STREAM_MALFORMED_URL,
    STREAM_URL_SCHEME,
    TwilioError,
)

__all__ = [
    "ConnectStream",
    "Dial",
    "Hangup",
    "Pause",
    "Play",
    "Redirect",
    "Reject",
    "Say",
    "TwimlDocument",
    "Verb",
    "check_stream_url",
    "parse_twiml",
]

_PARAMETER_LIMIT = 500


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Dial:
    """A transfer to `number`; what follows depends on `action` (see the module docstring)."""

    number: str
    action: str | None = None
    method: str = "POST"
    timeout: int = 30


@dataclass(frozen=True)
class Play:
    """`<Play digits>` (DTMF tones into the call) or `<Play>url</Play>` (audio)."""

    digits: str = ""
    url: str = ""


@dataclass(frozen=True)
class ConnectStream:
    """`<Connect><Stream>`: a bidirectional stream; the call waits until the socket closes."""

    url: str
    name: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    parameters: dict[str, str] = field(default_factory=dict)
    action: str | None = None


Verb = Say | Pause | Hangup | Reject | Redirect | Dial | Play | ConnectStream
_PLAY_DIGITS = frozenset("0123456789*#w")


@dataclass(frozen=True)
class TwimlDocument:
    verbs: list[Verb]
    warnings: list[TwilioError]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_stream_url(url: str, *, allow_insecure_local: bool = False) -> None:
    """Refuse a `<Stream url>` the way Twilio does; returns nothing when the URL is acceptable."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise TwilioError(STREAM_MALFORMED_URL, f"Stream URL is not an absolute URL: {url!r}")
    if parts.query or url.endswith("?"):
        raise TwilioError(
            STREAM_HANDSHAKE_ERROR,
            "Stream URL has a query string; <Stream> does not support query strings, use <Parameter>",
        )
    if parts.scheme == "wss":
        return
    if parts.scheme == "ws" and allow_insecure_local and _is_loopback(parts.hostname):
        return
    raise TwilioError(STREAM_URL_SCHEME, f"Stream URL scheme {parts.scheme!r} is not supported; use wss")


def _stream(element: ET.Element, connect: ET.Element, *, allow_insecure_local: bool) -> ConnectStream:
    url = element.get("url")
    if not url:
        raise TwilioError(STREAM_MALFORMED_URL, "<Stream> has no url attribute")
    check_stream_url(url, allow_insecure_local=allow_insecure_local)
    parameters: dict[str, str] = {}
    for child in element:
        if child.tag != "Parameter":
            raise TwilioError(DOCUMENT_PARSE_FAILURE, f"<{child.tag}> is not allowed inside <Stream>")
        name, value = child.get("name"), child.get("value", "")
        if not name:
            raise TwilioError(DOCUMENT_PARSE_FAILURE, "<Parameter> has no name")
        if len(name) + len(value) >= _PARAMETER_LIMIT:
            raise TwilioError(DOCUMENT_PARSE_FAILURE, f"<Parameter {name}> is {_PARAMETER_LIMIT}+ characters")
        parameters[name] = value
    method = (element.get("statusCallbackMethod") or "POST").upper()
    if method not in {"GET", "POST"}:
        raise TwilioError(DOCUMENT_PARSE_FAILURE, f"statusCallbackMethod {method!r} is not GET or POST")
    return ConnectStream(
        url=url,
        name=element.get("name"),
        status_callback=element.get("statusCallback"),
        status_callback_method=method,
        parameters=parameters,
        action=connect.get("action"),
    )


def _verb(element: ET.Element, *, allow_insecure_local: bool) -> Verb | None:
    tag = element.tag
    if tag == "Say":
        return Say((element.text or "").strip())
    if tag == "Pause":
        try:
            return Pause(float(element.get("length", "1")))
        except ValueError as exc:
            raise TwilioError(DOCUMENT_PARSE_FAILURE, "<Pause length> is not a number") from exc
    if tag == "Hangup":
        return Hangup()
    if tag == "Reject":
        return Reject(element.get("reason", "rejected"))
    if tag == "Redirect":
        return Redirect((element.text or "").strip())
    if tag == "Dial":
        number = element.find("Number")
        text = (number.text if number is not None else element.text) or ""
        method = (element.get("method") or "POST").upper()
        if method not in {"GET", "POST"}:
            raise TwilioError(DOCUMENT_PARSE_FAILURE, f"<Dial method> {method!r} is not GET or POST")
        try:
            timeout = int(element.get("timeout", "30"))
        except ValueError as exc:
            raise TwilioError(DOCUMENT_PARSE_FAILURE, "<Dial timeout> is not a whole number") from exc
        return Dial(text.strip(), action=element.get("action"), method=method, timeout=timeout)
    if tag == "Play":
        digits = element.get("digits")
        if digits is not None:
            if not digits or not set(digits) <= _PLAY_DIGITS:
                raise _SkipVerb(f"<Play digits={digits!r}> allows only 0-9, *, # and w")
            return Play(digits=digits)
        return Play(url=(element.text or "").strip())
    if tag == "Connect":
        streams = list(element)
        if len(streams) != 1 or streams[0].tag != "Stream":
            raise TwilioError(DOCUMENT_PARSE_FAILURE, "<Connect> must hold exactly one <Stream> here")
        return _stream(streams[0], element, allow_insecure_local=allow_insecure_local)
    return None


class _SkipVerb(Exception):
    """A verb Twilio's schema check would warn about (12200) and not run."""


def parse_twiml(text: str | bytes, *, allow_insecure_local: bool = False) -> TwimlDocument:
    """Parse a TwiML document strictly.

    Raises:
        TwilioError: 12100 for XML that does not parse or is not a `<Response>`; 319xx for a
            `<Stream>` Twilio would refuse to connect to.
    """
    try:
        # The document is the local application's own answer, not hostile input.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise TwilioError(DOCUMENT_PARSE_FAILURE, f"Document parse failure: {exc}") from exc
    if root.tag != "Response":
        raise TwilioError(DOCUMENT_PARSE_FAILURE, f"root element is <{root.tag}>, not <Response>")
    verbs: list[Verb] = []
    warnings: list[TwilioError] = []
    for element in root:
        try:
            verb = _verb(element, allow_insecure_local=allow_insecure_local)
        except _SkipVerb as skip:
            warnings.append(TwilioError(SCHEMA_WARNING, str(skip)))
            continue
        if verb is None:
            warnings.append(TwilioError(SCHEMA_WARNING, f"<{element.tag}> is not a verb the emulator knows"))
            continue
        verbs.append(verb)
    return TwimlDocument(verbs=verbs, warnings=warnings)
