"""What call behaviours ask of the call, as plain values the conductor turns into actions.

A behaviour (voicemail, idle clock, keypad, filler, tools) never touches `CallState`: it returns
intents, and `CallState` decides what they mean given the rest of the call.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EndReason"]


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
    TRANSFERRED = "transferred"
    SENT_DIGITS = "sent-digits"
    HANGUP = "hangup"
