"""Hand a raw Twilio frame to `CallState` the way the shell does: parse at the edge, count junk."""

from __future__ import annotations

from stream_server.conversation.actions import Action
from stream_server.conversation.call_state import CallState
from stream_server.conversation.inputs import Frame, Input, MalformedFrame, deliver
from stream_server.telephony.twilio_protocol import ProtocolError, parse

__all__ = ["feed_frame"]


def feed_frame(state: CallState, frame: str | bytes, now: float) -> list[Action]:
    """What `stream_server.session.CallSession` does with one socket frame."""
    event: Input
    try:
        event = Frame(parse(frame))
    except ProtocolError as error:
        event = MalformedFrame(error)
    return deliver(state, event, now)
