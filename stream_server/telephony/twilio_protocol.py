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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
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


# Text JSON writes as is between quotes (our mark names: "u3.1.12").
_PLAIN = re.compile(r"[A-Za-z0-9._:-]*")

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


def _counter(data: Mapping[str, Any], key: str) -> int | None:
    """`_int` for the counters of every media frame, with the common shape (digits) first."""
    value = data.get(key)
    if type(value) is str and value.isdigit():  # Twilio's own shape: "1234"
        return int(value)
    return _int(data, key)


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
    seq = _counter(msg, "sequenceNumber")
    if event == "media":  # 50 a second per call: the same checks, with as few calls as they allow
        media = msg.get("media")
        if type(media) is not dict:
            media = _obj(msg, "media")
        sid = msg.get("streamSid", "")
        track = media.get("track", "inbound")
        payload = media.get("payload")
        if not (isinstance(sid, str) and isinstance(track, str) and isinstance(payload, str)):
            sid = _str(msg, "streamSid", default="")
            track = _str(media, "track", default="inbound")
            payload = _str(media, "payload")
        chunk, timestamp = _counter(media, "chunk"), _counter(media, "timestamp")
        return Media(seq, sid, track, chunk, timestamp, _payload(payload))
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


@lru_cache(maxsize=4096)
def _media_prefix(stream_sid: str) -> str:
    return f'{{"event":"media","streamSid":{json.dumps(stream_sid)},"media":{{"payload":"'


@lru_cache(maxsize=4096)
def _mark_prefix(stream_sid: str) -> str:
    return f'{{"event":"mark","streamSid":{json.dumps(stream_sid)},"mark":{{"name":'


def encode(message: OutboundMessage) -> str:
    """The JSON text frame for one outbound message.

    Media and marks go out ~50 times a second per speaking call, so their JSON is a template
    filled in (the stream's part built once per stream): the same text as ``json.dumps`` of the
    message with compact separators, for a fraction of the cost.
    """
    if isinstance(message, OutboundMedia):
        # Base64 needs no JSON escaping.
        return _media_prefix(message.stream_sid) + base64.b64encode(message.payload).decode("ascii") + '"}}'
    if isinstance(message, OutboundMark):
        name = message.name
        quoted = f'"{name}"' if _PLAIN.fullmatch(name) else json.dumps(name)
        return _mark_prefix(message.stream_sid) + quoted + "}}"
    body = {"event": "clear", "streamSid": message.stream_sid}
    return json.dumps(body, separators=(",", ":"))
