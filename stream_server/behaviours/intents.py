"""What call behaviours ask of the call, as plain values the conductor turns into actions.

A behaviour (voicemail, idle clock, keypad, filler, tools) never touches `CallState`: it returns
intents, and `CallState` decides what they mean given the rest of the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Close", "Count", "EndReason", "Filler", "Hold", "Intent", "LeaveMessage", "Say"]


class EndReason(StrEnum):
    """Why a call ended; the value is what the call record's ``end_reason`` says."""

    CALLER_HANGUP = "caller-hangup"
    CALLER_GOODBYE = "caller-goodbye"
    SOCKET_CLOSED = "socket-closed"
    BAD_TOKEN = "bad-token"  # noqa: S105 - an end reason, not a secret
    REPLAYED_TOKEN = "replayed-token"  # noqa: S105 - an end reason, not a secret
    STORAGE_ERROR = "storage-error"
    STT_FAILED = "stt-failed"
    DRAIN = "drain"
    MAX_DURATION = "max-duration"
    IDLE = "idle"
    VOICEMAIL = "voicemail"
    MACHINE = "machine"
    ASSISTANT_END_CALL = "assistant-end-call"
    OPTED_OUT = "opted-out"
    TRANSFERRED = "transferred"
    SENT_DIGITS = "sent-digits"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class Say:
    """Speak fixed text now, as its own bot utterance (``kind`` names it in metrics and tests)."""

    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class Close:
    """End the call for ``reason``: stop talking, say ``text`` (None = the persona's goodbye), hang up."""

    reason: EndReason
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """Stop talking and end the conversation for ``reason``, but say nothing yet (a machine's greeting).

    Ignored, with every intent after it, when the call is no longer in conversation.
    """

    reason: EndReason


@dataclass(frozen=True, slots=True)
class LeaveMessage:
    """The machine is recording: say ``text`` and hang up (None = hang up without a message).

    Only honoured while the call is held for a machine.
    """

    text: str | None


@dataclass(frozen=True, slots=True)
class Filler:
    """Cover a slow reply with this short phrase (its clip is pre-rendered by the shell)."""

    text: str


@dataclass(frozen=True, slots=True)
class Count:
    """Add one to the ``metric`` counter."""

    metric: str


Intent = Say | Close | Hold | LeaveMessage | Filler | Count
"""What a behaviour may ask of the call."""
