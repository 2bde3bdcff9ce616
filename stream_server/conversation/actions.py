"""What a call's conductor hands its shell: the actions, the call phases and why a call ended.

Everything here is plain data. `CallState` returns lists of `Action`; the shell
(`stream_server.session`) performs them. `Phase` moves only along `TRANSITIONS` (one table, checked
by `Phase.to`), and a call ends for exactly one `EndReason`, stored on the call record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from callcore.models import TranscriptTurn

from stream_server.behaviours.intents import EndReason
from stream_server.behaviours.tools import CallUpdate
from stream_server.providers.base import ChatMessage, ToolCall, ToolSpec
from stream_server.telephony.twilio_protocol import OutboundMessage, Start

__all__ = [
    "TRANSITIONS",
    "Action",
    "AdoptSpeculation",
    "Authenticate",
    "CancelReply",
    "CommitStt",
    "DiscardSpeculation",
    "EndCall",
    "EndReason",
    "FeedStt",
    "Hangup",
    "IllegalTransition",
    "PersistTurn",
    "Phase",
    "RecordMetric",
    "RecordOptOut",
    "ReplyChunk",
    "ReplyProgress",
    "Send",
    "SpeakFiller",
    "SpeakReply",
    "SpeakText",
    "SpeculateReply",
    "UpdateCall",
]


class IllegalTransition(RuntimeError):
    """A phase change the table does not allow: a bug in the conductor, never a caller's doing."""


class Phase(Enum):
    """Where a call is in its life. The only moves are those in `TRANSITIONS`."""

    AWAITING_START = "awaiting_start"
    AUTHENTICATING = "authenticating"
    ACTIVE = "active"
    ENDING = "ending"  # our last words are playing (goodbye, voicemail, transfer line)
    ENDED = "ended"

    def to(self, target: Phase) -> Phase:
        """The phase after moving to ``target``; raises `IllegalTransition` if the table forbids it."""
        if target not in TRANSITIONS[self]:
            raise IllegalTransition(f"{self.value} -> {target.value}")
        return target


class ReplyChunk(Protocol):
    """One chunk of a reply's audio as the shell reports it (`speech.pipeline.ReplyAudio` is one)."""

    @property
    def sentence(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def audio(self) -> bytes: ...


class ReplyProgress(Protocol):
    """What the conductor reads of a running reply (`speech.pipeline.ReplyStats` is one).

    Read-only here: the shell's pipeline fills it in; the conductor only reads it when it closes the
    turn (latencies, provider errors) and when the reply ends (tool calls).
    """

    @property
    def provider_errors(self) -> Sequence[str]: ...
    @property
    def tool_calls(self) -> Sequence[ToolCall]: ...
    def latency_ms(self) -> Mapping[str, float]: ...


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.AWAITING_START: frozenset({Phase.AUTHENTICATING, Phase.ENDED}),
    Phase.AUTHENTICATING: frozenset({Phase.ACTIVE, Phase.ENDED}),
    Phase.ACTIVE: frozenset({Phase.ENDING, Phase.ENDED}),
    # A failed transfer or digits update returns to the conversation.
    Phase.ENDING: frozenset({Phase.ACTIVE, Phase.ENDED}),
    Phase.ENDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Send:
    message: OutboundMessage


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Verify the stream token and load the persona, then call `CallState.authenticated`."""

    start: Start


@dataclass(frozen=True, slots=True)
class FeedStt:
    audio: bytes


@dataclass(frozen=True, slots=True)
class CommitStt:
    pass


@dataclass(frozen=True, slots=True)
class SpeakReply:
    """Run the LLM -> TTS pipeline for this history, offering ``tools`` to the model."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class SpeculateReply:
    """Run the LLM -> TTS pipeline for words not yet confirmed as the turn's; hold its audio until adopted."""

    speculation_id: int
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class AdoptSpeculation:
    """The final transcript confirmed the speculation: play its held audio now, as the reply."""

    speculation_id: int


@dataclass(frozen=True, slots=True)
class DiscardSpeculation:
    """The caller went on or said something else: cancel the speculative reply unheard."""

    speculation_id: int


@dataclass(frozen=True, slots=True)
class SpeakText:
    """Speak fixed text (greeting, goodbye)."""

    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class CancelReply:
    pass


@dataclass(frozen=True, slots=True)
class PersistTurn:
    turn: TranscriptTurn


@dataclass(frozen=True, slots=True)
class RecordOptOut:
    """The callee asked not to be called again: list their number and mark the call record.

    Performed in the background like a turn write, and awaited before the call's end is recorded.
    """


@dataclass(frozen=True, slots=True)
class RecordMetric:
    name: str
    value: float
    unit: str = "Milliseconds"


@dataclass(frozen=True, slots=True)
class Hangup:
    """Goodbye has played: end the call through the REST API, then close the socket."""

    reason: EndReason


@dataclass(frozen=True, slots=True)
class SpeakFiller:
    """The reply is late: play this phrase's pre-rendered clip, then `CallState.on_filler_audio`."""

    text: str


@dataclass(frozen=True, slots=True)
class UpdateCall:
    """The last words have played: replace the live call's TwiML over REST (transfer, digits).

    Then close like a hang-up (`CallState.on_hangup_done`), or report `on_call_update_failed`.
    """

    update: CallUpdate
    reason: EndReason


@dataclass(frozen=True, slots=True)
class EndCall:
    """The call is over without our hang-up (caller hung up, auth failed): close and summarise."""

    reason: EndReason
    close_code: int = 1000


Action = (
    Send
    | Authenticate
    | FeedStt
    | CommitStt
    | SpeakReply
    | SpeakText
    | SpeculateReply
    | AdoptSpeculation
    | DiscardSpeculation
    | CancelReply
    | PersistTurn
    | RecordOptOut
    | RecordMetric
    | Hangup
    | UpdateCall
    | SpeakFiller
    | EndCall
)
