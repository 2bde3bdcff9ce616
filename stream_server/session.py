"""One live call: the asyncio shell around `CallState`.

The shell reads frames, feeds them to the call's state machine and performs the actions it
returns. It owns every task the call starts (reply, recogniser, clock, turn writes) and cancels
or awaits each one in ``run``'s ``finally``, so a call always ends in one place, whatever ended
it: the caller hanging up, our goodbye, a bad token, a drain, or a dropped socket.

One inbox: every task that sees something happen (the recogniser, the clock, a reply, a REST
call) puts a typed input (`conversation.inputs`) on the call's queue, and one loop hands them to
the conductor in order and performs the actions before taking the next; a lock makes the
conductor single-entry. Twilio frames take the same road, with one shortcut that keeps barge-in
fast: when the queue is empty and nobody is deciding, the socket reader hands its frame over at
once instead of waking the loop.

Blocking work (DynamoDB through boto3, the Twilio REST hang-up) runs in threads, never on the
event loop that carries every call's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from callcore.disclosure import asks_recording_consent, is_campaign_call, opening_disclosure
from callcore.models import CallSummary
from callcore.phone import PhoneNumberError
from callcore.tokens import InvalidStreamToken, verify_stream_token
from callcore.twilio_errors import UpdateKind, update_refusal, update_refused_by_twilio
from websockets.exceptions import ConnectionClosed

from stream_server.behaviours.filler import FillerSettings
from stream_server.behaviours.intents import TransferTo
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
    Send,
    SpeakFiller,
    SpeakReply,
    SpeakText,
    SpeculateReply,
    UpdateCall,
)
from stream_server.conversation.call_state import CallConfig, CallState
from stream_server.conversation.inputs import (
    AnsweredBy,
    Authenticated,
    CallUpdateFailed,
    Drain,
    FillerAudio,
    Frame,
    HangupDone,
    Input,
    MalformedFrame,
    Rejected,
    ReplyProgress,
    SocketClosed,
    Tick,
    deliver,
)
from stream_server.observability import CALL_CONTEXT
from stream_server.services import DEFAULT_PERSONA, CallServices, Socket
from stream_server.speech.pipeline import render_filler_clips
from stream_server.speech.recognition import CallRecognition
from stream_server.speech.replies import CallReplies
from stream_server.speech.usage import CallUsage, counted_providers
from stream_server.telephony.twilio_protocol import ProtocolError, encode, parse

__all__ = ["CallSession"]

log = logging.getLogger("stream_server.session")
REST_S = 15.0  # how long a Twilio REST call (hang-up, update, recording) may take


class CallSession:
    """Runs one Media Streams connection from ``connected`` to close."""

    def __init__(self, services: CallServices, socket: Socket) -> None:
        self.services = services
        self.socket = socket
        # The shared providers, seen through counters of what this call uses (written at the end).
        self.usage = CallUsage()
        self._llm, self._tts = counted_providers(services.llm, services.tts, self.usage)
        clock = services.clock
        settings = services.settings
        self.state = CallState(
            CallConfig(
                turn=settings.turn,
                duration_warning_before_s=settings.duration_warning_before_seconds,
                send_digits_tool=settings.send_digits_tool,
                dtmf_inter_digit_s=settings.dtmf_inter_digit_seconds,
                filler=FillerSettings(after_s=settings.filler_after_seconds),
            ),
            epoch_offset=services.wall_clock() - clock(),
        )
        self._recognition = CallRecognition(
            services.stt,
            max_attempts=settings.pipeline.max_attempts,
            post=self._post,
            count_error=lambda: services.metrics.emit({"ProviderErrors": (1, "Count")}, stage="stt"),
        )
        # The call's one inbox: (input, reply generation or None), handed to the conductor in order.
        self._inbox: asyncio.Queue[tuple[Input, int | None]] = asyncio.Queue()
        self._deciding = asyncio.Lock()  # held while the conductor decides and its actions are performed
        self._replies = CallReplies(
            llm=self._llm,
            tts=self._tts,
            apology=services.apology,
            settings=settings.pipeline,
            model=settings.core.cerebras_model,
            clock=clock,
            persona=lambda: self.state.persona or DEFAULT_PERSONA,
            post=self._post,
            count_errors=lambda n: services.metrics.emit({"ProviderErrors": (n, "Count")}, stage="reply"),
        )
        self._background: set[asyncio.Task[Any]] = set()
        # The callee's opt-out being written; the hang-up waits for it (see `_hang_up`).
        self._opt_out: asyncio.Future[None] | None = None
        self._owned: list[asyncio.Task[Any]] = []
        self._closed = False
        self._finished = asyncio.Event()
        # Set once `start` carried a genuine, unused stream token: only then does the call hold a slot.
        self.authenticated = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the call until it ends; never raises for a call-level problem."""
        CALL_CONTEXT.set({})
        self._owned.append(asyncio.create_task(self._consume(), name="inbox"))
        try:
            async for frame in self.socket:
                event: Input
                try:
                    event = Frame(parse(frame))
                except ProtocolError as error:
                    event = MalformedFrame(error)
                if self._inbox.empty() and not self._deciding.locked():
                    async with self._deciding:  # nothing queued, nobody deciding: no hop through the loop
                        await self._deliver(event)
                else:
                    self._post(event)
                if self.state.phase is Phase.ENDED:
                    break
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("call failed")
        finally:
            if self.state.phase is not Phase.ENDED:
                # After whatever is already queued: the conductor hears of the close last.
                self._post(SocketClosed())
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._inbox.join(), timeout=10.0)
            await self._shutdown()

    def begin_drain(self, deadline: float) -> None:
        """The process is draining: say goodbye at ``deadline`` (monotonic) if still talking."""
        self._post(Drain(deadline))

    # -- the inbox ----------------------------------------------------------------------------------

    def _post(self, event: Input, generation: int | None = None) -> None:
        """Queue ``event`` for the conductor; ``generation``: the reply generation that produced it."""
        self._inbox.put_nowait((event, generation))

    async def _consume(self) -> None:
        """The one loop that hands queued inputs to the conductor, in order, one at a time."""
        while True:
            event, generation = await self._inbox.get()
            try:
                async with self._deciding:
                    if generation is None or generation == self._replies.generation:
                        await self._deliver(event)
                    # else: a reply's chunk or end, posted before that reply was cut; never heard
            except Exception:
                log.exception("call input failed: %s", type(event).__name__)
            finally:
                self._inbox.task_done()

    async def _deliver(self, event: Input) -> None:
        """Hand one input to the conductor and perform its actions (the caller holds `_deciding`)."""
        now = self.services.clock()
        progress = self._replies.progress()
        if progress is not None:
            deliver(self.state, ReplyProgress(progress), now)
        await self._apply(deliver(self.state, event, now))

    @property
    def active(self) -> bool:
        return self.state.phase in (Phase.ACTIVE, Phase.ENDING, Phase.AUTHENTICATING)

    async def _shutdown(self) -> None:
        tasks = [*self._replies.tasks(), *self._owned]
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._background:
            await asyncio.wait(self._background, timeout=10.0)
        await self._close_socket(1000)
        if self.state.call_id:
            now = self.services.clock()
            summary = CallSummary(
                ended_at=self.services.wall_iso(),
                duration_seconds=round(self.state.duration_seconds(now)),
                turns=len(self.state.turns),
                end_reason=self.state.end_reason or "unknown",
                usage=self.usage.to_json(),
            )
            finish = partial(self.services.repository.finish_call, self.state.call_id, summary)
            await self.services.run_blocking(finish, "could not write the call summary")
        log.info(
            "call summary: reason=%s turns=%d barge_ins=%d protocol_errors=%d",
            self.state.end_reason,
            len(self.state.turns),
            self.state.barge_ins,
            self.state.protocol_errors,
        )
        self._finished.set()

    async def close_unauthenticated(self, deadline_seconds: float) -> None:
        """Close a socket that never authenticated: policy violation (1008), and say why."""
        log.warning(
            "closing a media socket: no valid start with a stream token within %.1f s", deadline_seconds
        )
        await self._close_socket(1008, "no valid start within the deadline")

    async def _close_socket(self, code: int, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self.socket.close(code, reason)

    # -- actions ------------------------------------------------------------------------------------

    async def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            await self._perform(action)

    async def _perform(self, action: Action) -> None:
        match action:
            case Send(message):
                if not self._closed:
                    with contextlib.suppress(ConnectionClosed):
                        await self.socket.send(encode(message))
            case FeedStt(audio):
                self.usage.heard(audio)
                self._recognition.feed(audio)
            case CommitStt():
                self._recognition.commit()
            case SpeakReply() | SpeakText():
                self._replies.start(action)
            case SpeculateReply(speculation_id, messages, tools):
                self._replies.speculate(speculation_id, messages, tools)
            case AdoptSpeculation(speculation_id):
                self._replies.adopt(speculation_id)
            case DiscardSpeculation(speculation_id):
                self._replies.discard(speculation_id)
            case CancelReply():
                self._replies.cancel()
            case PersistTurn(turn):
                put_turn = partial(self.services.repository.put_turn, self.state.call_id, turn)
                self._write(put_turn, f"could not write turn {turn.index}")
            case RecordOptOut():
                self._opt_out = self._spawn_background(self._record_opt_out())
            case NoteDisclosure():
                at = self.services.wall_iso()
                noted = partial(self.services.repository.record_disclosure, self.state.call_id, at=at)
                self._write(noted, "could not note the disclosure on the call record")
            case RecordConsent(given):
                self._spawn_background(self._record_consent(given))
            case RecordMetric(name, value, unit):
                self.services.metrics.emit(
                    {name: (value, unit)}, call_id=self.state.call_id, call_sid=self.state.call_sid
                )
            case SpeakFiller(text):
                persona = self.state.persona or DEFAULT_PERSONA
                clip = self.services.filler_clips.get((persona.voice_id, persona.language, text))
                if clip:  # not rendered yet: skip the filler rather than wait for it
                    await self._deliver(FillerAudio(text, clip))
            case UpdateCall():
                self._spawn_background(self._update_call(action))
            case Hangup(reason):
                self._spawn_background(self._hang_up(reason))
            case EndCall(reason, close_code):
                await self._close_socket(close_code, reason.value[:100])
            case Authenticate():
                await self._authenticate(action)

    def _spawn_background(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        # Turn writes must finish even while the call ends: awaited (not cancelled) in _shutdown.
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _write(self, work: Callable[[], object], failure: str) -> None:
        """A call-record write in the background: logged with ``failure`` and survived if it fails."""
        self._spawn_background(self.services.run_blocking(work, failure))

    # -- authentication -----------------------------------------------------------------------------

    async def _authenticate(self, action: Authenticate) -> None:
        start = action.start
        services = self.services
        CALL_CONTEXT.set({"call_sid": start.call_sid})
        params = start.custom_parameters
        try:
            claims = verify_stream_token(
                services.settings.core.stream_token_secret,
                params.get("token", ""),
                call_sid=start.call_sid,
                now=services.wall_clock(),
            )
        except InvalidStreamToken as error:
            log.warning("stream token rejected: %s", error)
            await self._deliver(Rejected(EndReason.BAD_TOKEN))
            return
        if params.get("call_id", claims.call_id) != claims.call_id:
            log.warning("stream token is for another call")
            await self._deliver(Rejected(EndReason.BAD_TOKEN))
            return
        CALL_CONTEXT.set({"call_id": claims.call_id, "call_sid": start.call_sid})
        try:
            # This socket's own claim (a fresh id per session): a retried write finds it and is
            # not taken for a replay.
            claim = partial(services.repository.consume_stream_token, claimant=uuid.uuid4().hex)
            fresh = await asyncio.to_thread(claim, claims.nonce, claims.expires_at)
        except Exception:
            log.exception("could not record the stream token")
            await self._deliver(Rejected(EndReason.STORAGE_ERROR))
            return
        if not fresh:
            log.warning("stream token replayed")
            await self._deliver(Rejected(EndReason.REPLAYED_TOKEN))
            return
        if params.get("persona_id") not in (None, claims.persona_id):
            log.warning("the persona_id parameter disagrees with the stream token; the token wins")
        # Only signed data chooses the persona: the token's claim, else the call record.
        persona, record = await services.load_persona(claims.call_id, claims.persona_id)
        campaign_call = record is not None and is_campaign_call(record.metadata)
        disclosure = opening_disclosure(persona, campaign_call=campaign_call)
        log.info("call authenticated; persona=%s", persona.persona_id)
        self._owned.append(asyncio.create_task(self._recognition.run(persona.language), name="stt"))
        self._owned.append(asyncio.create_task(self._recognition.send(), name="stt-outbox"))
        self._owned.append(asyncio.create_task(self._tick(), name="tick"))
        if persona.machine_detection:
            self._owned.append(asyncio.create_task(self._watch_answered_by(claims.call_id), name="amd"))
        if persona.filler_phrases:
            fillers = render_filler_clips(self._tts, persona, self.services.filler_clips)
            self._owned.append(asyncio.create_task(fillers, name="fillers"))
        self.authenticated.set()
        await self._deliver(
            Authenticated(claims.call_id, persona, disclosure, asks_recording_consent(persona))
        )

    # -- tasks the call owns ------------------------------------------------------------------------

    async def _watch_answered_by(self, call_id: str) -> None:
        """Twilio posts async AMD to the status webhook, which stores ``answered_by`` on the call
        record; this reads it back a few times during the first seconds (off the event loop)."""
        vm = self.state.config.voicemail
        clock = self.services.clock
        deadline = clock() + vm.amd_poll_for_s
        while clock() < deadline and self.state.phase in (Phase.ACTIVE, Phase.AUTHENTICATING):
            await asyncio.sleep(vm.amd_poll_interval_s)
            try:
                record = await asyncio.to_thread(self.services.repository.get_call, call_id)
            except Exception:
                log.warning("could not read the call record for the AMD result", exc_info=True)
                continue
            if record is not None and record.answered_by:
                log.info("AMD result: %s", record.answered_by)
                self._post(AnsweredBy(record.answered_by))
                return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)  # filler and keypad timing need a finer clock than 0.25 s
            self._post(Tick())

    async def _update_call(self, action: UpdateCall) -> None:
        log.info("updating the live call: %s", action.reason)
        services, call_id = self.services, self.state.call_id
        kind: UpdateKind = "transfer" if isinstance(action.update, TransferTo) else "digits"
        try:
            twiml = await asyncio.to_thread(
                services.call_update_twiml, action.update, self.state.persona, call_id
            )
        except PhoneNumberError as refusal:
            log.warning("transfer refused at dial time: %s", refusal.message)
            self._post(CallUpdateFailed())  # the caller hears the apology before the record is written
            at = services.wall_iso()
            await self._note_update_refused(
                update_refusal(kind, refusal.code, refusal.message, "dial_policy", at=at)
            )
            return
        except Exception:  # the stored persona could not be read: stay on the line all the same
            log.exception("could not prepare the live call update (%s)", action.reason)
            self._post(CallUpdateFailed())
            return
        update = partial(services.update_call, self.state.call_sid, twiml)
        refused: list[Exception] = []
        failure = f"REST call update failed ({action.reason})"
        if await services.run_blocking(update, failure, limit_s=REST_S, on_failure=refused.append):
            # Twilio now runs the new TwiML, which ends this stream; close our side in order.
            self._post(HangupDone())
            return
        self._post(CallUpdateFailed())
        await self._note_update_refused(update_refused_by_twilio(kind, refused[0], at=services.wall_iso()))

    async def _note_update_refused(self, refusal: dict[str, Any]) -> None:
        """Put the refusal on the call record (``update_error`` and the status history)."""
        services, call_id = self.services, self.state.call_id
        note = partial(services.repository.record_update_refusal, call_id, refusal)
        await services.run_blocking(note, "could not note the refused call update on the call record")

    async def _record_opt_out(self) -> None:
        services, call_id = self.services, self.state.call_id
        opt_out = partial(services.repository.record_opt_out, call_id, at=services.wall_iso())
        failure = "could not record the callee's opt-out"
        if await services.run_blocking(opt_out, failure, error_metric="OptOutWriteErrors", call_id=call_id):
            log.info("callee opted out: number listed as do-not-call")

    async def _record_consent(self, given: bool) -> None:
        """Note the answer; on a yes, start Twilio's recording of the call (never before)."""
        services, call_id = self.services, self.state.call_id
        log.info("recording consent: %s", "given" if given else "refused")
        consent = partial(services.repository.record_consent, call_id, given=given, at=services.wall_iso())
        await services.run_blocking(consent, "could not note the recording consent on the call record")
        if given:
            recording = partial(services.start_recording, self.state.call_sid, call_id)
            failure = "could not start the call recording after consent"
            await services.run_blocking(
                recording, failure, limit_s=REST_S, error_metric="RecordingStartErrors", call_id=call_id
            )

    async def _hang_up(self, reason: str) -> None:
        if self._opt_out is not None:
            # Written before Twilio's final status arrives, so the campaign sees `opted_out`.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._opt_out), timeout=REST_S)
        log.info("hanging up: %s", reason)
        # Closing the socket ends a <Connect><Stream> call anyway; the REST call is the clean way.
        hang_up = partial(self.services.end_call, self.state.call_sid)
        await self.services.run_blocking(
            hang_up, "REST hang-up failed; closing the stream instead", limit_s=REST_S
        )
        self._post(HangupDone())
