"""What the shell tells a call's conductor: one typed value for each thing that happened.

The session puts these on the call's one inbox, from whichever task saw them happen (the socket
reader, the recogniser, the clock, a reply, a REST call), and hands them to `deliver` one at a
time, in order; `deliver` calls the matching `CallState` method and returns its actions. So the
conductor is never entered by two tasks at once, and its input is a list of values a test can
write down.

Plain data, sans I/O. Times are not inside the values: `deliver` is given the clock's reading when
the input is handled.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcore.models import Persona

from stream_server.conversation.actions import Action, EndReason, ReplyAudio, ReplyOutcome
from stream_server.conversation.call_state import CallState
from stream_server.telephony.twilio_protocol import InboundMessage, ProtocolError

__all__ = [
    "AnsweredBy",
    "Authenticated",
    "CallUpdateFailed",
    "Drain",
    "FillerAudio",
    "FinalTranscript",
    "Frame",
    "HangupDone",
    "Input",
    "MalformedFrame",
    "PartialTranscript",
    "Rejected",
    "ReplyChunk",
    "ReplyFinished",
    "ReplyProgress",
    "SocketClosed",
    "SttFailed",
    "Tick",
    "deliver",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """A Twilio Media Streams message, parsed by the shell."""

    message: InboundMessage


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """A frame the shell could not parse."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The stream token was genuine and unused; ``persona`` is the one this call speaks.

    ``disclosure``: what to say before the greeting, never cut (`callcore.disclosure`); None = none.
    ``ask_consent``: the disclosure asks to record, and the callee's next turn is the answer.
    """

    call_id: str
    persona: Persona
    disclosure: str | None = None
    ask_consent: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """The stream token was bad or replayed, or could not be checked."""

    reason: EndReason


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    text: str


@dataclass(frozen=True, slots=True)
class FinalTranscript:
    """The committed transcript of one segment of the caller's turn."""

    text: str


@dataclass(frozen=True, slots=True)
class SttFailed:
    """The recogniser could not be (re)opened."""


@dataclass(frozen=True, slots=True)
class Tick:
    """The call's periodic clock."""


@dataclass(frozen=True, slots=True)
class AnsweredBy:
    """Twilio's asynchronous answering-machine result, read from the call record."""

    answered_by: str


@dataclass(frozen=True, slots=True)
class Drain:
    """The process is draining: say goodbye at ``deadline`` (monotonic) if still talking."""

    deadline: float


@dataclass(frozen=True, slots=True)
class ReplyProgress:
    """What the running reply has produced so far (reported whenever it changed)."""

    outcome: ReplyOutcome


@dataclass(frozen=True, slots=True)
class ReplyChunk:
    """A chunk of the running reply's audio."""

    chunk: ReplyAudio


@dataclass(frozen=True, slots=True)
class FillerAudio:
    """The pre-rendered clip of the filler phrase the conductor asked for."""

    text: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class ReplyFinished:
    """The running reply produced everything it will; ``outcome`` is all it produced."""

    outcome: ReplyOutcome


@dataclass(frozen=True, slots=True)
class CallUpdateFailed:
    """The REST update of the live call (transfer, digits) failed or was refused."""


@dataclass(frozen=True, slots=True)
class HangupDone:
    """Our REST hang-up (or call update) is done: the call is over."""


@dataclass(frozen=True, slots=True)
class SocketClosed:
    """The Media Streams socket closed without the call having ended."""


Input = (
    Frame
    | MalformedFrame
    | Authenticated
    | Rejected
    | PartialTranscript
    | FinalTranscript
    | SttFailed
    | Tick
    | AnsweredBy
    | Drain
    | ReplyProgress
    | ReplyChunk
    | FillerAudio
    | ReplyFinished
    | CallUpdateFailed
    | HangupDone
    | SocketClosed
)
"""Everything that may happen to a call, as the conductor hears of it."""


def deliver(state: CallState, event: Input, now: float) -> list[Action]:
    """Hand ``event`` to the call's conductor; returns what the shell must do about it."""
    match event:
        case Frame(message):
            return state.on_message(message, now)
        case ReplyChunk(chunk):
            return state.on_reply_audio(chunk, now)
        case PartialTranscript(text):
            return state.on_partial(text, now)
        case FinalTranscript(text):
            return state.on_transcript(text, now)
        case Tick():
            return state.on_tick(now)
        case ReplyProgress(outcome):
            state.on_reply_progress(outcome)
            return []
        case ReplyFinished(outcome):
            state.on_reply_progress(outcome)
            return state.on_reply_finished(now)
        case FillerAudio(text, audio):
            return state.on_filler_audio(text, audio, now)
        case MalformedFrame(error):
            state.on_malformed(error)
            return []
        case Authenticated(call_id, persona, disclosure, ask_consent):
            return state.authenticated(call_id, persona, now, disclosure=disclosure, ask_consent=ask_consent)
        case Rejected(reason):
            return state.rejected(reason, now)
        case SttFailed():
            return state.on_stt_failed(now)
        case AnsweredBy(answered_by):
            return state.on_answered_by(answered_by, now)
        case Drain(deadline):
            state.begin_drain(deadline)
            return []
        case CallUpdateFailed():
            return state.on_call_update_failed(now)
        case HangupDone():
            return state.on_hangup_done(now)
        case SocketClosed():
            return state.on_socket_closed(now)
