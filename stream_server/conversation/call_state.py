"""One call's decisions, sans I/O: fed Twilio frames, transcripts and the clock; returns actions.

This is the conductor of a call. It holds the phase, the persona, what was said (`Transcript`:
the record's turns and the model's history) and the bot utterance in progress (`BotVoice`, with
the playback ledger), and turns what its parts report into actions: `Floor` and `CallerTurn` for
the caller's side (`CallerTurn` reads the call through `CallView`, which `CallState` is), the
behaviours' intents (clock, keypad, tools, answering machine, fillers), and how the call ends
(`Ending`). It never awaits anything: the asyncio shell in
`stream_server.session` hands it inputs (`conversation.inputs`), performs the actions it returns
(send a frame, feed the recogniser, start or cancel a reply, write a turn, hang up) and reports
back what happened. Tests replay whole conversations through it with invented timestamps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from callcore.models import Persona, TranscriptTurn

from stream_server.behaviours.call_behaviours import CallBehaviours
from stream_server.behaviours.disclosure import DISCLOSURE_KIND
from stream_server.behaviours.intents import (
    CallerTurn,
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
    DiscardSpeculation,
    EndCall,
    Ending,
    EndReason,
    FeedStt,
    Hangup,
    Phase,
    RecordMetric,
    ReplyAudio,
    ReplyOutcome,
    UpdateCall,
    direct_action,
)
from stream_server.conversation.caller_turn import (
    CallerActive,
    Judged,
    Reask,
    TurnOver,
    TurnStep,
    is_goodbye,
    speculation_actions,
)
from stream_server.conversation.caller_turn import CallerTurn as CallerTurnState
from stream_server.conversation.config import CallConfig
from stream_server.conversation.transcript import Transcript
from stream_server.conversation.utterance import BotVoice
from stream_server.providers.base import ChatMessage
from stream_server.telephony.twilio_protocol import (
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
)
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
        self.call_sid = ""
        self.call_id = ""
        self.persona: Persona | None = None
        self.started_at: float | None = None
        self.end_reason: EndReason | None = None
        self.transcript = Transcript(epoch_offset)
        self.protocol_errors = 0
        self.barge_ins = 0
        self.floor = Floor(self.config.turn)
        self.voice = BotVoice(self.floor)
        self.caller = CallerTurnState(self.floor)
        self.behaviours = CallBehaviours(self.config.behaviours())
        self._cut_text: str | None = None  # what a barge-in cut, re-said if it proves false
        self._ending = Ending()  # how the call ends once our last words are heard

    # -- inputs from the socket ----------------------------------------------------------------

    def on_message(self, message: InboundMessage, now: float) -> list[Action]:
        """One message from Twilio, already parsed by the shell (`telephony.twilio_protocol.parse`)."""
        if self.phase is Phase.ENDED:
            return []
        match message:
            case Media():
                return self._on_media(message, now)
            case Mark(name=name):
                self.voice.ledger.on_mark(name)
                return self._settle(now)
            case Start():
                return self._on_start(message, now)
            case Dtmf(digit=digit):
                if self.phase is not Phase.ACTIVE or self.disclosing:
                    return []
                return self._intents(self.behaviours.press(digit, now), now)
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
        self.voice.stream_sid = start.stream_sid
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
        self.transcript.begin(persona.prompt)
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
                actions += self._steps(self.caller.hear_frame(heard.speech, now, self), now)
            if voicemail is not None:
                actions += self._intents(voicemail.on_frame(heard.pcm, heard.speech, floor.clock(now)), now)
        # Echo is not sent to the recogniser either, or the bot's words end up in the caller's.
        silent = (frames and floor.echo_frames - echoes_before == frames) or disclosing
        return [FeedStt(b"\xff" * len(media.payload) if silent else media.payload), *actions]

    def _on_verdict(self, verdict: Verdict, now: float, onset: float | None = None) -> list[Action]:
        if verdict is Verdict.INTERRUPT:
            speaking = self.voice.speaking
            if self.phase is not Phase.ACTIVE or speaking is None:
                return []
            self.barge_ins += 1
            self._cut_text = speaking.utterance.unheard_text() or None
            actions = self._interrupt(now, caller_took_floor=True)
            reaction_ms = self.floor.barge_in_reaction_ms(now, onset)
            return [
                *actions,
                RecordMetric("BargeInReaction", reaction_ms),
                RecordMetric("BargeIns", 1, "Count"),
            ]
        if verdict is Verdict.RESUME:
            text, self._cut_text = self._cut_text, None
            if text is None or self.phase is not Phase.ACTIVE or self.voice.speaking is not None:
                return []
            log.info("false interruption: re-saying the cut sentence")
            return [RecordMetric("FalseInterruptions", 1, "Count"), *self.voice.say(text, "resume", now)]
        return []

    # -- inputs from the recogniser, the pipeline and the clock ---------------------------------------

    def on_partial(self, text: str, now: float) -> list[Action]:
        """A partial transcript: feeds the adaptive end of turn, barge-in words and speculation."""
        text = text.strip()
        if self.phase is not Phase.ACTIVE or not text:
            return []
        return self._steps(self.caller.hear_partial(text, now, self), now)

    def on_transcript(self, text: str, now: float) -> list[Action]:
        """The committed transcript of one segment of the caller's turn (after our commit)."""
        if self.phase is not Phase.ACTIVE:
            return []
        return self._steps(self.caller.hear_final(text.strip(), now, self), now)

    def on_reply_progress(self, outcome: ReplyOutcome) -> None:
        """What the running reply's pipeline has produced so far (or in all, when it has finished)."""
        self.voice.progress(outcome)

    def on_reply_audio(self, chunk: ReplyAudio, now: float) -> list[Action]:
        """A chunk from the pipeline: send it, followed by its mark."""
        return [] if self.phase is Phase.ENDED else self.voice.play_reply(chunk, now, self.behaviours.fillers)

    def on_filler_audio(self, text: str, audio: bytes, now: float) -> list[Action]:
        """The filler clip, if the reply it covers has still produced no audio of its own."""
        return self.voice.play_filler(text, audio, now)

    def on_reply_finished(self, now: float) -> list[Action]:
        """The pipeline has produced everything it will for the current utterance."""
        speaking, tools = self.voice.speaking, self.behaviours.tools
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
        if self.phase is not Phase.ENDING or self._ending.update is None or tools is None:
            return []
        self.phase = self.phase.to(Phase.ACTIVE)
        self._ending = Ending()
        return self._intents(tools.update_failed(), now)

    def on_stt_failed(self, now: float) -> list[Action]:
        """The recogniser died: tell the caller and hang up politely rather than go deaf."""
        if self.phase is not Phase.ACTIVE:
            return []
        return self._say_goodbye(EndReason.STT_FAILED, now)

    def on_tick(self, now: float) -> list[Action]:
        """Periodic clock: drain deadline, maximum duration (and its warning), keypad, filler, idle."""
        persona, behaviours, speaking = self.persona, self.behaviours, self.voice.speaking
        if self.phase is not Phase.ACTIVE or persona is None or self.started_at is None:
            return []
        elapsed, caller_speaking = now - self.started_at, self.floor.caller_speaking
        intents = behaviours.due(now, elapsed_s=elapsed, persona=persona)
        if not intents and speaking is not None:
            intents = speaking.consider_filler(behaviours.fillers, now, caller_speaking=caller_speaking)
        elif not intents:
            busy = caller_speaking or behaviours.keypad.pending
            intents = behaviours.clock.nudge(now, elapsed_s=elapsed, busy=busy, persona=persona)
        return self._intents(intents, now)

    def begin_drain(self, deadline: float) -> None:
        self.behaviours.clock.begin_drain(deadline)

    def on_hangup_done(self, now: float) -> list[Action]:
        return self._end(self._ending.reason or EndReason.HANGUP, now)

    def on_socket_closed(self, now: float) -> list[Action]:
        return self._end(EndReason.SOCKET_CLOSED, now)

    # -- queries ------------------------------------------------------------------------------------

    @property
    def bot_speaking(self) -> bool:
        return self.voice.audible

    @property
    def disclosing(self) -> bool:
        return self.voice.disclosing

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation as the language model is told it."""
        return self.transcript.history

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
    def replying(self) -> bool:
        """A bot utterance is in progress (asked for, and not yet settled or cut)."""
        return self.voice.speaking is not None

    @property
    def may_speculate(self) -> bool:
        """A speculative reply may start now: never one an answering machine might get, nor on the
        answer to the recording question."""
        behaviours = self.behaviours
        return (
            self.phase is Phase.ACTIVE
            and not self.replying
            and not behaviours.machine_undecided
            and not behaviours.disclosure.awaiting_consent
        )

    def _steps(self, steps: Iterable[TurnStep], now: float) -> list[Action]:
        """Turn what following the caller's turn asks for into actions, in order (each step acted
        on before the next is worked out)."""
        actions: list[Action] = []
        for step in steps:
            match step:
                case Judged(verdict, onset):
                    actions += self._on_verdict(verdict, now, onset=onset)
                case CallerActive():
                    self.behaviours.clock.idle.caller_active(now)
                case Speculate() | DropSpeculation():
                    actions += speculation_actions([step], self.history, self.behaviours.offered)
                case Reask():
                    actions += self.voice.say(self.config.reask, "reply", now)
                case TurnOver():
                    actions += self._answer(step, now)
                case _:
                    actions.append(step)
        return actions

    def _answer(self, turn: TurnOver, now: float) -> list[Action]:
        """The caller's turn is over: store it, then say goodbye, adopt the speculation or reply."""
        self._cut_text = None
        self.behaviours.clock.idle.caller_active(now)
        actions: list[Action] = []
        if turn.dropped is not None:
            actions.append(DiscardSpeculation(turn.dropped.speculation_id))
        actions += self._interrupt(now)
        actions.append(self.transcript.caller(turn.text, turn.onset, turn.last_speech, turn.latency))
        assert self.persona is not None
        adopted, goodbye, greeting = turn.adopted, is_goodbye(turn.text), self.persona.greeting
        # The answer to the recording question (the greeting follows it), unless the caller left.
        consent = None if goodbye else self.behaviours.disclosure.on_caller_turn(turn.text, greeting)
        if adopted is not None and (goodbye or consent is not None):
            actions.append(DiscardSpeculation(adopted.speculation_id))  # words that need no model
        if goodbye:
            actions += self._say_goodbye(EndReason.CALLER_GOODBYE, now)
        elif consent is not None:
            actions += self._intents(consent, now)
        elif adopted is not None:
            # Its audio may already be waiting: the wait for the final transcript cost nothing.
            self.voice.begin("reply", now)
            actions.append(AdoptSpeculation(adopted.speculation_id))
            actions.append(RecordMetric("SpeculationHeadStart", (now - adopted.started_at) * 1000.0))
        else:
            actions += self._start_reply(now)
        # Whatever the bot says now answers this turn (a goodbye too): its waits go with the words.
        if self.voice.speaking is not None:
            self.voice.speaking.caller_latency = turn.latency
        return actions

    # -- the bot's utterances -----------------------------------------------------------------------

    def _start_reply(self, now: float) -> list[Action]:
        return self.voice.reply(self.history, self.behaviours.offered, now)

    def _intents(self, intents: list[Intent], now: float) -> list[Action]:
        """Turn behaviours' intents into actions, given the rest of the call."""
        actions: list[Action] = []
        for intent in intents:
            match intent:
                case Say(text, kind):
                    actions += self.voice.say(text, kind, now)
                case Close(reason, text):
                    actions += self._say_goodbye(reason, now, text=text)
                case Count() | Disclosed() | Consent() | Filler() | OptOut():
                    actions.append(direct_action(intent))
                case Hold(reason):
                    if self.phase is not Phase.ACTIVE:
                        return actions  # already ending for another reason; nothing to add
                    actions += self._interrupt(now)
                    self.phase = self.phase.to(Phase.ENDING)
                    self._ending.reason = reason
                case LeaveMessage(text) if self._ending.reason is EndReason.VOICEMAIL:
                    if text is None:
                        self._ending.reason = EndReason.MACHINE
                        actions.append(Hangup(EndReason.MACHINE))
                    else:
                        actions += self.voice.say(text, "goodbye", now)
                case Interrupt():
                    actions += self._interrupt(now)
                case CallerTurn(transcript, said):
                    actions += self._interrupt(now)
                    actions.append(self.transcript.caller(transcript, now, now, {}, said=said))
                    actions += self._start_reply(now)
                case Conclude():
                    actions += self._conclude(intent, now)
        return actions

    def _conclude(self, conclude: Conclude, now: float) -> list[Action]:
        """A tool ends the call: once the words of the reply that used it have been heard."""
        self.phase = self.phase.to(Phase.ENDING)
        self._ending.reason = conclude.reason
        self._ending.update = conclude.update
        if conclude.say is not None:
            return self._settle(now) + self.voice.say(conclude.say, "goodbye", now)
        if self.voice.speaking is None:  # nothing left to hear: act now
            return [self._ending.action(conclude.reason)]
        self.voice.speaking.kind = "goodbye"  # its own words are the last ones; close after their marks
        return self._settle(now)

    def _say_goodbye(self, reason: EndReason, now: float, *, text: str | None = None) -> list[Action]:
        assert self.persona is not None
        actions = self._interrupt(now)
        self.phase = self.phase.to(Phase.ENDING)
        self._ending.reason = reason
        actions += self.voice.say(text or self.persona.goodbye, "goodbye", now)
        return actions

    def _interrupt(self, now: float, *, caller_took_floor: bool = False) -> list[Action]:
        """Barge-in: flush Twilio's buffer, stop generating, keep only what was heard.

        ``caller_took_floor``: the caller's speech cut the bot, so their turn stays open (it may be
        in a pause, e.g. at a comma, when the words that decided the barge-in arrive)."""
        if self.voice.speaking is None:
            return []
        stopped = self.voice.stop(now)
        return stopped + self._settle(now, interrupted=True, caller_took_floor=caller_took_floor)

    def _settle(
        self, now: float, *, interrupted: bool = False, caller_took_floor: bool = False
    ) -> list[Action]:
        """If the current utterance is finished (generated and every mark back), close it."""
        speaking = self.voice.finish(caller_took_floor=caller_took_floor)
        if speaking is None:
            return []
        self.behaviours.clock.idle.bot_finished(now)
        cut = interrupted or speaking.utterance.interrupted
        actions = self.transcript.assistant(speaking, now=now, interrupted=cut)
        if speaking.kind == DISCLOSURE_KIND and not cut and self.phase is Phase.ACTIVE:
            assert self.persona is not None
            actions += self._intents(self.behaviours.disclosure.heard(self.persona.greeting), now)
        if self._ending.reason is not None and speaking.kind == "goodbye":
            actions.append(self._ending.action(self._ending.reason))
        return actions

    def _end(self, reason: EndReason, now: float) -> list[Action]:
        if self.phase is Phase.ENDED:
            return []
        actions: list[Action] = []
        if self.voice.speaking is not None:
            actions = self.voice.abandon() + self._settle(now, interrupted=True)
            actions = [a for a in actions if not isinstance(a, Hangup | UpdateCall)]
        self.phase = self.phase.to(Phase.ENDED)
        self.end_reason = self.end_reason or self._ending.reason or reason
        return [*actions, EndCall(self.end_reason)]
