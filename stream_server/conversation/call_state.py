"""One call's decisions, sans I/O: fed Twilio frames, transcripts and the clock; returns actions.

This is the conductor of a call. It holds the phase, the persona, the conversation history and
the transcript, the bot utterance in progress (with the playback ledger), and turns what its parts
report into actions: `Floor` and `CallerTurn` for the caller's side, the behaviours' intents
(clock, keypad, tools, answering machine, fillers). It never awaits anything: the asyncio shell in
`stream_server.session` hands it inputs (`conversation.inputs`), performs the actions it returns
(send a frame, feed the recogniser, start or cancel a reply, write a turn, hang up) and reports
back what happened. Tests replay whole conversations through it with invented timestamps.
"""

from __future__ import annotations

import logging

from callcore.models import Persona, TranscriptTurn

from stream_server.behaviours.call_behaviours import CallBehaviours
from stream_server.behaviours.disclosure import DISCLOSURE_KIND
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
from stream_server.conversation.actions import (
    Action,
    AdoptSpeculation,
    Authenticate,
    CancelReply,
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
from stream_server.conversation.caller_turn import CallerTurn as CallerTurnState
from stream_server.conversation.caller_turn import Reask, SpeculateOn, TurnOver, TurnStep, is_goodbye
from stream_server.conversation.config import CallConfig
from stream_server.conversation.transcript import Transcript
from stream_server.conversation.utterance import Speaking
from stream_server.providers.base import ChatMessage
from stream_server.telephony.playback import PlaybackLedger
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
from stream_server.turn_taking.detector import BargeIn, EndOfTurn, SpeechStarted
from stream_server.turn_taking.floor import DropSpeculation, Floor, Speculate
from stream_server.turn_taking.interruption import Verdict

__all__ = ["CallConfig", "CallState", "is_goodbye"]

log = logging.getLogger("stream_server.call")


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
        self.caller = CallerTurnState(self.floor)
        self.behaviours = CallBehaviours(self.config.behaviours())
        self._cut_text: str | None = None  # what a barge-in cut, re-said if it proves false
        self._speaking: Speaking | None = None
        self._hangup_when_quiet: EndReason | None = None  # the call ends once our last words are heard
        self._closing: CallUpdate | None = None  # ... through this REST update instead of a hang-up

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
                if self.phase is not Phase.ACTIVE or self.disclosing:
                    return []
                log.info("caller pressed a key")  # never the digit: it may be part of a PIN
                self.behaviours.clock.idle.caller_active(now)
                return self._intents(self.behaviours.keypad.press(digit, now), now)
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
        self.behaviours.start(persona, now, disclosure=disclosure, ask_consent=ask_consent)
        self.floor.detector.set_end_of_turn_silence(persona.end_of_turn_silence_ms)
        self.history = [ChatMessage("system", persona.prompt)]
        return self._intents(self.behaviours.disclosure.opening(persona.greeting), now)

    def rejected(self, reason: EndReason, now: float) -> list[Action]:
        """The token was bad or replayed: close without spending anything on providers."""
        self.phase = self.phase.to(Phase.ENDED)
        self.end_reason = reason
        return [EndCall(reason, close_code=1008)]

    def _on_media(self, media: Media, now: float) -> list[Action]:
        if self.phase not in (Phase.ACTIVE, Phase.ENDING) or media.track not in ("inbound", "inbound_track"):
            return []
        actions: list[Action] = []
        floor, voicemail = self.floor, self.behaviours.voicemail
        frames, echoes_before = 0, floor.echo_frames
        # The disclosure is never cut: over it, no turn-taking and the recogniser hears silence.
        disclosing = self.disclosing
        for heard in floor.hear(media.payload, now):
            frames += 1
            if not disclosing:
                actions += self._turn_taking(heard.speech, now)
            if voicemail is not None:
                actions += self._intents(voicemail.on_frame(heard.pcm, heard.speech, floor.clock(now)), now)
        # Echo is not sent to the recogniser either, or the bot's words end up in the caller's.
        silent = (frames and floor.echo_frames - echoes_before == frames) or disclosing
        return [FeedStt(b"\xff" * len(media.payload) if silent else media.payload), *actions]

    def _turn_taking(self, speech: bool, now: float) -> list[Action]:
        """One heard frame: turn events, interruption follow-ups, a final given up, the turn going on."""
        floor = self.floor
        actions: list[Action] = []
        for event in floor.turn_events(speech, bot_speaking=self.bot_speaking):
            actions += self._on_turn_event(event, now)
        actions += self._on_verdict(floor.frame_verdict(now), now)
        if floor.final_overdue(now):
            actions += self._steps(self.caller.final_overdue(now, **self._turn_context), now)
        active, undecided = self.phase is Phase.ACTIVE, self.behaviours.machine_undecided
        return actions + self._steps(self.caller.during_turn(now, active=active, undecided=undecided), now)

    def _on_turn_event(self, event: object, now: float) -> list[Action]:
        if isinstance(event, BargeIn):
            if self.phase is Phase.ENDING or self._speaking is None:
                return []
            return self._on_verdict(self.floor.candidate(event.onset_at, now), now, onset=event.onset_at)
        if isinstance(event, SpeechStarted):
            self.behaviours.clock.idle.caller_active(now)
        elif isinstance(event, EndOfTurn):
            self.behaviours.clock.idle.caller_active(now)
            return self._steps(self.caller.end_of_turn(event, now, **self._turn_context), now)
        return []

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
        return self._floor_actions(dropped) + self._on_verdict(verdict, now)

    def on_transcript(self, text: str, now: float) -> list[Action]:
        """The committed transcript of one segment of the caller's turn (after our commit).

        Segments join into one turn; the turn is answered once the silence has ended it and every
        commit has its final. The final of a commit already given up is stale and dropped: its
        turn has moved on.
        """
        if self.phase is not Phase.ACTIVE:
            return []
        verdict = self.floor.hear_final(text.strip(), now)
        if verdict is None:
            log.info("stale final transcript dropped: its turn has moved on")
            return []
        if verdict is Verdict.RESUME:
            self.caller.final_at = now
            return self._floor_actions(self.floor.drop_speculation()) + self._on_verdict(verdict, now)
        return self._steps(self.caller.final_heard(now, replying=self._speaking is not None), now)

    def on_reply_progress(self, outcome: ReplyOutcome) -> None:
        """What the running reply's pipeline has produced so far (or in all, when it has finished)."""
        if self._speaking is not None:
            self._speaking.outcome = outcome

    def on_reply_audio(self, chunk: ReplyAudio, now: float) -> list[Action]:
        """A chunk from the pipeline: send it, followed by its mark."""
        speaking = self._speaking
        if speaking is None or self.phase is Phase.ENDED:
            return []
        if speaking.kind == "reply" and not speaking.utterance.chunks:
            speaking.filler_considered = True  # the answer itself is on its way: no filler now
            self.behaviours.fillers.reply_audio_started()
        return self._play(speaking, speaking.place(chunk.sentence, chunk.text), chunk.audio, now)

    def on_filler_audio(self, text: str, audio: bytes, now: float) -> list[Action]:
        """The filler clip, if the reply it covers has still produced no audio of its own."""
        speaking = self._speaking
        if speaking is None or speaking.kind != "reply" or speaking.utterance.chunks or not audio:
            return []
        return self._play(speaking, speaking.place_filler(text), audio, now)

    def on_reply_finished(self, now: float) -> list[Action]:
        """The pipeline has produced everything it will for the current utterance."""
        speaking, tools = self._speaking, self.behaviours.tools
        if speaking is None:
            return self._settle(now)
        speaking.generating = False
        calls = speaking.outcome.tool_calls if speaking.outcome is not None else ()
        if speaking.kind != "reply" or not calls or tools is None or self.phase is not Phase.ACTIVE:
            return self._settle(now)
        intents = tools.on_reply_finished(calls, spoke=bool(speaking.utterance.sentences))
        return self._intents(intents, now) if intents else self._settle(now)

    def on_answered_by(self, answered_by: str, now: float) -> list[Action]:
        """Twilio's asynchronous AMD result, read from the call record by the session."""
        voicemail = self.behaviours.voicemail
        return [] if voicemail is None else self._intents(voicemail.on_answered_by(answered_by, now), now)

    def on_call_update_failed(self, now: float) -> list[Action]:
        """The REST update (transfer, digits) failed: stay on the line and say so."""
        tools = self.behaviours.tools
        if self.phase is not Phase.ENDING or self._closing is None or tools is None:
            return []
        self.phase = self.phase.to(Phase.ACTIVE)
        self._hangup_when_quiet = self._closing = None
        return self._intents(tools.update_failed(), now)

    def on_stt_failed(self, now: float) -> list[Action]:
        """The recogniser died: tell the caller and hang up politely rather than go deaf."""
        if self.phase is not Phase.ACTIVE:
            return []
        return self._say_goodbye(EndReason.STT_FAILED, now)

    def on_tick(self, now: float) -> list[Action]:
        """Periodic clock: drain deadline, maximum duration (and its warning), keypad, filler, idle."""
        persona, behaviours = self.persona, self.behaviours
        if self.phase is not Phase.ACTIVE or persona is None or self.started_at is None:
            return []
        elapsed = now - self.started_at
        closing = behaviours.clock.deadline(now, elapsed_s=elapsed, persona=persona)
        if closing is not None:
            return self._intents([closing], now)
        entry = behaviours.keypad.due(now)
        if entry:
            return self._intents(entry, now)
        speaking = self._speaking
        if speaking is not None:
            if speaking.kind != "reply" or speaking.filler_considered:
                return []
            intents = behaviours.fillers.consider(
                waited_s=now - speaking.started_at,
                reply_audio_started=bool(speaking.utterance.chunks),
                caller_speaking=self.floor.caller_speaking,
            )
            speaking.filler_considered = bool(intents)
            return self._intents(intents, now)
        busy = self.floor.caller_speaking or behaviours.keypad.pending
        return self._intents(behaviours.clock.nudge(now, elapsed_s=elapsed, busy=busy, persona=persona), now)

    def begin_drain(self, deadline: float) -> None:
        self.behaviours.clock.begin_drain(deadline)

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
    def answering_machine(self) -> bool:
        return self.behaviours.answering_machine

    @property
    def turns(self) -> list[TranscriptTurn]:
        return self.transcript.turns

    def duration_seconds(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    # -- the caller's turn --------------------------------------------------------------------------

    @property
    def _turn_context(self) -> dict[str, bool]:
        return {"active": self.phase is Phase.ACTIVE, "replying": self._speaking is not None}

    def _steps(self, steps: list[TurnStep], now: float) -> list[Action]:
        """Turn what following the caller's turn asks for into actions, in order."""
        actions: list[Action] = []
        for step in steps:
            match step:
                case Speculate() | DropSpeculation():
                    actions += self._floor_actions([step])
                case SpeculateOn(text, turn_ended):
                    actions += self._speculate(now, turn_ended=turn_ended, text=text)
                case Reask():
                    actions += self._speak_text(self.config.reask, "reply", now)
                case TurnOver():
                    actions += self._answer(step, now)
                case _:
                    actions.append(step)
        return actions

    def _speculate(self, now: float, *, turn_ended: bool = False, text: str | None = None) -> list[Action]:
        """Start the LLM on ``text`` (default: the current partial) if the policy says it is ready."""
        if self.phase is not Phase.ACTIVE or self._speaking is not None:
            return []
        if is_goodbye(text if text is not None else self.floor.partial):
            return []  # the caller is leaving: the goodbye needs no model
        if self.behaviours.machine_undecided or self.behaviours.disclosure.awaiting_consent:
            return []  # never start a reply an answering machine might get, or on a consent answer
        return self._floor_actions(self.floor.speculate(now, turn_ended=turn_ended, text=text))

    def _floor_actions(
        self, events: list[Speculate] | list[DropSpeculation] | list[Speculate | DropSpeculation]
    ) -> list[Action]:
        return [
            SpeculateReply(
                e.speculation_id, (*self.history, ChatMessage("user", e.text)), self.behaviours.offered
            )
            if isinstance(e, Speculate)
            else DiscardSpeculation(e.speculation_id)
            for e in events
        ]

    def _answer(self, turn: TurnOver, now: float) -> list[Action]:
        """The caller's turn is over: store it, then say goodbye, adopt the speculation or reply."""
        self._cut_text = None
        self.behaviours.clock.idle.caller_active(now)
        actions: list[Action] = []
        if turn.dropped is not None:
            actions.append(DiscardSpeculation(turn.dropped.speculation_id))
        if self._speaking is not None:
            actions += self._interrupt(now)
        actions.append(
            PersistTurn(self.transcript.caller(turn.text, turn.onset, turn.last_speech, turn.latency))
        )
        self.history.append(ChatMessage("user", turn.text))
        adopted = turn.adopted
        if is_goodbye(turn.text):
            if adopted is not None:
                actions.append(DiscardSpeculation(adopted.speculation_id))
            return [*actions, *self._say_goodbye(EndReason.CALLER_GOODBYE, now)]
        assert self.persona is not None
        consent = self.behaviours.disclosure.on_caller_turn(turn.text, self.persona.greeting)
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
        self._speaking.caller_latency = turn.latency
        return actions

    # -- the bot's utterances -----------------------------------------------------------------------

    def _begin_utterance(self, kind: str, now: float) -> None:
        self._speaking = Speaking(self.ledger.start_utterance(), kind, now)

    def _start_reply(self, now: float) -> list[Action]:
        self._begin_utterance("reply", now)
        return [SpeakReply(tuple(self.history), self.behaviours.offered)]

    def _speak_text(self, text: str, kind: str, now: float) -> list[Action]:
        self._begin_utterance(kind, now)
        return [SpeakText(text, kind)]

    def _play(self, speaking: Speaking, sentence: int, audio: bytes, now: float) -> list[Action]:
        """Send one chunk of the utterance's audio, followed by its mark."""
        name = self.ledger.add_chunk(speaking.utterance, sentence, len(audio))
        self.floor.bot_played(audio, now)
        return [Send(OutboundMedia(self.stream_sid, audio)), Send(OutboundMark(self.stream_sid, name))]

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
                    actions.append(PersistTurn(self.transcript.caller(transcript, now, now, {})))
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
        if speaking is None or not speaking.settled:
            return []
        self._speaking = None
        self.floor.bot_finished(caller_took_floor=caller_took_floor)
        self.behaviours.clock.idle.bot_finished(now)
        cut = interrupted or speaking.utterance.interrupted
        turn, heard, metrics = self.transcript.assistant(
            speaking.utterance,
            started_at=speaking.started_at,
            now=now,
            interrupted=cut,
            caller_latency=speaking.caller_latency,
            outcome=speaking.outcome,
        )
        if heard:  # the model remembers only what the caller heard
            self.history.append(ChatMessage("assistant", heard))
        actions: list[Action] = [PersistTurn(turn), *metrics]
        if speaking.kind == DISCLOSURE_KIND and not cut and self.phase is Phase.ACTIVE:
            assert self.persona is not None
            actions += self._intents(self.behaviours.disclosure.heard(self.persona.greeting), now)
        if self._hangup_when_quiet is not None and speaking.kind == "goodbye":
            actions.append(self._closing_action(self._hangup_when_quiet))
        return actions

    def _closing_action(self, reason: EndReason) -> Action:
        """Our last words were heard: hang up, or make the REST update a tool asked for."""
        return Hangup(reason) if self._closing is None else UpdateCall(self._closing, reason)

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
