"""The bot's side of the line: the utterance in progress, its ledger entry and its frames.

`CallState` decides when the bot speaks, when it stops and what a finished utterance means;
`BotVoice` keeps the mechanics: at most one `Speaking` at a time, from the moment the conductor
asks for speech (a reply, a greeting, a goodbye) until the utterance is settled (generated and
every mark back, or cut), the media and mark frames that carry its audio, and how a stop goes
on the wire. Sans I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stream_server.behaviours.disclosure import DISCLOSURE_KIND
from stream_server.behaviours.filler import Fillers
from stream_server.behaviours.intents import Intent
from stream_server.conversation.actions import (
    Action,
    CancelReply,
    ReplyAudio,
    ReplyOutcome,
    Send,
    SpeakReply,
    SpeakText,
)
from stream_server.providers.base import ChatMessage, ToolSpec
from stream_server.telephony.playback import PlaybackLedger, Utterance, media_pieces
from stream_server.telephony.twilio_protocol import OutboundClear, OutboundMark, OutboundMedia
from stream_server.turn_taking.floor import Floor

__all__ = ["BotVoice", "Speaking"]


@dataclass(slots=True)
class Speaking:
    """The bot utterance in progress.

    Attributes:
        kind: what it is (``reply``, ``greeting``, ``goodbye``, ``resume``, ...), for metrics and tests.
        generating: the pipeline may still produce audio for it.
        outcome: what its pipeline produced, as last reported by the shell.
        caller_latency: the waits of the caller turn it answers (stored with the assistant turn).
        filler_considered: a filler was said or is no longer wanted for this reply.
        sentence_offset: a filler played first takes sentence 0; the reply's sentences follow it.
    """

    utterance: Utterance
    kind: str
    started_at: float
    generating: bool = True
    outcome: ReplyOutcome | None = None
    caller_latency: dict[str, float] = field(default_factory=dict)
    filler_considered: bool = False
    sentence_offset: int = 0

    @property
    def settled(self) -> bool:
        """Everything was generated and every mark is back: the utterance is over."""
        return not self.generating and not self.utterance.outstanding

    def place(self, sentence: int, text: str) -> int:
        """The ledger sentence a reply chunk of sentence ``sentence`` (saying ``text``) plays in."""
        utterance = self.utterance
        placed = sentence + self.sentence_offset
        while len(utterance.sentences) <= placed:
            utterance.add_sentence(text)
        if utterance.sentences[placed] != text:
            utterance.sentences[placed] = text  # the apology replaces a cut sentence
        return placed

    def place_filler(self, text: str) -> int:
        """The filler clip goes first, as sentence 0; the reply's own sentences follow it."""
        self.utterance.add_sentence(text)
        self.sentence_offset = 1
        return 0

    def consider_filler(self, fillers: Fillers, now: float, *, caller_speaking: bool) -> list[Intent]:
        """A filler for this reply while it has no audio of its own yet (said at most once)."""
        if self.kind != "reply" or self.filler_considered:
            return []
        intents = fillers.consider(
            waited_s=now - self.started_at,
            reply_audio_started=bool(self.utterance.chunks),
            caller_speaking=caller_speaking,
        )
        self.filler_considered = bool(intents)
        return intents


class BotVoice:
    """The utterance in progress (``speaking``), the call's playback ledger, and the frames they make."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.ledger = PlaybackLedger()
        self.stream_sid = ""
        self.speaking: Speaking | None = None

    @property
    def audible(self) -> bool:
        """The bot is talking: its utterance is still generating, or audio of it is still queued."""
        speaking = self.speaking
        return speaking is not None and (speaking.generating or self.ledger.outstanding > 0)

    @property
    def disclosing(self) -> bool:
        """The opening disclosure is playing (it is never cut)."""
        return self.speaking is not None and self.speaking.kind == DISCLOSURE_KIND

    def begin(self, kind: str, now: float) -> Speaking:
        """A new utterance (the conductor has stopped any earlier one)."""
        self.speaking = Speaking(self.ledger.start_utterance(), kind, now)
        return self.speaking

    def reply(self, history: Sequence[ChatMessage], tools: tuple[ToolSpec, ...], now: float) -> list[Action]:
        """A new utterance: the model's reply to ``history``."""
        self.begin("reply", now)
        return [SpeakReply(tuple(history), tools)]

    def say(self, text: str, kind: str, now: float) -> list[Action]:
        """A new utterance: fixed ``text``, rendered by the pipeline."""
        self.begin(kind, now)
        return [SpeakText(text, kind)]

    def play_reply(self, chunk: ReplyAudio, now: float, fillers: Fillers) -> list[Action]:
        """A chunk of the reply's audio; the first one makes any filler for it moot."""
        speaking = self.speaking
        if speaking is None:
            return []
        if speaking.kind == "reply" and not speaking.utterance.chunks:
            speaking.filler_considered = True  # the answer itself is on its way: no filler now
            fillers.reply_audio_started()
        return self.play(speaking, speaking.place(chunk.sentence, chunk.text), chunk.audio, now)

    def progress(self, outcome: ReplyOutcome) -> None:
        """What the running reply's pipeline has produced so far (or in all, when it has finished)."""
        if self.speaking is not None:
            self.speaking.outcome = outcome

    def play_filler(self, text: str, audio: bytes, now: float) -> list[Action]:
        """The filler clip, if the reply it covers has still produced no audio of its own."""
        speaking = self.speaking
        if speaking is None or speaking.kind != "reply" or speaking.utterance.chunks or not audio:
            return []
        return self.play(speaking, speaking.place_filler(text), audio, now)

    def play(self, speaking: Speaking, sentence: int, audio: bytes, now: float) -> list[Action]:
        """Send audio of the utterance as it came, in pieces of at most 200 ms, each followed by its mark."""
        self.floor.bot_played(audio, now)
        actions: list[Action] = []
        for piece in media_pieces(audio):
            name = self.ledger.add_chunk(speaking.utterance, sentence, len(piece))
            actions += (
                Send(OutboundMedia(self.stream_sid, piece)),
                Send(OutboundMark(self.stream_sid, name)),
            )
        return actions

    def stop(self, now: float) -> list[Action]:
        """Stop generating and flush Twilio's buffer; the ledger keeps what was heard."""
        speaking = self.speaking
        if speaking is None:
            return []
        actions: list[Action] = []
        generating = speaking.generating
        if generating:
            actions.append(CancelReply())
            speaking.generating = False
        # With no mark outstanding Twilio's buffer is empty and `clear` is a no-op there (a reply made
        # slower than it plays); a reply cut while still generating gets one anyway, so every stop
        # of the bot ends the same way on the wire.
        if self.ledger.outstanding or generating:
            self.ledger.clear()
            actions.append(Send(OutboundClear(self.stream_sid)))
            self.floor.bot_cut(now)
        return actions

    def abandon(self) -> list[Action]:
        """The call is over: stop generating; whatever is still queued at Twilio will never play."""
        speaking = self.speaking
        if speaking is None:
            return []
        actions: list[Action] = [CancelReply()] if speaking.generating else []
        speaking.generating = False
        self.ledger.clear()
        return actions

    def finish(self, *, caller_took_floor: bool = False) -> Speaking | None:
        """The utterance, if it is settled: it is over now, and the floor hears of it."""
        speaking = self.speaking
        if speaking is None or not speaking.settled:
            return None
        self.speaking = None
        self.floor.bot_finished(caller_took_floor=caller_took_floor)
        return speaking
