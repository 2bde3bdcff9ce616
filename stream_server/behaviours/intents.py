"""What call behaviours ask of the call, as plain values the conductor turns into actions.

A behaviour (voicemail, idle clock, keypad, filler, tools) never touches `CallState`: it returns
intents, and `CallState` decides what they mean given the rest of the call (an intent that makes
no sense any more, such as `Interrupt` while the bot is silent, is simply dropped there).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CallUpdate",
    "CallerTurn",
    "Close",
    "Conclude",
    "Consent",
    "Count",
    "Disclosed",
    "EndReason",
    "Filler",
    "Hold",
    "Intent",
    "Interrupt",
    "LeaveMessage",
    "OptOut",
    "PlayDigits",
    "Say",
    "TransferTo",
]


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
class Interrupt:
    """Stop the bot now, as a barge-in does (keep only what the caller heard)."""


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """The caller's turn, taken by other means than speech (a keypad entry): answer it.

    ``transcript`` is what the call record stores; ``said`` is what the language model is told.
    """

    transcript: str
    said: str


@dataclass(frozen=True, slots=True)
class TransferTo:
    """Bridge the caller to a human at ``number`` (the shell builds the ``<Dial>`` TwiML)."""

    number: str


@dataclass(frozen=True, slots=True)
class PlayDigits:
    """Press ``digits`` towards the far end (the shell builds the ``<Play digits>`` TwiML)."""

    digits: str


CallUpdate = TransferTo | PlayDigits
"""A REST update of the live call, made by the shell once the bot's last words were heard."""


@dataclass(frozen=True, slots=True)
class Conclude:
    """End the call for ``reason`` once the words of the reply that asked for it have been heard.

    ``say``: a line to speak first when that reply said nothing itself (None = add nothing).
    ``update``: the REST update to make once the words have played; None = a plain hang-up.
    """

    reason: EndReason
    say: str | None = None
    update: CallUpdate | None = None


@dataclass(frozen=True, slots=True)
class OptOut:
    """The callee asked not to be called again: list their number and mark the call record."""


@dataclass(frozen=True, slots=True)
class Count:
    """Add one to the ``metric`` counter."""

    metric: str


@dataclass(frozen=True, slots=True)
class Disclosed:
    """The opening disclosure was heard in full: note it on the call record."""


@dataclass(frozen=True, slots=True)
class Consent:
    """The callee answered the recording question: ``given`` starts the recording."""

    given: bool


Intent = (
    Say
    | Close
    | Hold
    | LeaveMessage
    | Filler
    | Count
    | Interrupt
    | CallerTurn
    | Conclude
    | OptOut
    | Disclosed
    | Consent
)
"""What a behaviour may ask of the call."""
