"""What a call's conductor hands its shell: the actions, the call phases and why a call ended.

Plain data. `CallState` returns lists of `Action`; the shell (`stream_server.session`) performs
them, and reports a reply's audio (`ReplyAudio`) and what the reply produced (`ReplyOutcome`,
frozen) back. `Phase` moves only along `TRANSITIONS` (one table, checked by `Phase.to`), and a call
ends for exactly one `EndReason`, stored on the call record (`Ending`: how an ending call ends).
`direct_action` maps the behaviours' intents that need nothing else of the call to their actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from callcore.models import TranscriptTurn

from stream_server.behaviours.intents import Consent, Count, Disclosed, EndReason, Filler, OptOut
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
    "DirectIntent",
    "DiscardSpeculation",
    "EndCall",
    "EndReason",
    "Ending",
    "FeedStt",
    "Hangup",
    "IllegalTransition",
    "NoteDisclosure",
    "PersistTurn",
    "Phase",
    "RecordConsent",
    "RecordMetric",
    "RecordOptOut",
    "ReplyAudio",
    "ReplyOutcome",
    "Send",
    "SpeakFiller",
    "SpeakReply",
    "SpeakText",
    "SpeculateReply",
    "UpdateCall",
    "direct_action",
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


@dataclass(frozen=True, slots=True)
class ReplyAudio:
    """One chunk of speech: which sentence (index and text) it belongs to, and its mu-law audio."""

    sentence: int
    text: str
    audio: bytes
    apology: bool = False


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What a reply's pipeline has produced so far, frozen when the shell reports it.

    The shell reports it while the reply runs (`CallState.on_reply_progress`, whenever it changed)
    and once more when the reply has produced all it will (`finished`); the conductor keeps the
    latest with the utterance and reads it when the turn closes (latencies, provider errors) and
    when the reply ends (tool calls). What the caller heard of it, and whether they cut it, come
    from Twilio's marks (`telephony.playback`), not from here.

    Attributes:
        latency_ms: stage latencies from the reply's start (``llm_first_token``,
            ``tts_first_byte``, ``first_audio``), only those that happened.
        provider_errors: the LLM and TTS faults met, in order.
        tool_calls: the tools the model asked for, in order.
        text: everything the model (or the fixed text) said, heard or not.
        apologised: a fault ended the reply early and the apology clip was played.
        finished: the pipeline produced everything it will (False: still running, or cut).
    """

    latency_ms: Mapping[str, float] = field(default_factory=dict)
    provider_errors: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    text: str = ""
    apologised: bool = False
    finished: bool = False


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
class NoteDisclosure:
    """The opening disclosure was heard in full: note it on the call record (in the background)."""


@dataclass(frozen=True, slots=True)
class RecordConsent:
    """The callee's answer to the recording question: note it; ``given`` starts Twilio's recording."""

    given: bool


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
    | NoteDisclosure
    | RecordConsent
    | RecordMetric
    | Hangup
    | UpdateCall
    | SpeakFiller
    | EndCall
)
"""What the conductor may ask of the shell."""

DirectIntent = Count | Disclosed | Consent | Filler | OptOut
"""The intents whose action needs nothing else of the call."""


def direct_action(intent: DirectIntent) -> Action:
    """The action a `DirectIntent` asks for, whatever the rest of the call."""
    match intent:
        case Count(metric):
            return RecordMetric(metric, 1, "Count")
        case Disclosed():
            return NoteDisclosure()
        case Consent(given):
            return RecordConsent(given)
        case Filler(text):
            return SpeakFiller(text)
        case OptOut():
            return RecordOptOut()


@dataclass(slots=True)
class Ending:
    """How an ending call ends once the bot's last words have been heard: hang up for ``reason``,
    or make the REST ``update`` a tool asked for (transfer, digits). ``reason`` None: not that way."""

    reason: EndReason | None = None
    update: CallUpdate | None = None

    def action(self, reason: EndReason) -> Action:
        """Our last words were heard: hang up, or make the REST update."""
        return Hangup(reason) if self.update is None else UpdateCall(self.update, reason)
