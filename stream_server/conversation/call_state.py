"""One call's decisions, sans I/O: fed Twilio frames, transcripts and the clock; returns actions.

This is the brain of a call. It owns the turn detector, the playback ledger, the conversation
history and the transcript turns, and decides when to greet, reply, interrupt, apologise and hang
up. It never awaits anything: the asyncio shell in `stream_server.session` performs the actions it
returns (send a frame, feed the recogniser, start or cancel a reply, write a turn, hang up) and
reports back what happened. Tests replay whole conversations through it with invented timestamps.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from callcore.models import Persona, TranscriptTurn

from stream_server.behaviours.disclosure import DISCLOSURE_KIND, Disclosure
from stream_server.behaviours.filler import Fillers, FillerSettings
from stream_server.behaviours.idle import CallClock
from stream_server.behaviours.intents import (
    CallerTurn,
    CallUpdate,
    Close,
    Conclude,
    Consent,
    Count,
    Disclosed,
    Filler,
    Hold,
    Intent,
    Interrupt,
    LeaveMessage,
    OptOut,
    Say,
)
from stream_server.behaviours.keypad import Keypad
from stream_server.behaviours.tools import CallTools, ToolOptions
from stream_server.behaviours.voicemail import AnsweringMachine, VoicemailSettings
from stream_server.conversation import phrases
from stream_server.conversation.actions import (
    Action,
    AdoptSpeculation,
    Authenticate,
    CancelReply,
    CommitStt,
    DiscardSpeculation,
    EndCall,
    EndReason,
    FeedStt,
    Hangup,
    NoteDisclosure,
    PersistTurn,
    Phase,
    RecordConsent,
    RecordMetric,
    RecordOptOut,
    ReplyAudio,
    ReplyOutcome,
    Send,
    SpeakFiller,
    SpeakReply,
    SpeakText,
    SpeculateReply,
    UpdateCall,
)
from stream_server.conversation.transcript import Transcript
from stream_server.providers.base import ChatMessage, ToolSpec
from stream_server.telephony.playback import PlaybackLedger, Utterance
from stream_server.telephony.twilio_protocol import (
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    OutboundClear,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    Start,
    Stop,
)
from stream_server.turn_taking.detector import (
    BargeIn,
    EndOfTurn,
    SpeechStarted,
    TurnSettings,
)
from stream_server.turn_taking.floor import DropSpeculation, Floor, Speculate
from stream_server.turn_taking.interruption import Verdict

__all__ = ["CallConfig", "CallState", "is_goodbye"]

log = logging.getLogger("stream_server.call")

_GOODBYE = re.compile(
    r"\b(good ?bye|bye(?: bye)?|hang up|that'?s all(?: for now)?|talk to you later|see you)\b[.!]?\s*$",
    re.IGNORECASE,
)


def is_goodbye(text: str) -> bool:
    """Did the caller end the conversation? Only when the farewell closes what they said."""
    return bool(_GOODBYE.search(text.strip()))


@dataclass(slots=True)
class _Speaking:
    """The bot utterance in progress: its ledger entry and how it came about."""

    utterance: Utterance
    kind: str
    started_at: float
    generating: bool = True
    outcome: ReplyOutcome | None = None  # what its pipeline produced, as last reported
    caller_latency: dict[str, float] = field(default_factory=dict)
    filler_considered: bool = False
    sentence_offset: int = 0  # a filler played first takes sentence 0; the reply's follow


@dataclass(frozen=True, slots=True)
class CallConfig:
    turn: TurnSettings = field(default_factory=TurnSettings)
    drain_goodbye: str = phrases.DRAIN_GOODBYE
    # Call behaviours (docs/call-behaviours.md).
    duration_warning: str = phrases.DURATION_WARNING
    duration_warning_before_s: float = 60.0
    transfer_line: str = phrases.TRANSFER_LINE
    transfer_failed: str = phrases.TRANSFER_FAILED
    opt_out_line: str = phrases.OPT_OUT_CONFIRMATION
    reask: str = phrases.REASK
    send_digits_tool: bool = False  # see stream_server.behaviours.tools: it ends the stream
    dtmf_inter_digit_s: float = 1.5  # keys pressed closer than this form one entry
    voicemail: VoicemailSettings = field(default_factory=VoicemailSettings)
    filler: FillerSettings = field(default_factory=FillerSettings)


class CallState:
    """Everything one call decides. Times are monotonic seconds; ``epoch_offset`` maps them to wall time."""

    def __init__(self, config: CallConfig | None = None, *, epoch_offset: float = 0.0) -> None:
        self.config = config or CallConfig()
        self.phase = Phase.AWAITING_START
        self.epoch_offset = epoch_offset
        self.stream_sid = ""
        self.call_sid = ""
        self.call_id = ""
        self.persona: Persona | None = None
        self.started_at: float | None = None
        self.end_reason: EndReason | None = None
        self.history: list[ChatMessage] = []
        self.transcript = Transcript(epoch_offset)
        self.protocol_errors = 0
        self.barge_ins = 0
        self.ledger = PlaybackLedger()
        self.floor = Floor(self.config.turn)
        self._cut_text: str | None = None
        self._speaking: _Speaking | None = None
        self._caller_onset: float | None = None
        self._caller_last_speech: float | None = None
        self._eot_decided_at: float | None = None
        self._eot_ms: float | None = None
        self._turn_ended = False  # the silence ended the caller's turn; its last finals may be due
        self._final_at: float | None = None
        self._hangup_when_quiet: EndReason | None = None
        self.clock = CallClock(
            warning=self.config.duration_warning,
            warn_before_s=self.config.duration_warning_before_s,
            drain_goodbye=self.config.drain_goodbye,
        )
        self._tools: CallTools | None = None
        self._closing: CallUpdate | None = None
        self._keypad = Keypad(inter_digit_s=self.config.dtmf_inter_digit_s)
        self._voicemail: AnsweringMachine | None = None
        self._fillers = Fillers(self.config.filler, ())
        self._disclosure = Disclosure()

    # -- inputs from the socket ----------------------------------------------------------------

    def on_message(self, message: InboundMessage, now: float) -> list[Action]:
        """One message from Twilio, already parsed by the shell (`telephony.twilio_protocol.parse`)."""
        if self.phase is Phase.ENDED:
            return []
        match message:
            case Media():
                return self._on_media(message, now)
            case Mark(name=name):
                self.ledger.on_mark(name)
                return self._settle(now)
            case Start():
                return self._on_start(message, now)
            case Dtmf(digit=digit):
                return self._on_dtmf(digit, now)
            case Stop():
                return self._end(EndReason.CALLER_HANGUP, now)
            case Connected():
                return []

    def on_malformed(self, error: ProtocolError) -> None:
        """A frame the shell could not parse: counted and survived."""
        self.protocol_errors += 1
        log.warning("ignored malformed frame: %s", error)

    def _on_start(self, start: Start, now: float) -> list[Action]:
        if self.phase is not Phase.AWAITING_START:
            self.protocol_errors += 1
            log.warning("ignored a second start message")
            return []
        self.phase = self.phase.to(Phase.AUTHENTICATING)
        self.stream_sid = start.stream_sid
        self.call_sid = start.call_sid
        self.started_at = now
        return [Authenticate(start)]

    def authenticated(
        self,
        call_id: str,
        persona: Persona,
        now: float,
        *,
        disclosure: str | None = None,
        ask_consent: bool = False,
    ) -> list[Action]:
        """The token was genuine and unused: disclose (``disclosure``, never cut), then greet."""
        if self.phase is not Phase.AUTHENTICATING:
            return []
        self.phase = self.phase.to(Phase.ACTIVE)
        self.call_id = call_id
        self.persona = persona
        self.clock.start(now)
        self._fillers = Fillers(self.config.filler, persona.filler_phrases)
        config = self.config
        options = ToolOptions(
            config.transfer_line, config.transfer_failed, config.opt_out_line, config.send_digits_tool
        )
        self._tools = CallTools(persona, options)
        self._keypad = Keypad(inter_digit_s=config.dtmf_inter_digit_s, sensitive=persona.dtmf_sensitive)
        if persona.machine_detection:
            self._voicemail = AnsweringMachine(
                self.config.voicemail, started_at=now, message=persona.voicemail_message
            )
        self.floor.detector.set_end_of_turn_silence(persona.end_of_turn_silence_ms)
        self.history = [ChatMessage("system", persona.prompt)]
        self._disclosure = Disclosure(disclosure, ask_consent=bool(disclosure) and ask_consent)
        return self._intents(self._disclosure.opening(persona.greeting), now)

    def rejected(self, reason: EndReason, now: float) -> list[Action]:
        """The token was bad or replayed: close without spending anything on providers."""
        self.phase = self.phase.to(Phase.ENDED)
        self.end_reason = reason
        return [EndCall(reason, close_code=1008)]

    def _on_media(self, media: Media, now: float) -> list[Action]:
        if self.phase not in (Phase.ACTIVE, Phase.ENDING) or media.track not in ("inbound", "inbound_track"):
            return []
        actions: list[Action] = []
        floor = self.floor
        frames, echoes_before = 0, floor.echo_frames
        # The disclosure is never cut: over it, no turn-taking and the recogniser hears silence.
        disclosing = self.disclosing
        for heard in floor.hear(media.payload, now):
            frames += 1
            events = () if disclosing else floor.turn_events(heard.speech, bot_speaking=self.bot_speaking)
            for event in events:
                actions += self._on_turn_event(event, now)
            if not disclosing:
                actions += self._after_frame(now)
            if self._voicemail is not None:
                clock = floor.clock(now)
                actions += self._intents(self._voicemail.on_frame(heard.pcm, heard.speech, clock), now)
        # Echo is not sent to the recogniser either, or the bot's words end up in the caller's.
        all_echo = frames and floor.echo_frames - echoes_before == frames
        silent = all_echo or disclosing
        return [FeedStt(b"\xff" * len(media.payload) if silent else media.payload), *actions]

    def _after_frame(self, now: float) -> list[Action]:
        """Per-frame decisions: interruption follow-ups, the early commit, the turn's silence, and the
        reply started on the committed words while the silence is confirmed."""
        floor = self.floor
        actions = self._on_verdict(floor.frame_verdict(now), now)
        if floor.final_overdue(now):
            actions += self._final_overdue(now)
        if not floor.caller_speaking:
            return actions
        if self.phase is Phase.ACTIVE and floor.commit_due(now):
            actions.append(CommitStt())
        stale = floor.caller_went_on(at_least_base=self._machine_undecided)
        if stale is not None:
            return [*actions, DiscardSpeculation(stale.speculation_id)]
        if floor.turn_text.up_to_date and floor.turn_text.segments:
            actions += self._speculate(now, text=floor.turn_text.text)
        return actions

    def _speculate(self, now: float, *, turn_ended: bool = False, text: str | None = None) -> list[Action]:
        """Start the LLM on ``text`` (default: the current partial) if the policy says it is ready."""
        if self.phase is not Phase.ACTIVE or self._speaking is not None:
            return []
        if is_goodbye(text if text is not None else self.floor.partial):
            return []  # the caller is leaving: the goodbye needs no model
        if self._machine_undecided or self._disclosure.awaiting_consent:
            return []  # never start a reply an answering machine might get, or on a consent answer
        return self._floor_actions(self.floor.speculate(now, turn_ended=turn_ended, text=text))

    def _floor_actions(self, events: list[Speculate | DropSpeculation]) -> list[Action]:
        return [
            SpeculateReply(e.speculation_id, (*self.history, ChatMessage("user", e.text)), self._offered)
            if isinstance(e, Speculate)
            else DiscardSpeculation(e.speculation_id)
            for e in events
        ]

    def _on_verdict(self, verdict: Verdict, now: float, onset: float | None = None) -> list[Action]:
        if verdict is Verdict.INTERRUPT:
            if self.phase is not Phase.ACTIVE or self._speaking is None:
                return []
            self.barge_ins += 1
            self._cut_text = self._speaking.utterance.unheard_text() or None
            actions = self._interrupt(now, caller_took_floor=True)
            start = onset if onset is not None else self.floor.interruption_onset()
            # Both ends on the audio clock: after a burst of late frames it runs ahead of `now`.
            actions.append(RecordMetric("BargeInReaction", (self.floor.clock(now) - start) * 1000.0))
            actions.append(RecordMetric("BargeIns", 1, "Count"))
            return actions
        if verdict is Verdict.RESUME:
            text, self._cut_text = self._cut_text, None
            if text is None or self.phase is not Phase.ACTIVE or self._speaking is not None:
                return []
            log.info("false interruption: re-saying the cut sentence")
            return [RecordMetric("FalseInterruptions", 1, "Count"), *self._speak_text(text, "resume", now)]
        return []

    def _on_turn_event(self, event: object, now: float) -> list[Action]:
        if isinstance(event, BargeIn):
            if self.phase is Phase.ENDING or self._speaking is None:
                return []
            return self._on_verdict(self.floor.candidate(event.onset_at, now), now, onset=event.onset_at)
        if isinstance(event, SpeechStarted):
            self.clock.idle.caller_active(now)
            return []
        if isinstance(event, EndOfTurn):
            self.clock.idle.caller_active(now)
            # The turn's times on the session's clock, counted back from the decision (the audio clock
            # runs ahead of it after a burst of late frames).
            self._caller_onset = now - (event.decided_at - event.onset_at)
            self._caller_last_speech = now - (event.decided_at - event.last_speech_at)
            # Measured on the audio clock: the silence we waited for, plus frame granularity.
            self._eot_ms = round((event.decided_at - event.last_speech_at) * 1000.0, 2)
            self._eot_decided_at = now
            self.floor.turn_ended()
            if self.phase is not Phase.ACTIVE:
                return []
            self._turn_ended = True
            actions: list[Action] = [CommitStt()] if self.floor.commit_at_end_of_turn(now) else []
            if not self.floor.turn_text.awaiting_final:
                return actions + self._finish_turn(now)
            # The last words are still with the recogniser: start on the partial meanwhile.
            text = self.floor.joined_with_partial()
            return actions + self._speculate(now, turn_ended=True, text=text or None)
        return []

    def _on_dtmf(self, digit: str, now: float) -> list[Action]:
        if self.phase is not Phase.ACTIVE or self.disclosing:
            return []
        log.info("caller pressed a key")  # never the digit: it may be part of a PIN
        self.clock.idle.caller_active(now)
        return self._intents(self._keypad.press(digit, now), now)

    # -- inputs from the recogniser, the pipeline and the clock ---------------------------------------

    def on_partial(self, text: str, now: float) -> list[Action]:
        """A partial transcript: feeds the adaptive end of turn, barge-in words and speculation."""
        text = text.strip()
        if self.phase is not Phase.ACTIVE or not text:
            return []
        heard = self.floor.hear_partial(text, now, bot_speaking=self._speaking is not None)
        if heard is None:
            return []
        dropped, verdict = heard
        return self._floor_actions(list(dropped)) + self._on_verdict(verdict, now)

    def on_transcript(self, text: str, now: float) -> list[Action]:
        """The committed transcript of one segment of the caller's turn (after our commit).

        Segments join into one turn; the turn is answered once the silence has ended it and every
        commit has its final. The final of a commit already given up (`_final_overdue`) is stale
        and dropped: its turn has moved on.
        """
        if self.phase is not Phase.ACTIVE:
            return []
        text = text.strip()
        verdict = self.floor.hear_final(text, now)
        if verdict is None:
            log.info("stale final transcript dropped: its turn has moved on")
            return []
        self._final_at = now
        if verdict is Verdict.RESUME:
            return self._floor_actions(list(self.floor.drop_speculation())) + self._on_verdict(
                Verdict.RESUME, now
            )
        if self._turn_ended or not self.floor.caller_speaking:
            if self.floor.turn_text.awaiting_final:
                return []
            return self._finish_turn(now)
        return []  # the caller's turn is open: the next frame judges its words (and may speculate)

    def _final_overdue(self, now: float) -> list[Action]:
        """The recogniser left a commit unanswered: its best partial stands in, or we ask again."""
        floor = self.floor
        log.warning("no final transcript within %d ms of a commit", floor.segments.final_timeout_ms)
        floor.turn_text.give_up(floor.partial, now)
        floor.partial = ""
        if self.phase is not Phase.ACTIVE or (floor.caller_speaking and not self._turn_ended):
            return []
        if not floor.turn_text.segments:
            self._turn_ended = False
            if self._speaking is not None:
                return []
            return [
                *self._floor_actions(list(floor.drop_speculation())),
                *self._speak_text(self.config.reask, "reply", now),
            ]
        self._final_at = now
        return self._finish_turn(now)

    def _finish_turn(self, now: float) -> list[Action]:
        """The caller's turn has ended and all its words are final: answer it (once)."""
        floor = self.floor
        text = floor.turn_text.text
        floor.turn_text.clear()
        floor.partial = ""
        self._turn_ended = False
        if not text:
            floor.speculation.new_turn()
            return self._floor_actions(list(floor.drop_speculation()))
        if self._speaking is not None and floor.is_backchannel(text):
            log.info("caller backchannel while the bot speaks; not taking the floor")
            floor.speculation.new_turn()
            return self._floor_actions(list(floor.drop_speculation()))
        self._cut_text = None
        adopted, dropped = self.floor.confirm(text)
        self.clock.idle.caller_active(now)
        latency: dict[str, float] = {}
        final_at = self._final_at if self._final_at is not None else now
        if self._eot_decided_at is not None and self._eot_ms is not None:
            latency["end_of_turn"] = self._eot_ms
            # The final's wait after the end of turn (0 when it came first, as after an early commit).
            latency["stt"] = round(max(0.0, final_at - self._eot_decided_at) * 1000.0, 2)
        if self._caller_last_speech is not None and self._eot_decided_at is not None:
            # From the caller's last voice, on one clock (end of turn decided = last voice + its
            # silence): for the per-stage waterfall of bench/bench_vs_pipecat.py.
            voice_at = self._eot_decided_at - (self._eot_ms or 0.0) / 1000.0
            start = adopted.started_at if adopted is not None else now
            latency["final_after_speech"] = round(max(0.0, final_at - voice_at) * 1000.0, 2)
            latency["reply_start_after_speech"] = round(max(0.0, start - voice_at) * 1000.0, 2)
        onset = self._caller_onset if self._caller_onset is not None else now
        last = self._caller_last_speech if self._caller_last_speech is not None else now
        actions: list[Action] = []
        if dropped is not None:
            actions.append(DiscardSpeculation(dropped.speculation_id))
        if self._speaking is not None:
            actions += self._interrupt(now)
        actions += self._caller_turn(text, onset, last, latency)
        self.history.append(ChatMessage("user", text))
        if is_goodbye(text):
            if adopted is not None:
                actions.append(DiscardSpeculation(adopted.speculation_id))
            return [*actions, *self._say_goodbye(EndReason.CALLER_GOODBYE, now)]
        assert self.persona is not None
        consent = self._disclosure.on_caller_turn(text, self.persona.greeting)
        if consent is not None:  # the answer to the recording question; the greeting follows
            if adopted is not None:
                actions.append(DiscardSpeculation(adopted.speculation_id))
            return [*actions, *self._intents(consent, now)]
        if adopted is not None:
            # Its audio may already be waiting: the wait for the final transcript cost nothing.
            self._begin_utterance("reply", now)
            actions.append(AdoptSpeculation(adopted.speculation_id))
            actions.append(RecordMetric("SpeculationHeadStart", (now - adopted.started_at) * 1000.0))
        else:
            actions += self._start_reply(now)
        assert self._speaking is not None
        self._speaking.caller_latency = latency
        return actions

    def on_reply_progress(self, outcome: ReplyOutcome) -> None:
        """What the running reply's pipeline has produced so far (or in all, when it has finished)."""
        if self._speaking is not None:
            self._speaking.outcome = outcome

    def on_reply_audio(self, chunk: ReplyAudio, now: float) -> list[Action]:
        """A chunk from the pipeline: send it, followed by its mark."""
        speaking = self._speaking
        if speaking is None or self.phase is Phase.ENDED:
            return []
        utterance = speaking.utterance
        if speaking.kind == "reply" and not utterance.chunks:
            speaking.filler_considered = True  # the answer itself is on its way: no filler now
            self._fillers.reply_audio_started()
        sentence = chunk.sentence + speaking.sentence_offset
        while len(utterance.sentences) <= sentence:
            utterance.add_sentence(chunk.text)
        if utterance.sentences[sentence] != chunk.text:
            utterance.sentences[sentence] = chunk.text  # the apology replaces a cut sentence
        name = self.ledger.add_chunk(utterance, sentence, len(chunk.audio))
        self.floor.bot_played(chunk.audio, now)
        return [
            Send(OutboundMedia(self.stream_sid, chunk.audio)),
            Send(OutboundMark(self.stream_sid, name)),
        ]

    def on_filler_audio(self, text: str, audio: bytes, now: float) -> list[Action]:
        """The filler clip, if the reply it covers has still produced no audio of its own."""
        speaking = self._speaking
        if speaking is None or speaking.kind != "reply" or speaking.utterance.chunks or not audio:
            return []
        speaking.utterance.add_sentence(text)
        speaking.sentence_offset = 1
        name = self.ledger.add_chunk(speaking.utterance, 0, len(audio))
        self.floor.bot_played(audio, now)
        return [Send(OutboundMedia(self.stream_sid, audio)), Send(OutboundMark(self.stream_sid, name))]

    def _filler(self, now: float) -> list[Action]:
        speaking = self._speaking
        if speaking is None or speaking.kind != "reply" or speaking.filler_considered:
            return []
        intents = self._fillers.consider(
            waited_s=now - speaking.started_at,
            reply_audio_started=bool(speaking.utterance.chunks),
            caller_speaking=self.floor.caller_speaking,
        )
        speaking.filler_considered = bool(intents)
        return self._intents(intents, now)

    def on_reply_finished(self, now: float) -> list[Action]:
        """The pipeline has produced everything it will for the current utterance."""
        speaking = self._speaking
        if speaking is None:
            return self._settle(now)
        speaking.generating = False
        outcome = speaking.outcome
        if (
            speaking.kind != "reply"
            or outcome is None
            or not outcome.tool_calls
            or self.phase is not Phase.ACTIVE
        ):
            return self._settle(now)
        assert self._tools is not None
        spoke = bool(speaking.utterance.sentences)
        intents = self._tools.on_reply_finished(outcome.tool_calls, spoke=spoke)
        return self._intents(intents, now) if intents else self._settle(now)

    def on_answered_by(self, answered_by: str, now: float) -> list[Action]:
        """Twilio's asynchronous AMD result, read from the call record by the session."""
        if self._voicemail is None:
            return []
        return self._intents(self._voicemail.on_answered_by(answered_by, now), now)

    @property
    def _machine_undecided(self) -> bool:
        """Answering-machine detection is on and has not yet said human or machine."""
        return self._voicemail is not None and self._voicemail.undecided

    @property
    def answering_machine(self) -> bool:
        return self._voicemail is not None and self._voicemail.machine

    def on_call_update_failed(self, now: float) -> list[Action]:
        """The REST update (transfer, digits) failed: stay on the line and say so."""
        if self.phase is not Phase.ENDING or self._closing is None:
            return []
        self.phase = self.phase.to(Phase.ACTIVE)
        self._hangup_when_quiet = None
        self._closing = None
        assert self._tools is not None
        return self._intents(self._tools.update_failed(), now)

    def on_stt_failed(self, now: float) -> list[Action]:
        """The recogniser died: tell the caller and hang up politely rather than go deaf."""
        if self.phase is not Phase.ACTIVE:
            return []
        return self._say_goodbye(EndReason.STT_FAILED, now)

    def on_tick(self, now: float) -> list[Action]:
        """Periodic clock: drain deadline, maximum duration (and its warning), keypad, filler, idle."""
        persona = self.persona
        if self.phase is not Phase.ACTIVE or persona is None or self.started_at is None:
            return []
        elapsed = now - self.started_at
        closing = self.clock.deadline(now, elapsed_s=elapsed, persona=persona)
        if closing is not None:
            return self._intents([closing], now)
        entry = self._keypad.due(now)
        if entry:
            return self._intents(entry, now)
        if self._speaking is not None:
            return self._filler(now)
        busy = self.floor.caller_speaking or self._keypad.pending
        return self._intents(self.clock.nudge(now, elapsed_s=elapsed, busy=busy, persona=persona), now)

    def begin_drain(self, deadline: float) -> None:
        self.clock.begin_drain(deadline)

    def on_hangup_done(self, now: float) -> list[Action]:
        return self._end(self._hangup_when_quiet or EndReason.HANGUP, now)

    def on_socket_closed(self, now: float) -> list[Action]:
        return self._end(EndReason.SOCKET_CLOSED, now)

    # -- queries ------------------------------------------------------------------------------------

    @property
    def bot_speaking(self) -> bool:
        return self._speaking is not None and (self._speaking.generating or self.ledger.outstanding > 0)

    @property
    def disclosing(self) -> bool:
        """The opening disclosure is playing (it is never cut)."""
        return self._speaking is not None and self._speaking.kind == DISCLOSURE_KIND

    @property
    def speaking_kind(self) -> str | None:
        return self._speaking.kind if self._speaking is not None else None

    @property
    def turns(self) -> list[TranscriptTurn]:
        return self.transcript.turns

    def duration_seconds(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    # -- internals ----------------------------------------------------------------------------------

    def _caller_turn(self, text: str, onset: float, last: float, latency: dict[str, float]) -> list[Action]:
        return [PersistTurn(self.transcript.caller(text, onset, last, latency))]

    def _begin_utterance(self, kind: str, now: float) -> None:
        self._speaking = _Speaking(self.ledger.start_utterance(), kind, now)

    @property
    def _offered(self) -> tuple[ToolSpec, ...]:
        """The tools the model may use on this call (none before the persona is known)."""
        return self._tools.offered if self._tools is not None else ()

    def _start_reply(self, now: float) -> list[Action]:
        self._begin_utterance("reply", now)
        return [SpeakReply(tuple(self.history), self._offered)]

    def _speak_text(self, text: str, kind: str, now: float) -> list[Action]:
        self._begin_utterance(kind, now)
        return [SpeakText(text, kind)]

    def _intents(self, intents: list[Intent], now: float) -> list[Action]:
        """Turn behaviours' intents into actions, given the rest of the call."""
        actions: list[Action] = []
        for intent in intents:
            match intent:
                case Say(text, kind):
                    actions += self._speak_text(text, kind, now)
                case Close(reason, text):
                    actions += self._say_goodbye(reason, now, text=text)
                case Count(metric):
                    actions.append(RecordMetric(metric, 1, "Count"))
                case Disclosed():
                    actions.append(NoteDisclosure())
                case Consent(given):
                    actions.append(RecordConsent(given))
                case Filler(text):
                    actions.append(SpeakFiller(text))
                case Hold(reason):
                    if self.phase is not Phase.ACTIVE:
                        return actions  # already ending for another reason; nothing to add
                    actions += self._interrupt(now)
                    self.phase = self.phase.to(Phase.ENDING)
                    self._hangup_when_quiet = reason
                case LeaveMessage(text) if self._hangup_when_quiet is EndReason.VOICEMAIL:
                    if text is None:
                        self._hangup_when_quiet = EndReason.MACHINE
                        actions.append(Hangup(EndReason.MACHINE))
                    else:
                        actions += self._speak_text(text, "goodbye", now)
                case Interrupt():
                    actions += self._interrupt(now)
                case CallerTurn(transcript, said):
                    actions += self._interrupt(now)
                    actions += self._caller_turn(transcript, now, now, {})
                    self.history.append(ChatMessage("user", said))
                    actions += self._start_reply(now)
                case OptOut():
                    actions.append(RecordOptOut())
                case Conclude():
                    actions += self._conclude(intent, now)
        return actions

    def _conclude(self, conclude: Conclude, now: float) -> list[Action]:
        """A tool ends the call: once the words of the reply that used it have been heard."""
        self.phase = self.phase.to(Phase.ENDING)
        self._hangup_when_quiet = conclude.reason
        self._closing = conclude.update
        if conclude.say is not None:
            return self._settle(now) + self._speak_text(conclude.say, "goodbye", now)
        if self._speaking is None:  # nothing left to hear: act now
            return [self._closing_action(conclude.reason)]
        self._speaking.kind = "goodbye"  # its own words are the last ones; close after their marks
        return self._settle(now)

    def _say_goodbye(self, reason: EndReason, now: float, *, text: str | None = None) -> list[Action]:
        assert self.persona is not None
        actions: list[Action] = self._interrupt(now) if self._speaking is not None else []
        self.phase = self.phase.to(Phase.ENDING)
        self._hangup_when_quiet = reason
        actions += self._speak_text(text or self.persona.goodbye, "goodbye", now)
        return actions

    def _interrupt(self, now: float, *, caller_took_floor: bool = False) -> list[Action]:
        """Barge-in: flush Twilio's buffer, stop generating, keep only what was heard.

        ``caller_took_floor``: the caller's speech cut the bot, so their turn stays open (it may be
        in a pause, e.g. at a comma, when the words that decided the barge-in arrive)."""
        speaking = self._speaking
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
        return actions + self._settle(now, interrupted=True, caller_took_floor=caller_took_floor)

    def _settle(
        self, now: float, *, interrupted: bool = False, caller_took_floor: bool = False
    ) -> list[Action]:
        """If the current utterance is finished (generated and every mark back), close it."""
        speaking = self._speaking
        if speaking is None or speaking.generating or speaking.utterance.outstanding:
            return []
        self._speaking = None
        self.floor.bot_finished(caller_took_floor=caller_took_floor)
        self.clock.idle.bot_finished(now)
        cut = interrupted or speaking.utterance.interrupted
        actions = self._assistant_turn(speaking, now, cut)
        if speaking.kind == DISCLOSURE_KIND and not cut and self.phase is Phase.ACTIVE:
            assert self.persona is not None
            actions += self._intents(self._disclosure.heard(self.persona.greeting), now)
        if self._hangup_when_quiet is not None and speaking.kind == "goodbye":
            actions.append(self._closing_action(self._hangup_when_quiet))
        return actions

    def _closing_action(self, reason: EndReason) -> Action:
        """Our last words were heard: hang up, or make the REST update a tool asked for."""
        return Hangup(reason) if self._closing is None else UpdateCall(self._closing, reason)

    def _assistant_turn(self, speaking: _Speaking, now: float, interrupted: bool) -> list[Action]:
        turn, heard, metrics = self.transcript.assistant(
            speaking.utterance,
            started_at=speaking.started_at,
            now=now,
            interrupted=interrupted,
            caller_latency=speaking.caller_latency,
            outcome=speaking.outcome,
        )
        if heard:  # the model remembers only what the caller heard
            self.history.append(ChatMessage("assistant", heard))
        return [PersistTurn(turn), *metrics]

    def _end(self, reason: EndReason, now: float) -> list[Action]:
        if self.phase is Phase.ENDED:
            return []
        actions: list[Action] = []
        if self._speaking is not None and self._speaking.generating:
            actions.append(CancelReply())
            self._speaking.generating = False
        if self._speaking is not None:
            # Whatever is still queued at Twilio will never play now.
            self.ledger.clear()
            actions += self._settle(now, interrupted=True)
            actions = [a for a in actions if not isinstance(a, Hangup | UpdateCall)]
        self.phase = self.phase.to(Phase.ENDED)
        self.end_reason = self.end_reason or self._hangup_when_quiet or reason
        return [*actions, EndCall(self.end_reason)]

    def messages(self) -> Sequence[ChatMessage]:
        return tuple(self.history)
