"""The emulator refuses the TwiML real Twilio refuses, with Twilio's codes."""

import pytest
from twilio.twiml.voice_response import VoiceResponse

from local.twilio_emulator.errors import TwilioError
from local.twilio_emulator.twiml import ConnectStream, Hangup, Say, parse_twiml


def _stream_twiml(url: str) -> str:
    response = VoiceResponse()
    stream = response.connect().stream(url=url)
    stream.parameter(name="call_id", value="c1")
    return str(response)


def _code(text: str, **kwargs: bool) -> int:
    with pytest.raises(TwilioError) as caught:
        parse_twiml(text, **kwargs)
    return caught.value.code


def test_unescaped_ampersand_is_document_parse_failure() -> None:
    text = '<?xml version="1.0"?><Response><Say>Fish & chips</Say></Response>'
    assert _code(text) == 12100


def test_blank_line_before_declaration_is_document_parse_failure() -> None:
    assert _code('\n<?xml version="1.0"?><Response/>') == 12100


def test_root_must_be_response() -> None:
    assert _code("<Reply><Say>hi</Say></Reply>") == 12100


def test_stream_url_with_query_string_is_refused() -> None:
    assert _code(_stream_twiml("wss://stream.example.com/media?call=1")) == 31920


def test_non_wss_scheme_is_refused() -> None:
    assert _code(_stream_twiml("https://stream.example.com/media")) == 31922
    assert _code(_stream_twiml("ws://stream.example.com/media")) == 31922


def test_insecure_loopback_stream_needs_the_local_switch() -> None:
    text = _stream_twiml("ws://127.0.0.1:8080/media")
    assert _code(text) == 31922
    document = parse_twiml(text, allow_insecure_local=True)
    assert isinstance(document.verbs[0], ConnectStream)
    # Only loopback hosts qualify, even with the switch on.
    assert _code(_stream_twiml("ws://10.0.0.5/media"), allow_insecure_local=True) == 31922


def test_parameters_are_unescaped_and_kept() -> None:
    response = VoiceResponse()
    stream = response.connect().stream(url="wss://s.example.com/media")
    stream.parameter(name="persona", value='Tom & Jerry\'s <"best">')
    response.say("Bye")
    response.hangup()
    document = parse_twiml(str(response))
    connect, say, hangup = document.verbs
    assert isinstance(connect, ConnectStream)
    assert connect.parameters == {"persona": 'Tom & Jerry\'s <"best">'}
    assert say == Say("Bye")
    assert hangup == Hangup()


def test_oversized_parameter_is_refused() -> None:
    response = VoiceResponse()
    response.connect().stream(url="wss://s.example.com/media").parameter(name="token", value="x" * 600)
    assert _code(str(response)) == 12100


def test_unknown_verb_is_a_warning_not_a_failure() -> None:
    document = parse_twiml("<Response><Dance/><Hangup/></Response>")
    assert [w.code for w in document.warnings] == [12200]
    assert document.verbs == [Hangup()]
