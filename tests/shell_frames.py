"""Hand a raw Twilio frame to `CallState` the way the shell does: parse at the edge, count junk."""

from __future__ import annotations

from stream_server.conversation.actions import Action
from stream_server.conversation.call_state import CallState
from stream_server.telephony.twilio_protocol import ProtocolError, parse

__all__ = ["feed_frame"]


def feed_frame(state: CallState, frame: str | bytes, now: float) -> list[Action]:
    """What `stream_server.session.CallSession` does with one socket frame."""
    try:
        message = parse(frame)
    except ProtocolError as error:
        state.on_malformed(error)
        return []
    return state.on_message(message, now)
