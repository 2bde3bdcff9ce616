"""The Twilio emulator: the REST API for calls, and the calls it places.

`TwilioEmulator` is an aiohttp server that answers the subset of `api.twilio.com` this project
uses, checked the way Twilio checks it (HTTP Basic auth with the account SID and auth token, the
account in the path, Twilio's parameter rules and error bodies), so the real `twilio.rest.Client`
pointed at it works unchanged. Each accepted call runs as a `CallFlow` task owned by the emulator;
`stop()` cancels what is still running.

Extra, emulator-only routes live under `/_emulator/` (a full report of a call, for tests and the
demo; `POST /_emulator/faults`, the fault-injection switch of `local.twilio_emulator.faults`);
nothing under that prefix exists at Twilio.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from local.http_site import start_site
from local.twilio_emulator.browser_phone import BrowserPhone
from local.twilio_emulator.call import CallFlow, EmulatedCall, FlowSettings, LiveRecording, new_sid
from local.twilio_emulator.call_request import parse_call_request, parse_call_update
from local.twilio_emulator.caller import Callee, CallerScript
from local.twilio_emulator.errors import INVALID_CALL_STATE, TwilioError
from local.twilio_emulator.faults import CallFaultError, conditions_for, parse_call_faults
from local.twilio_emulator.webhooks import Signer, WebhookClient

__all__ = ["EmulatorSettings", "TwilioEmulator"]

log = logging.getLogger("twilio_emulator")

_PREFIX = "/2010-04-01/Accounts/{account_sid}"


@dataclass
class EmulatorSettings:
    """Configuration of one emulator.

    Attributes:
        allow_insecure_local_streams: accept `ws://` stream URLs on loopback hosts (local stack
            only; real Twilio accepts `wss://` only).
        answered_by: what answering machine detection reports (`human`, `machine_end_beep`...).
        default_script: what the callee says when no script is registered for the `To` number;
            None means a silent callee.
        webhook_shared_key: (key id, secret) of a Webhook Rule: webhooks and the stream handshake
            are then signed with HMAC-SHA256 and announce it in `X-Twilio-Webhooks-Signature-Settings`.
        dial_outcomes: `DialCallStatus` per transferred-to number (default `completed`).
        late_status_callbacks / duplicate_status_callbacks: deliver those call events' status
            callbacks after the next one / twice, as Twilio may.
    """

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    host: str = "127.0.0.1"
    port: int = 0
    allow_insecure_local_streams: bool = False
    answered_by: str = "human"
    ring_seconds: float = 0.1
    amd_seconds: float = 0.5
    recordings_dir: Path | None = None
    default_script: CallerScript | None = None
    render: Callable[[str], bytes] | None = None
    webhook_shared_key: tuple[str, str] | None = None
    max_call_seconds: int = 4 * 3600
    dial_outcomes: dict[str, str] = field(default_factory=dict)
    dial_seconds: float = 0.2
    late_status_callbacks: frozenset[str] = frozenset()
    duplicate_status_callbacks: bool = False

    def signer(self) -> Signer:
        key_id, secret = self.webhook_shared_key or (None, None)
        return Signer(self.auth_token, key_id, secret)


def _twilio_error(error: TwilioError) -> web.Response:
    return web.json_response(error.to_json(), status=error.status)


_AUTH_ERROR = TwilioError(20003, "Authenticate", status=401)
_NOT_FOUND = TwilioError(20404, "The requested resource was not found", status=404)
_NOT_IN_PROGRESS = TwilioError(INVALID_CALL_STATE, "Call is not in-progress. Cannot redirect.", status=400)


class TwilioEmulator:
    """Twilio's REST API and call behaviour on 127.0.0.1."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.calls: dict[str, EmulatedCall] = {}
        self.scripts: dict[str, CallerScript | Callee] = {}
        # Numbers whose line does not answer: "busy", "no-answer" or "failed".
        self.lines: dict[str, str] = {}
        # Numbers answered by voicemail: answering machine detection reports machine_end_beep.
        self.voicemail: set[str] = set()
        self.on_call_event: Callable[[EmulatedCall, str], None] | None = None
        self._call_faults: deque[str] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._webhooks = WebhookClient(self.settings.signer())
        self.base_url = ""

    def inject(self, *faults: str) -> None:
        """Schedule what the next calls meet, one entry per call ("ok" = nothing); validated first."""
        self._call_faults.extend(parse_call_faults(faults))

    # -- lifecycle ---------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"{_PREFIX}/Calls.json", self._create)
        app.router.add_get(f"{_PREFIX}/Calls/{{sid}}.json", self._fetch)
        app.router.add_post(f"{_PREFIX}/Calls/{{sid}}.json", self._update)
        app.router.add_post(f"{_PREFIX}/Calls/{{sid}}/Recordings.json", self._start_recording)
        app.router.add_get(f"{_PREFIX}/Recordings/{{recording}}", self._recording_media)
        app.router.add_get("/_emulator/calls/{sid}", self._report)
        app.router.add_post("/_emulator/faults", self._set_faults)
        phone = BrowserPhone(
            register=self.scripts.__setitem__,
            unregister=self._forget_callee,
            calls_to=lambda number: [c for c in self.calls.values() if c.request.to == number],
        )
        app.router.add_get("/_emulator/phone", phone.handle)
        app.router.add_get("/healthz", self._health)
        return app

    async def start(self) -> str:
        """Listen and return the base URL (for `TWILIO_API_BASE_URL`)."""
        self._runner, port = await start_site(
            self.app(), self.settings.host, self.settings.port, access_log=None
        )
        self.base_url = f"http://{self.settings.host}:{port}"
        log.info("Twilio emulator listening on %s (account %s)", self.base_url, self.settings.account_sid)
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for_call(self, sid: str, within: float = 60) -> EmulatedCall:
        """Wait until the call has reached its final status."""
        call = self.calls[sid]
        await asyncio.wait_for(call.finished.wait(), within)
        return call

    async def wait_for_any_call(self, within: float = 30) -> EmulatedCall:
        """The first call placed after now-ish (for flows where the app places the call)."""
        deadline = asyncio.get_running_loop().time() + within
        while not self.calls:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no call was placed")
            await asyncio.sleep(0.05)
        return next(iter(self.calls.values()))

    # -- REST --------------------------------------------------------------------------------
    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise _AUTH_ERROR
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise _AUTH_ERROR from exc
        ok_user = secrets.compare_digest(user, self.settings.account_sid)
        ok_password = secrets.compare_digest(password, self.settings.auth_token)
        if not (ok_user and ok_password) or request.match_info["account_sid"] != user:
            raise _AUTH_ERROR

    @staticmethod
    async def _form(request: web.Request) -> dict[str, list[str]]:
        data = await request.post()
        form: dict[str, list[str]] = {}
        for key, value in data.items():
            form.setdefault(key, []).append(str(value))
        return form

    async def _create(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request)
            call_request = parse_call_request(await self._form(request))
        except TwilioError as error:
            return _twilio_error(error)
        fault = conditions_for(self._call_faults.popleft() if self._call_faults else "ok")
        call = EmulatedCall(
            sid=new_sid("CA"),
            account_sid=self.settings.account_sid,
            request=call_request,
            script=self.scripts.get(call_request.to, self.settings.default_script),
            line=fault.line or self.lines.get(call_request.to),
            refuse_redirects=fault.refuse_redirects,
        )
        self.calls[call.sid] = call
        voicemail = call_request.to in self.voicemail
        answered_by = "machine_end_beep" if voicemail else self.settings.answered_by
        flow = CallFlow(
            call,
            FlowSettings(
                auth_token=self.settings.auth_token,
                ring_seconds=self.settings.ring_seconds,
                answered_by=fault.answered_by or answered_by,
                amd_seconds=self.settings.amd_seconds,
                allow_insecure_local_streams=self.settings.allow_insecure_local_streams,
                recordings_dir=self.settings.recordings_dir,
                render=self.settings.render,
                max_call_seconds=self.settings.max_call_seconds,
                dial_outcomes=dict(self.settings.dial_outcomes),
                dial_outcome=fault.dial_outcome or "completed",
                dial_seconds=self.settings.dial_seconds,
                late_status_callbacks=self.settings.late_status_callbacks | fault.late_status_callbacks,
                duplicate_status_callbacks=self.settings.duplicate_status_callbacks
                or fault.duplicate_status_callbacks,
                media_base_url=self.base_url or "https://api.twilio.com",
            ),
            self._webhooks,
        )
        task = asyncio.create_task(self._run(flow))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("call %s queued", call.sid)
        return web.json_response(call.resource(), status=201)

    async def _run(self, flow: CallFlow) -> None:
        await flow.run()
        if self.on_call_event is not None:
            self.on_call_event(flow.call, "finished")

    def _call(self, request: web.Request) -> EmulatedCall:
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            raise _NOT_FOUND
        return call

    async def _fetch(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request)
            return web.json_response(self._call(request).resource())
        except TwilioError as error:
            return _twilio_error(error)

    async def _update(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request)
            call = self._call(request)
            update = parse_call_update(await self._form(request))
        except TwilioError as error:
            return _twilio_error(error)
        if call.finished.is_set():
            return _twilio_error(_NOT_IN_PROGRESS)
        if call.refuse_redirects and (update.twiml or update.url):
            # The update_refused fault: Twilio's answer when it no longer holds the call in progress.
            call.refused_updates.append(_NOT_IN_PROGRESS)
            log.info("call %s: update refused (fault update_refused)", call.sid)
            return _twilio_error(_NOT_IN_PROGRESS)
        call.pending_update = update
        call.interrupt.set()
        log.info("call %s updated: %s", call.sid, update.status or "new instructions")
        return web.json_response(call.resource())

    async def _start_recording(self, request: web.Request) -> web.Response:
        """Start recording a live call (the Call Recordings resource): only while it is in progress,
        once (Twilio refuses a second recording of the same call), channels ``mono``/``dual``."""
        try:
            self._authenticate(request)
            call = self._call(request)
            form = await self._form(request)
        except TwilioError as error:
            return _twilio_error(error)
        if call.status != "in-progress" or call.finished.is_set():
            return _twilio_error(
                TwilioError(
                    INVALID_CALL_STATE, "Requested resource is not eligible for recording", status=400
                )
            )
        if call.request.record or call.live_recording is not None:
            return _twilio_error(
                TwilioError(INVALID_CALL_STATE, "The call is already being recorded", status=400)
            )
        options = {name: values[-1] for name, values in form.items()}
        channels = options.get("RecordingChannels", "mono")
        if channels not in ("mono", "dual"):
            return _twilio_error(TwilioError(21205, "RecordingChannels must be mono or dual", status=400))
        events = " ".join(form.get("RecordingStatusCallbackEvent", ["completed"]))
        call.live_recording = LiveRecording(
            sid=new_sid("RE"),
            started_at=datetime.now(UTC),
            channels=channels,
            status_callback=options.get("RecordingStatusCallback"),
            status_callback_method=options.get("RecordingStatusCallbackMethod", "POST").upper(),
            status_callback_events=frozenset(events.replace(",", " ").split()),
        )
        log.info("call %s: recording started mid-call", call.sid)
        return web.json_response(call.live_recording.resource(call), status=201)

    async def _recording_media(self, request: web.Request) -> web.StreamResponse:
        """A recording's audio at its `RecordingUrl` (no extension, or `.wav`): the call's stereo WAV.

        Unauthenticated, as Twilio serves media unless the account enforces HTTP authentication on
        media URLs, so the console's audio player can fetch it. The emulator writes WAV only: `.mp3`
        and `.json` answer 404."""
        name = request.match_info["recording"]
        sid = name.removesuffix(".wav")
        call = next(
            (
                c
                for c in self.calls.values()
                if c.recording_sid == sid and c.account_sid == request.match_info["account_sid"]
            ),
            None,
        )
        if call is None or call.recording_path is None or not call.recording_path.is_file():
            return _twilio_error(_NOT_FOUND)
        return web.FileResponse(call.recording_path, headers={"Content-Type": "audio/x-wav"})

    async def _report(self, request: web.Request) -> web.Response:
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return _twilio_error(_NOT_FOUND)
        report: dict[str, Any] = call.report()
        return web.json_response(report)

    async def _set_faults(self, request: web.Request) -> web.Response:
        """``{"calls": ["busy", "ok", ...]}``: 204, or 400 saying what is wrong (nothing scheduled)."""
        try:
            body = await request.json()
            if not isinstance(body, dict) or set(body) != {"calls"} or not isinstance(body["calls"], list):
                raise CallFaultError('the body must be {"calls": [fault, ...]}')
            self.inject(*body["calls"])
        except (json.JSONDecodeError, CallFaultError) as error:
            return web.json_response({"message": str(error)}, status=400)
        return web.Response(status=204)

    def _forget_callee(self, number: str) -> None:
        self.scripts.pop(number, None)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK\n")
