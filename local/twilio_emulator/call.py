"""One emulated outbound call, from `queued` to its final status.

`CallFlow.run` walks the call through Twilio's lifecycle: `initiated`, `ringing`, answered
(`in-progress`), the answer document (fetched with a signed request, or inline), its verbs, and the
end (`completed`, or `canceled` before answer). Status callbacks are sent only for the events the
application asked for, plus `completed`, which Twilio always sends. Failures Twilio would report
(11200, 12100, 319xx) are recorded on the call, spoken as Twilio's "application error" where Twilio
would speak it, and added to the final status callback as `ErrorCode`/`ErrorMessage`.

As at Twilio: `<Dial>` without `action` goes on with the verbs after it once the dialled leg ends
(whatever its outcome), and with `action` requests that URL with `DialCallStatus` and runs what
it returns; `TimeLimit` runs from answer and never past the account's cap (4 h); a recorded call
ends with a recording status callback. Status callbacks can be delivered late (after the next one)
and twice, as Twilio does not promise order or uniqueness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from local.twilio_emulator.call_request import CallRequest, CallUpdate
from local.twilio_emulator.caller import Callee, CallerScript, TimelineEvent
from local.twilio_emulator.errors import APPLICATION_ERROR, HTTP_RETRIEVAL_FAILURE, TwilioError
from local.twilio_emulator.media import MediaSession, StreamOutcome
from local.twilio_emulator.recording import StereoRecording
from local.twilio_emulator.twiml import (
    ConnectStream,
    Dial,
    Hangup,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    TwimlDocument,
    parse_twiml,
)
from local.twilio_emulator.webhooks import WebhookClient

__all__ = [
    "CallFlow",
    "CallbackRecord",
    "EmulatedCall",
    "FlowSettings",
    "LiveRecording",
    "new_sid",
    "rfc2822",
]

_FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

log = logging.getLogger("twilio_emulator.call")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime) -> str:
    """Twilio's REST and callback dates ("Wed, 25 Nov 2026 11:52:52 +0000")."""
    return format_datetime(moment.astimezone(UTC)).replace("-0000", "+0000")


@dataclass(frozen=True)
class CallbackRecord:
    """One webhook the emulator sent, for tests and the demo log."""

    kind: str  # "status", "answer", "amd", "stream"
    url: str
    params: dict[str, str]
    status: int | None  # HTTP status, None when delivery failed


@dataclass(frozen=True)
class LiveRecording:
    """A recording started mid-call through the REST API (after the callee's consent, here)."""

    sid: str
    started_at: datetime
    channels: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]

    def resource(self, call: EmulatedCall) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "account_sid": call.account_sid,
            "call_sid": call.sid,
            "status": "in-progress",
            "channels": 2 if self.channels == "dual" else 1,
            "source": "StartCallRecordingAPI",
            "start_time": rfc2822(self.started_at),
            "uri": f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}/Recordings/{self.sid}.json",
        }


@dataclass
class EmulatedCall:
    """Everything the emulator knows about one call (its REST resource plus what happened)."""

    sid: str
    account_sid: str
    request: CallRequest
    script: CallerScript | Callee | None
    status: str = "queued"
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_by: str | None = None
    errors: list[TwilioError] = field(default_factory=list)
    warnings: list[TwilioError] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)
    dial_statuses: list[str] = field(default_factory=list)
    played_digits: list[str] = field(default_factory=list)
    callbacks: list[CallbackRecord] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    stream_outcome: StreamOutcome | None = None
    stream_parameters: dict[str, str] = field(default_factory=dict)
    timeline: list[TimelineEvent] = field(default_factory=list)
    recording_path: Path | None = None
    # The Recording SID its recording status callback announced (its media: the recording_path WAV).
    recording_sid: str | None = None
    media: MediaSession | None = None
    pending_update: CallUpdate | None = None
    live_recording: LiveRecording | None = None
    # The callee's line: None answers; "busy" / "no-answer" / "failed" end the call unanswered.
    line: str | None = None
    sip_response_code: str | None = None
    # The ``update_refused`` fault: redirects of this live call are refused (21220), and kept here.
    refuse_redirects: bool = False
    refused_updates: list[TwilioError] = field(default_factory=list)
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _callback_seq: int = 0

    @property
    def duration_seconds(self) -> int:
        if self.start_time is None or self.end_time is None:
            return 0
        return math.ceil((self.end_time - self.start_time).total_seconds())

    def error_codes(self) -> list[int]:
        return [e.code for e in self.errors]

    def resource(self) -> dict[str, Any]:
        """The Call resource as Twilio's REST API returns it."""
        base = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.request.to,
            "to_formatted": self.request.to,
            "from": self.request.from_,
            "from_formatted": self.request.from_,
            "status": self.status,
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "answered_by": self.answered_by,
            "start_time": rfc2822(self.start_time) if self.start_time else None,
            "end_time": rfc2822(self.end_time) if self.end_time else None,
            "duration": str(self.duration_seconds) if self.end_time else None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "price": None,
            "price_unit": "USD",
            "caller_name": None,
            "forwarded_from": None,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": f"{base}.json",
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "streams": f"{base}/Streams.json",
            },
        }

    def report(self) -> dict[str, Any]:
        """Everything the emulator observed, for tests and `GET /_emulator/calls/{sid}`."""
        outcome = self.stream_outcome
        return {
            "call": self.resource(),
            "errors": [e.to_json() for e in self.errors],
            "warnings": [e.to_json() for e in self.warnings],
            "refused_updates": [e.to_json() for e in self.refused_updates],
            "spoken": self.spoken,
            "dialed": self.dialed,
            "dial_statuses": self.dial_statuses,
            "played_digits": self.played_digits,
            "stream_parameters": self.stream_parameters,
            "stream_ended_by": outcome.ended_by if outcome else None,
            "callbacks": [
                {"kind": c.kind, "url": c.url, "params": c.params, "status": c.status} for c in self.callbacks
            ],
            "timeline": [e.__dict__ for e in self.timeline],
            "recording": str(self.recording_path) if self.recording_path else None,
        }


@dataclass(frozen=True)
class FlowSettings:
    """How the emulated network and callee behave."""

    auth_token: str
    ring_seconds: float = 0.1
    answered_by: str = "human"
    amd_seconds: float = 0.5
    allow_insecure_local_streams: bool = False
    recordings_dir: Path | None = None
    render: Callable[[str], bytes] | None = None
    max_call_seconds: int = 4 * 3600
    """The account's cap on any call (Twilio: 4 h unless the account is switched to 24 h)."""
    dial_outcomes: Mapping[str, str] = field(default_factory=dict)
    """`DialCallStatus` per dialled number (else `dial_outcome`)."""
    dial_outcome: str = "completed"
    """`DialCallStatus` of a number not in `dial_outcomes` (`completed`: answered, talked, hung up)."""
    dial_seconds: float = 0.2
    late_status_callbacks: frozenset[str] = frozenset()
    """Call events whose status callback is delivered after the next one."""
    duplicate_status_callbacks: bool = False
    media_base_url: str = "https://api.twilio.com"
    """Where `RecordingUrl` points: the emulator's own base URL, which serves the recording."""


# SIP responses Twilio reports for calls that were never answered (RFC 3261 codes).
_UNANSWERED_SIP = {"busy": "486", "no-answer": "487", "failed": "404"}


class CallFlow:
    """Runs one `EmulatedCall`; owns its AMD task and its media session."""

    def __init__(self, call: EmulatedCall, settings: FlowSettings, webhooks: WebhookClient) -> None:
        self.call = call
        self.settings = settings
        self.webhooks = webhooks
        self._held: list[dict[str, str]] = []
        self._dial_params: dict[str, str] = {}  # sent with the next fetch (a `<Dial action>`)

    # -- parameters --------------------------------------------------------------------------
    def _call_params(self) -> dict[str, str]:
        r, c = self.call.request, self.call
        params = {
            "AccountSid": c.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": c.sid,
            "CallStatus": c.status,
            "Direction": "outbound-api",
            "From": r.from_,
            "To": r.to,
            "Called": r.to,
            "Caller": r.from_,
        }
        # Twilio sends geographic fields, often blank: a signature check must keep blank values.
        for prefix in ("Called", "Caller", "From", "To"):
            params.update(
                {f"{prefix}City": "", f"{prefix}State": "", f"{prefix}Zip": "", f"{prefix}Country": "US"}
            )
        return params

    async def _webhook(self, kind: str, method: str, url: str, params: dict[str, str]) -> str | None:
        try:
            response = await self.webhooks.send(method, url, params)
        except TwilioError as exc:
            log.warning("%s webhook failed: %s", kind, exc)
            self.call.errors.append(exc)
            self.call.callbacks.append(CallbackRecord(kind, url, params, None))
            return None
        self.call.callbacks.append(CallbackRecord(kind, url, params, response.status))
        if (
            kind in ("answer", "dial-action")
            and "xml" not in response.content_type
            and "html" not in response.content_type
        ):
            self.call.errors.append(
                TwilioError(
                    HTTP_RETRIEVAL_FAILURE, f"answer URL returned Content-Type {response.content_type!r}"
                )
            )
            return None
        return response.body

    async def _status(self, event: str, status: str) -> None:
        call = self.call
        call.status = status
        call.date_updated = datetime.now(UTC)
        request = call.request
        if not request.status_callback or event not in request.status_callback_events:
            return
        params = self._call_params()
        params.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(call._callback_seq),
                "Timestamp": rfc2822(datetime.now(UTC)),
            }
        )
        call._callback_seq += 1
        if status in {"completed", "busy", "failed", "no-answer", "canceled"}:
            params["CallDuration"] = str(call.duration_seconds)
            params["Duration"] = str(math.ceil(call.duration_seconds / 60))
            if call.errors:
                params["ErrorCode"] = str(call.errors[0].code)
                params["ErrorMessage"] = call.errors[0].message
            if call.sip_response_code:
                params["SipResponseCode"] = call.sip_response_code
        if call.answered_by and status != "initiated":
            params["AnsweredBy"] = call.answered_by
        if event in self.settings.late_status_callbacks and status not in _FINAL_STATUSES:
            self._held.append(params)
            return
        await self._deliver_status(params)
        for held in self._held:
            await self._deliver_status(held)
        self._held.clear()

    async def _deliver_status(self, params: dict[str, str]) -> None:
        request = self.call.request
        assert request.status_callback is not None
        times = 2 if self.settings.duplicate_status_callbacks else 1
        for _ in range(times):
            await self._webhook("status", request.status_callback_method, request.status_callback, params)

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        call = self.call
        amd: asyncio.Task[None] | None = None
        try:
            await self._status("initiated", "initiated")
            await asyncio.sleep(self.settings.ring_seconds)
            await self._status("ringing", "ringing")
            if await self._cancelled_before_answer():
                return
            await asyncio.sleep(self.settings.ring_seconds)
            if await self._cancelled_before_answer():
                return
            if call.line is not None:  # never answered: Twilio reports the final status and SIP code
                call.end_time = datetime.now(UTC)
                call.sip_response_code = _UNANSWERED_SIP[call.line]
                await self._status("completed", call.line)
                return
            call.start_time = datetime.now(UTC)
            if call.request.machine_detection:
                if call.request.async_amd:
                    amd = asyncio.create_task(self._async_amd())
                else:
                    call.answered_by = self.settings.answered_by
            await self._status("answered", "in-progress")
            await self._execute_from(call.request.url, call.request.twiml, call.request.method)
        except Exception as exc:  # the emulator must always finish the call it started
            log.exception("emulated call %s crashed", call.sid)
            call.errors.append(TwilioError(0, f"emulator fault: {exc!r}"))
        finally:
            if amd is not None:
                amd.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await amd
            if call.status not in _FINAL_STATUSES:
                call.end_time = datetime.now(UTC)
                await self._status("completed", "completed")
            with contextlib.suppress(Exception):
                await self._recording_status()
            call.finished.set()

    def _recording_url(self, recording_sid: str) -> str:
        account = self.call.account_sid
        return f"{self.settings.media_base_url}/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"

    async def _recording_status(self) -> None:
        """`Record=true` calls end with one recording status callback (event `completed`)."""
        call, request = self.call, self.call.request
        if call.live_recording is not None:
            await self._live_recording_status(call.live_recording)
            return
        url = request.extra.get("RecordingStatusCallback")
        events = set(request.extra.get("RecordingStatusCallbackEvent", "completed").replace(",", " ").split())
        if not request.record or not url or call.start_time is None or "completed" not in events:
            return
        sid = new_sid("RE")
        call.recording_sid = sid
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "RecordingSid": sid,
            "RecordingUrl": self._recording_url(sid),
            "RecordingStatus": "completed",
            "RecordingDuration": str(call.duration_seconds),
            "RecordingChannels": "2" if request.extra.get("RecordingChannels") == "dual" else "1",
            "RecordingSource": "OutboundAPI",
            "RecordingStartTime": rfc2822(call.start_time),
        }
        method = request.extra.get("RecordingStatusCallbackMethod", "POST").upper()
        await self._webhook("recording", method, url, params)

    async def _live_recording_status(self, recording: LiveRecording) -> None:
        """A mid-call recording ends with the call: its `completed` callback, if one was asked for."""
        call = self.call
        call.recording_sid = recording.sid
        if not recording.status_callback or "completed" not in recording.status_callback_events:
            return
        end = call.end_time or datetime.now(UTC)
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self._recording_url(recording.sid),
            "RecordingStatus": "completed",
            "RecordingDuration": str(max(0, math.ceil((end - recording.started_at).total_seconds()))),
            "RecordingChannels": "2" if recording.channels == "dual" else "1",
            "RecordingSource": "StartCallRecordingAPI",
            "RecordingStartTime": rfc2822(recording.started_at),
        }
        await self._webhook("recording", recording.status_callback_method, recording.status_callback, params)

    async def _cancelled_before_answer(self) -> bool:
        update = self.call.pending_update
        if update is None or update.status is None:
            return False
        self.call.end_time = datetime.now(UTC)
        await self._status("completed", "canceled")
        return True

    async def _async_amd(self) -> None:
        request = self.call.request
        await asyncio.sleep(self.settings.amd_seconds)
        self.call.answered_by = self.settings.answered_by
        if not request.async_amd_status_callback:
            return
        params = {
            "AccountSid": self.call.account_sid,
            "CallSid": self.call.sid,
            "AnsweredBy": self.settings.answered_by,
            "MachineDetectionDuration": str(int(self.settings.amd_seconds * 1000)),
        }
        await self._webhook(
            "amd", request.async_amd_status_callback_method, request.async_amd_status_callback, params
        )

    async def _fetch(self, url: str, method: str) -> str | None:
        params = self._call_params()
        if self.call.answered_by:
            params["AnsweredBy"] = self.call.answered_by
        kind = "dial-action" if self._dial_params else "answer"
        params.update(self._dial_params)
        self._dial_params = {}
        return await self._webhook(kind, method, url, params)

    def _fail(self, error: TwilioError) -> None:
        log.warning("call %s: %s", self.call.sid, error)
        self.call.errors.append(error)
        self.call.spoken.append(APPLICATION_ERROR)

    async def _execute_from(self, url: str | None, twiml: str | None, method: str) -> None:
        """Fetch/parse a document and run it; follows `<Redirect>`, `<Dial action>` and live updates."""
        for _ in range(10):  # Twilio caps redirect loops; so does the emulator
            if url is not None:
                text = await self._fetch(url, method)
                if text is None:
                    self.call.spoken.append(APPLICATION_ERROR)
                    return
            else:
                text = twiml or ""
            self.call.documents.append(text)
            try:
                document = parse_twiml(text, allow_insecure_local=self.settings.allow_insecure_local_streams)
            except TwilioError as exc:
                self._fail(exc)
                return
            self.call.warnings.extend(document.warnings)
            next_step = await self._run_document(document)
            if next_step is None:
                return
            url, twiml, method = next_step
        self._fail(TwilioError(12100, "too many redirects"))

    async def _run_document(self, document: TwimlDocument) -> tuple[str | None, str | None, str] | None:
        """Run verbs in order; returns the next document to run, or None when the call ends."""
        for verb in document.verbs:
            update = self.call.pending_update
            if update is not None:
                return self._take_update()
            if isinstance(verb, Say):
                self.call.spoken.append(verb.text)
            elif isinstance(verb, Pause):
                await self._interruptible_sleep(verb.seconds)
            elif isinstance(verb, Hangup):
                return None
            elif isinstance(verb, Reject):
                self.call.end_time = datetime.now(UTC)
                await self._status("completed", "busy" if verb.reason == "busy" else "failed")
                return None
            elif isinstance(verb, Dial):
                dial_status = await self._dial(verb)
                if verb.action:
                    return await self._dial_action(verb, dial_status)
            elif isinstance(verb, Play):
                if verb.digits:
                    self.call.played_digits.append(verb.digits)
                    await self._interruptible_sleep(0.1 * len(verb.digits))
            elif isinstance(verb, Redirect):
                return verb.url, None, "POST"
            elif isinstance(verb, ConnectStream):
                await self._stream(verb)
                if self.call.pending_update is not None:
                    return self._take_update()
                outcome = self.call.stream_outcome
                if outcome is None or outcome.ended_by != "server_closed":
                    return None
                if verb.action:
                    return verb.action, None, "POST"
        return None

    async def _dial(self, verb: Dial) -> str:
        """Ring the other party; the AI leg waits while they talk. Returns `DialCallStatus`."""
        self.call.dialed.append(verb.number)
        outcome = self.settings.dial_outcomes.get(verb.number, self.settings.dial_outcome)
        self.call.dial_statuses.append(outcome)
        await self._interruptible_sleep(self.settings.dial_seconds)
        return outcome

    async def _dial_action(self, verb: Dial, outcome: str) -> tuple[str | None, str | None, str] | None:
        assert verb.action is not None
        params = {"DialCallStatus": outcome, "DialCallSid": new_sid("CA")}
        if outcome == "completed":
            params["DialCallDuration"] = str(math.ceil(self.settings.dial_seconds))
        self._dial_params = params
        return verb.action, None, verb.method

    def _take_update(self) -> tuple[str | None, str | None, str] | None:
        update = self.call.pending_update
        self.call.pending_update = None
        self.call.interrupt.clear()
        if update is None or update.status is not None or (update.url is None and update.twiml is None):
            return None
        return update.url, update.twiml, update.method

    async def _interruptible_sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.call.interrupt.wait(), timeout=seconds)

    async def _stream_status(
        self, stream: ConnectStream, stream_sid: str, event: str, error: str = ""
    ) -> None:
        if not stream.status_callback:
            return
        params = {
            "AccountSid": self.call.account_sid,
            "CallSid": self.call.sid,
            "StreamSid": stream_sid,
            "StreamName": stream.name or stream_sid,
            "StreamEvent": event,
            "Timestamp": datetime.now(UTC).isoformat(),
        }
        if error:
            params["StreamError"] = error
        await self._webhook("stream", stream.status_callback_method, stream.status_callback, params)

    def _seconds_left(self) -> float:
        """`TimeLimit` runs from answer (not from the stream) and never past the account's cap."""
        call = self.call
        limit = min(call.request.time_limit_seconds, self.settings.max_call_seconds)
        if call.start_time is None:
            return float(limit)
        return max(0.0, limit - (datetime.now(UTC) - call.start_time).total_seconds())

    async def _stream(self, stream: ConnectStream) -> None:
        call = self.call
        call.stream_parameters = dict(stream.parameters)
        stream_sid = new_sid("MZ")
        recording = StereoRecording()
        session = MediaSession(
            stream=stream,
            account_sid=call.account_sid,
            call_sid=call.sid,
            stream_sid=stream_sid,
            auth_token=self.settings.auth_token,
            script=call.script,
            recording=recording,
            max_seconds=self._seconds_left(),
            signer=self.webhooks.signer,
        )
        if self.settings.render is not None:
            session.render = self.settings.render

        async def started() -> None:
            await self._stream_status(stream, stream_sid, "stream-started")

        session.on_connected = started
        call.media = session
        began = time.monotonic()
        outcome = await session.run(call.interrupt)
        call.stream_outcome = outcome
        call.errors.extend(outcome.errors)
        call.timeline = session.timeline
        if outcome.ended_by == "failed":
            await self._stream_status(stream, stream_sid, "stream-error", "; ".join(map(str, outcome.errors)))
        else:
            await self._stream_status(stream, stream_sid, "stream-stopped")
        if self.settings.recordings_dir is not None and time.monotonic() - began > 0.05:
            call.recording_path = recording.save(self.settings.recordings_dir / f"{call.sid}.wav")
