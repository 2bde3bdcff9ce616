"""The Twilio Media Streams wire format, and nothing else.

Every JSON shape Twilio sends on the socket (``connected``, ``start``, ``media``, ``dtmf``,
``mark``, ``stop``) becomes a frozen dataclass here, and every message we may send (``media``,
``mark``, ``clear``) is produced here. No other module knows the JSON field names.

Twilio writes counters (``sequenceNumber``, ``chunk``, ``timestamp``) as *strings* while
``mediaFormat.sampleRate``/``channels`` are numbers; the parser accepts either for every numeric
field. Anything malformed raises `ProtocolError` (an unknown event raises its subclass
`UnknownMessage`) so the session can log it and carry on: a bad frame must never end a call.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DTMF_KEYS",
    "Connected",
    "Dtmf",
    "InboundMessage",
    "Mark",
    "Media",
    "MediaFormat",
    "OutboundClear",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "ProtocolError",
    "Start",
    "Stop",
    "UnknownMessage",
    "encode",
    "parse",
]


# The sixteen DTMF keys: a keypad's twelve plus the A-D column some phones have.
DTMF_KEYS = frozenset("0123456789*#ABCD")


class ProtocolError(ValueError):
    """A frame that is not a well-formed Twilio Media Streams message."""


class UnknownMessage(ProtocolError):
    """Well-formed JSON with an ``event`` we do not know; logged and ignored."""

    def __init__(self, event: str) -> None:
        super().__init__(f"unknown event {event!r}")
        self.event = event


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class MediaFormat:
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class Start:
    sequence_number: int | None
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    sequence_number: int | None
    stream_sid: str
    track: str
    chunk: int | None
    timestamp_ms: int | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    sequence_number: int | None
    stream_sid: str
    track: str
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    sequence_number: int | None
    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    sequence_number: int | None
    stream_sid: str
    account_sid: str
    call_sid: str


InboundMessage = Connected | Start | Media | Dtmf | Mark | Stop


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """Raw mu-law 8 kHz audio (no WAV header) for Twilio to queue and play in order."""

    stream_sid: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboundMark:
    """A label Twilio echoes once the audio queued before it has played (or been cleared)."""

    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class OutboundClear:
    """Empties Twilio's playback buffer (barge-in); pending marks are echoed back."""

    stream_sid: str


OutboundMessage = OutboundMedia | OutboundMark | OutboundClear


# --- parsing --------------------------------------------------------------------------------------


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{key!r} must be an object")
    return value


def _str(data: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"{key!r} must be a string")
    return value


def _int(data: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"{key!r} is missing")
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"{key!r} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ProtocolError(f"{key!r} must be a number (got {type(value).__name__})")


def _payload(text: str) -> bytes:
    try:
        # validate=True rejects stray characters; non-ASCII text raises a plain ValueError.
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("media.payload is not valid base64") from exc


def _parse_start(msg: Mapping[str, Any], seq: int | None) -> Start:
    body = _obj(msg, "start")
    fmt = _obj(body, "mediaFormat")
    tracks = body.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError("'tracks' must be a list of strings")
    params = body.get("customParameters") or {}
    if not isinstance(params, Mapping):
        raise ProtocolError("'customParameters' must be an object")
    return Start(
        sequence_number=seq,
        stream_sid=_str(body, "streamSid", default=msg.get("streamSid")),
        account_sid=_str(body, "accountSid", default=""),
        call_sid=_str(body, "callSid"),
        tracks=tuple(tracks),
        media_format=MediaFormat(
            encoding=_str(fmt, "encoding"),
            sample_rate=_int(fmt, "sampleRate", required=True) or 0,
            channels=_int(fmt, "channels", required=True) or 0,
        ),
        custom_parameters={str(k): str(v) for k, v in params.items()},
    )


def parse(frame: str | bytes) -> InboundMessage:
    """Decode one WebSocket frame from Twilio.

    Raises:
        UnknownMessage: valid JSON whose ``event`` is not one of Twilio's six.
        ProtocolError: anything else that is not a well-formed message (binary frames, bad
            JSON, missing or mistyped fields, undecodable audio).
    """
    if isinstance(frame, bytes):
        raise ProtocolError("binary frame (Twilio sends JSON text frames)")
    try:
        msg = json.loads(frame)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError("frame is not JSON") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("frame is not a JSON object")
    event = msg.get("event")
    if not isinstance(event, str):
        raise ProtocolError("'event' is missing")
    seq = _int(msg, "sequenceNumber")
    if event == "media":
        media = _obj(msg, "media")
        return Media(
            sequence_number=seq,
            stream_sid=_str(msg, "streamSid", default=""),
            track=_str(media, "track", default="inbound"),
            chunk=_int(media, "chunk"),
            timestamp_ms=_int(media, "timestamp"),
            payload=_payload(_str(media, "payload")),
        )
    if event == "start":
        return _parse_start(msg, seq)
    if event == "mark":
        return Mark(seq, _str(msg, "streamSid", default=""), _str(_obj(msg, "mark"), "name"))
    if event == "dtmf":
        dtmf = _obj(msg, "dtmf")
        digit = _str(dtmf, "digit")
        if len(digit) != 1 or digit not in DTMF_KEYS:
            raise ProtocolError("'digit' must be one key of 0-9, *, # or A-D")
        return Dtmf(
            seq,
            _str(msg, "streamSid", default=""),
            _str(dtmf, "track", default="inbound_track"),
            digit,
        )
    if event == "stop":
        stop = msg.get("stop") or {}
        if not isinstance(stop, Mapping):
            raise ProtocolError("'stop' must be an object")
        return Stop(
            seq,
            _str(msg, "streamSid", default=""),
            _str(stop, "accountSid", default=""),
            _str(stop, "callSid", default=""),
        )
    if event == "connected":
        return Connected(_str(msg, "protocol", default="Call"), _str(msg, "version", default=""))
    raise UnknownMessage(event)


# --- encoding -------------------------------------------------------------------------------------


def encode(message: OutboundMessage) -> str:
    """The JSON text frame for one outbound message."""
    if isinstance(message, OutboundMedia):
        payload = base64.b64encode(message.payload).decode("ascii")
        body: dict[str, Any] = {
            "event": "media",
            "streamSid": message.stream_sid,
            "media": {"payload": payload},
        }
    elif isinstance(message, OutboundMark):
        body = {"event": "mark", "streamSid": message.stream_sid, "mark": {"name": message.name}}
    else:
        body = {"event": "clear", "streamSid": message.stream_sid}
    return json.dumps(body, separators=(",", ":"))
