from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from callcore.tokens import issue_stream_token, verify_stream_token
from callcore.twiml import TwimlError, spoken_hangup_twiml, stream_twiml, transfer_twiml
from hypothesis import given, settings
from hypothesis import strategies as st

URL = "wss://stream.example.com/media"


def _stream(xml: str) -> ET.Element:
    root = ET.fromstring(xml.encode())
    assert root.tag == "Response"
    connect = root.find("Connect")
    assert connect is not None
    stream = connect.find("Stream")
    assert stream is not None
    return stream


def test_stream_twiml_shape_and_token() -> None:
    token = issue_stream_token("k", call_id="c1", call_sid="CA1", now=100)
    xml = stream_twiml(
        stream_url=URL,
        parameters={"call_id": "c1", "token": token, "persona_id": "p"},
        status_callback_url="https://api.example.com/dev/twilio/stream-status/c1",
    )
    stream = _stream(xml)
    assert stream.get("url") == URL and "?" not in stream.get("url", "")
    assert stream.get("statusCallback") == "https://api.example.com/dev/twilio/stream-status/c1"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["call_id"] == "c1"
    assert verify_stream_token("k", params["token"] or "", call_sid="CA1", now=101).call_id == "c1"
    assert len(ET.fromstring(xml.encode())) == 1  # nothing after </Connect>: closing the socket ends the call


def test_special_characters_round_trip() -> None:
    nasty = "a&b<c>d\"e'f"
    stream = _stream(stream_twiml(stream_url=URL, parameters={"x": nasty}))
    assert stream.find("Parameter").get("value") == nasty  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url", ["wss://stream.example.com/media?call=1", "ws://stream.example.com/media", "https://x.example/m"]
)
def test_bad_stream_urls_are_refused_at_build_time(url: str) -> None:
    with pytest.raises(TwimlError):
        stream_twiml(stream_url=url, parameters={})


def test_local_ws_url_is_allowed() -> None:
    assert (
        _stream(stream_twiml(stream_url="ws://127.0.0.1:8080/media", parameters={}))
        .get("url")
        .startswith("ws://")
    )  # type: ignore[union-attr]


def test_parameter_length_limit() -> None:
    with pytest.raises(TwimlError):
        stream_twiml(stream_url=URL, parameters={"x": "y" * 499})
    stream_twiml(stream_url=URL, parameters={"x": "y" * 498})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=200), max_size=5))
def test_no_value_can_break_the_xml(params: dict[str, str]) -> None:
    try:
        xml = stream_twiml(stream_url=URL, parameters=params)
    except TwimlError:
        return  # refused with a clear error (e.g. a name made only of control characters)
    stream = _stream(xml)  # parses
    assert len(stream.findall("Parameter")) == len(params) or len({*params}) != len(params)


def test_spoken_hangup() -> None:
    root = ET.fromstring(spoken_hangup_twiml("Sorry & goodbye <now>").encode())
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert root[0].text == "Sorry & goodbye <now>"


def test_transfer_dials_with_an_action_and_says_nothing_after_it() -> None:
    import xml.etree.ElementTree as ET

    from callcore.twiml import dial_action_url, transfer_twiml

    action = dial_action_url("https://api.example.com/prod/", "c1")
    assert action == "https://api.example.com/prod/twilio/dial-action/c1"
    assert dial_action_url("http://127.0.0.1:3000", "c1") is None  # Twilio cannot reach it
    assert dial_action_url(None, "c1") is None
    document = ET.fromstring(transfer_twiml("+14155550123", action_url=action))
    assert [verb.tag for verb in document] == ["Dial"]
    dial = document.find("Dial")
    assert dial is not None and dial.get("action") == action and dial.get("method") == "POST"
    assert [verb.tag for verb in ET.fromstring(transfer_twiml("+14155550123"))] == ["Dial"]


def test_transfer_dial_carries_a_time_limit() -> None:
    root = ET.fromstring(transfer_twiml("+14155550123", time_limit_seconds=900, caller_id="+14155550100"))
    dial = root.find("Dial")
    assert dial is not None and dial.text == "+14155550123"
    assert dial.get("timeLimit") == "900" and dial.get("timeout") == "30"
    assert dial.get("callerId") == "+14155550100"
    with pytest.raises(TwimlError):
        transfer_twiml("+14155550123", time_limit_seconds=0)
