"""The Media Streams codec against the message shapes of Twilio's documentation."""

from __future__ import annotations

import base64
import json

import pytest

from stream_server.telephony.twilio_protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    OutboundClear,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    Start,
    Stop,
    UnknownMessage,
    encode,
    parse,
)

START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC123",
        "streamSid": "MZ123",
        "callSid": "CA123",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"call_id": "c1", "token": "t.k"},
    },
    "streamSid": "MZ123",
}


def test_connected() -> None:
    assert parse('{"event":"connected","protocol":"Call","version":"1.0.0"}') == Connected("Call", "1.0.0")


def test_start_with_string_counters() -> None:
    msg = parse(json.dumps(START))
    assert isinstance(msg, Start)
    assert msg.sequence_number == 1
    assert msg.call_sid == "CA123" and msg.stream_sid == "MZ123"
    assert msg.media_format.sample_rate == 8000 and msg.media_format.channels == 1
    assert msg.custom_parameters == {"call_id": "c1", "token": "t.k"}


def test_media_decodes_payload_and_string_numbers() -> None:
    raw = bytes(range(160))
    frame = {
        "event": "media",
        "sequenceNumber": "4",
        "media": {
            "track": "inbound",
            "chunk": "2",
            "timestamp": "5",
            "payload": base64.b64encode(raw).decode(),
        },
        "streamSid": "MZ123",
    }
    msg = parse(json.dumps(frame))
    assert msg == Media(4, "MZ123", "inbound", 2, 5, raw)


def test_dtmf_mark_stop() -> None:
    assert parse(
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
    ) == Dtmf(5, "MZ1", "inbound_track", "1")
    assert parse('{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"a-1"}}') == Mark(
        4, "MZ1", "a-1"
    )
    stop = parse(
        '{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}'
    )
    assert stop == Stop(5, "MZ1", "AC1", "CA1")


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01",
        "not json",
        "[1,2]",
        '{"no":"event"}',
        '{"event":"media","media":{"payload":"***"}}',
        '{"event":"media","media":{"payload":"\u00e9\u00e9"}}',
        '{"event":"media","media":{}}',
        '{"event":"media","sequenceNumber":"x1","media":{"payload":""}}',
        '{"event":"start","start":{"callSid":"CA1"}}',
        '{"event":"mark","mark":{"name":7}}',
        '{"event":"dtmf","dtmf":"1"}',
        '{"event":"media","sequenceNumber":true,"media":{"payload":""}}',
    ],
)
def test_malformed_frames_raise_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse(frame)


def test_unknown_event_is_its_own_error() -> None:
    with pytest.raises(UnknownMessage) as info:
        parse('{"event":"hologram"}')
    assert info.value.event == "hologram"


def test_outbound_encoding_round_trips_through_json() -> None:
    media = json.loads(encode(OutboundMedia("MZ1", b"\xff\x00\x7f")))
    assert media == {"event": "media", "streamSid": "MZ1", "media": {"payload": "/wB/"}}
    assert json.loads(encode(OutboundMark("MZ1", "s-3"))) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "s-3"},
    }
    assert json.loads(encode(OutboundClear("MZ1"))) == {"event": "clear", "streamSid": "MZ1"}


@pytest.mark.parametrize("stream_sid", ["MZ" + "a" * 32, "", 'MZ"quoted\\', "MZ\u00e9\n"])
@pytest.mark.parametrize("name", ["u3.1.12", "", 's"3', "n\u00e4me", "a b", "x\\y"])
def test_templated_encoding_is_the_text_json_dumps_writes(stream_sid: str, name: str) -> None:
    compact = {"separators": (",", ":")}
    audio = bytes(range(256)) * 2
    assert encode(OutboundMedia(stream_sid, audio)) == json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(audio).decode()}},
        **compact,
    )
    assert encode(OutboundMark(stream_sid, name)) == json.dumps(
        {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}, **compact
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("streamSid", 7), ("track", None), ("track", 3), ("payload", 12), ("chunk", "x1"), ("timestamp", True)],
)
def test_a_media_frame_with_a_mistyped_field_is_refused(field: str, value: object) -> None:
    frame = {
        "event": "media",
        "sequenceNumber": "4",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "3", "timestamp": "60", "payload": "/wB/"},
    }
    if field == "streamSid":
        frame[field] = value
    else:
        frame["media"][field] = value  # type: ignore[index]
    with pytest.raises(ProtocolError, match=field):
        parse(json.dumps(frame))


def test_media_counters_accept_numbers_and_digit_strings() -> None:
    frame = {
        "event": "media",
        "sequenceNumber": 4,
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": " 3", "timestamp": "-60", "payload": "/wB/"},
    }
    media = parse(json.dumps(frame))
    assert isinstance(media, Media)
    assert (media.sequence_number, media.chunk, media.timestamp_ms) == (4, 3, -60)
