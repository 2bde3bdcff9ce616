"""The conductor's inputs: one call told only through `deliver`, as the session's inbox does."""

from __future__ import annotations

import json

from stream_server.conversation.actions import (
    Authenticate,
    EndCall,
    EndReason,
    Hangup,
    PersistTurn,
    ReplyAudio,
    ReplyOutcome,
    Send,
    SpeakReply,
    SpeakText,
)
from stream_server.conversation.call_state import CallState
from stream_server.conversation.inputs import (
    Authenticated,
    Drain,
    FinalTranscript,
    Frame,
    HangupDone,
    MalformedFrame,
    Rejected,
    ReplyChunk,
    ReplyFinished,
    ReplyProgress,
    SocketClosed,
    Tick,
    deliver,
)
from stream_server.providers.base import ToolCall
from stream_server.telephony.twilio_protocol import Mark, OutboundMark, ProtocolError, parse
from tests.unit.stream_server.replay import PERSONA, start_frame


def _started(now: float = 10.0) -> CallState:
    state = CallState()
    assert [type(a) for a in deliver(state, Frame(parse(start_frame())), now)] == [Authenticate]
    assert deliver(state, Authenticated("call-1", PERSONA), now) == [SpeakText("Hi there.", "greeting")]
    return state


def _play(state: CallState, text: str, now: float, outcome: ReplyOutcome) -> list[object]:
    """The running reply says ``text``, ends with ``outcome``, and its mark comes back."""
    out = list(deliver(state, ReplyChunk(ReplyAudio(0, text, b"\x55" * 160)), now))
    out += deliver(state, ReplyFinished(outcome), now)
    mark = next(a.message for a in out if isinstance(a, Send) and isinstance(a.message, OutboundMark))
    return out + deliver(state, Frame(Mark(None, "MZ1", mark.name)), now)


def test_a_whole_call_through_inputs_only() -> None:
    state = _started()
    greeting = _play(state, "Hi there.", 10.5, ReplyOutcome(finished=True))
    assert [type(a) for a in greeting if not isinstance(a, Send)] == [PersistTurn]
    reply = deliver(state, FinalTranscript("Can you close my account?"), 12.0)
    assert any(isinstance(a, SpeakReply) for a in reply)
    # The reply ends with a tool call: the model's own words close the call.
    done = ReplyOutcome({"llm_first_token": 120.0}, tool_calls=(ToolCall("end_call"),), finished=True)
    closing = _play(state, "Done, goodbye!", 12.5, done)
    turn = next(a.turn for a in closing if isinstance(a, PersistTurn))
    assert turn.latency_ms["llm_first_token"] == 120.0
    assert Hangup(EndReason.ASSISTANT_END_CALL) in closing
    assert deliver(state, HangupDone(), 13.0) == [EndCall(EndReason.ASSISTANT_END_CALL)]
    assert deliver(state, SocketClosed(), 13.1) == []  # over already: heard once, acted on once


def test_rejections_malformed_frames_drain_and_a_closed_socket() -> None:
    refused = CallState()
    deliver(refused, Frame(parse(start_frame())), 1.0)
    assert deliver(refused, Rejected(EndReason.REPLAYED_TOKEN), 1.0) == [
        EndCall(EndReason.REPLAYED_TOKEN, close_code=1008)
    ]
    state = _started()
    assert deliver(state, MalformedFrame(ProtocolError("not JSON")), 10.0) == []
    assert state.protocol_errors == 1
    _play(state, "Hi there.", 10.5, ReplyOutcome(finished=True))
    assert deliver(state, Drain(12.0), 10.6) == []
    assert deliver(state, Tick(), 11.9) == []
    goodbye = deliver(state, Tick(), 12.0)
    assert any(isinstance(a, SpeakText) and a.kind == "goodbye" for a in goodbye)
    assert deliver(state, SocketClosed(), 21.0)[-1] == EndCall(EndReason.DRAIN)


def test_a_frame_is_exactly_what_the_socket_carried() -> None:
    state = _started()
    frame = json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}})
    out = deliver(state, Frame(parse(frame)), 11.0)  # the caller hung up while greeted
    assert out[-1] == EndCall(EndReason.CALLER_HANGUP)
    assert next(a.turn for a in out if isinstance(a, PersistTurn)).interrupted


def test_a_reply_cut_before_its_end_keeps_the_progress_last_reported() -> None:
    state = _started()
    deliver(state, ReplyProgress(ReplyOutcome(latency_ms={"llm_first_token": 80.0})), 10.1)
    frame = json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}})
    out = deliver(state, Frame(parse(frame)), 10.2)  # cut before any audio: no ReplyFinished comes
    turn = next(a.turn for a in out if isinstance(a, PersistTurn))
    assert turn.interrupted and turn.latency_ms == {"llm_first_token": 80.0}
