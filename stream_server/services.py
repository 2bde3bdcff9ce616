"""What every call of one stream host process shares, and the interfaces a call's shell talks to.

`CallServices` is built once by ``__main__`` (settings, storage, providers, pre-rendered clips,
metrics) and handed to each `CallSession`. `Repository` and `Socket` are the narrow protocols the
shell needs from DynamoDB and the WebSocket, so tests and benchmarks can pass their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from callcore.fleet import TaskSlots
from callcore.models import CallRecord, CallSummary, DoNotCallEntry, Persona, TranscriptTurn
from callcore.phone import DialPolicy, transfer_destination
from callcore.twiml import dial_action_url, digits_twiml, transfer_twiml
from callcore.variables import fill_persona, placeholders

from stream_server.behaviours.intents import CallUpdate, PlayDigits, TransferTo
from stream_server.conversation import phrases
from stream_server.observability import MetricsSink
from stream_server.providers.base import LanguageModel, SpeechToText, TextToSpeech
from stream_server.providers.config import FALLBACK_VOICE_ID
from stream_server.settings import StreamSettings
from stream_server.speech.pipeline import ApologyClip

__all__ = ["DEFAULT_PERSONA", "CallServices", "PersonaCache", "Repository", "Socket"]

log = logging.getLogger("stream_server.session")


DEFAULT_PERSONA = Persona(
    persona_id="default",
    name="Assistant",
    voice_id=FALLBACK_VOICE_ID,
    prompt=phrases.DEFAULT_PROMPT,
    greeting=phrases.DEFAULT_GREETING,
)


class Repository(Protocol):
    """The part of `callcore.repository.CallRepository` the stream host uses (sync; run in threads)."""

    def get_call(self, call_id: str) -> CallRecord | None: ...
    def get_persona(self, persona_id: str) -> Persona | None: ...
    def put_turn(self, call_id: str, turn: TranscriptTurn) -> None: ...
    def consume_stream_token(self, nonce: str, expires_at: int, *, claimant: str) -> bool: ...
    def finish_call(self, call_id: str, summary: CallSummary) -> None: ...
    def record_opt_out(self, call_id: str, *, at: str) -> DoNotCallEntry | None: ...
    def report_task_slots(self, slots: TaskSlots) -> None: ...
    def withdraw_task_slots(self, task_id: str) -> None: ...
    def record_disclosure(self, call_id: str, *, at: str) -> None: ...
    def record_consent(self, call_id: str, *, given: bool, at: str) -> None: ...
    def record_update_refusal(self, call_id: str, refusal: Mapping[str, Any]) -> None: ...


class Socket(Protocol):
    """The part of a websockets ServerConnection a session uses."""

    def __aiter__(self) -> Any: ...
    async def send(self, message: str) -> None: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class PersonaCache:
    """Personas by id, loaded from DynamoDB once per ``ttl`` per process."""

    def __init__(
        self, repository: Repository, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repository = repository
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Persona | None]] = {}
        self.loads = 0

    async def get(self, persona_id: str) -> Persona | None:
        now = self._clock()
        hit = self._entries.get(persona_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        self.loads += 1
        persona = await asyncio.to_thread(self._repository.get_persona, persona_id)
        self._entries[persona_id] = (now, persona)
        return persona


@dataclass
class CallServices:
    """What every call of this process shares: settings, storage, providers, clips, metrics."""

    settings: StreamSettings
    repository: Repository
    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    apology: ApologyClip
    metrics: MetricsSink
    personas: PersonaCache = field(init=False)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    # The live call's REST controls, for tests and benchmarks to replace: call_sid -> None (hang up)
    # and (call_sid, twiml) -> None (transfer, send digits). None = the process's one Twilio REST
    # client, built on first use from the settings (TWILIO_API_BASE_URL honoured).
    end_call_via_rest: Callable[[str], None] | None = None
    update_call_via_rest: Callable[[str, str], None] | None = None
    # And (call_sid, call_id) -> None: start recording a live call (after the callee's consent).
    start_recording_via_rest: Callable[[str, str], None] | None = None
    _twilio: Any = field(default=None, init=False, repr=False)
    # Filler phrases rendered once per process: (voice_id, language, text) -> mu-law audio.
    filler_clips: dict[tuple[str, str, str], bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.personas = PersonaCache(self.repository, ttl=self.settings.persona_cache_seconds)

    def end_call(self, call_sid: str) -> None:
        """Hang up a live call through the Twilio REST API (blocking: run in a thread)."""
        if self.end_call_via_rest is not None:
            self.end_call_via_rest(call_sid)
        else:
            self._twilio_client().calls(call_sid).update(status="completed")

    def update_call(self, call_sid: str, twiml: str) -> None:
        """Replace a live call's TwiML through the Twilio REST API (blocking: run in a thread)."""
        if self.update_call_via_rest is not None:
            self.update_call_via_rest(call_sid, twiml)
        else:
            self._twilio_client().calls(call_sid).update(twiml=twiml)

    def _twilio_client(self) -> Any:
        if self._twilio is None:
            from callcore.twilio_rest import twilio_client  # the REST stack only once a call needs it

            self._twilio = twilio_client(self.settings.core)
        return self._twilio

    async def load_persona(self, call_id: str, persona_id: str | None) -> tuple[Persona, CallRecord | None]:
        """The persona a call speaks, its ``{{name}}`` placeholders filled from the call's
        ``variables`` (the default persona when it cannot be found or read), and the call record
        (its metadata says whether a campaign placed the call, which then must disclose)."""
        repository = self.repository
        record = None
        try:
            record = await asyncio.to_thread(repository.get_call, call_id)
            if not persona_id:
                persona_id = record.persona_id if record is not None else None
            persona = await self.personas.get(persona_id) if persona_id else None
            if persona is not None and placeholders(persona):
                # POST /calls refused missing values; an inbound call has none (filled with nothing).
                persona = fill_persona(persona, record.variables if record is not None else {})
        except Exception:
            log.exception("could not load the persona")
            persona = None
        if persona is None:
            log.warning("persona %s not found; using the default persona", persona_id)
            return DEFAULT_PERSONA, record
        return persona, record

    def call_update_twiml(self, update: CallUpdate, persona: Persona | None, call_id: str) -> str:
        """The TwiML that carries out a call update (built in the shell, not in the brain).

        A transfer's ``<Dial action>`` points at our API, which speaks only if nobody answered.
        The number is re-read from the stored persona and re-checked with today's dial policy
        (``callcore.phone.transfer_destination``); runs in a thread (a DynamoDB read).
        """
        match update:
            case TransferTo(number):
                core = self.settings.core
                stored = self.repository.get_persona(persona.persona_id) if persona else None
                current = stored.transfer_number if stored is not None else None
                dial = transfer_destination(number, current, DialPolicy.from_settings(core))
                action = dial_action_url(core.public_api_url, call_id)
                return transfer_twiml(dial, action_url=action)
            case PlayDigits(digits):
                return digits_twiml(digits)

    def wall_iso(self) -> str:
        """Now on the wall clock, as the ISO 8601 UTC time the call record stores."""
        return datetime.fromtimestamp(self.wall_clock(), UTC).isoformat()

    async def run_blocking(
        self,
        work: Callable[[], object],
        failure: str,
        *,
        limit_s: float | None = None,
        error_metric: str | None = None,
        call_id: str = "",
        on_failure: Callable[[Exception], object] | None = None,
    ) -> bool:
        """Run one blocking write or REST call (``work``) in a thread, off the event loop.

        A failure is logged with ``failure`` as the message (and its traceback), counted in
        ``error_metric`` for ``call_id`` when one is named, handed to ``on_failure`` for a caller
        that must say why (a refused transfer's Twilio code; a timeout is a TimeoutError), and
        survived: the call goes on. ``limit_s``: seconds to wait for it (None = as long as it
        takes). Returns whether it worked.
        """
        try:
            await asyncio.wait_for(asyncio.to_thread(work), timeout=limit_s)
        except Exception as problem:
            log.exception("%s", failure)
            if error_metric is not None:
                self.metrics.emit({error_metric: (1, "Count")}, call_id=call_id)
            if on_failure is not None:
                on_failure(problem)
            return False
        return True

    def start_recording(self, call_sid: str, call_id: str) -> None:
        """Start Twilio's dual-channel recording of a live call (blocking: run in a thread)."""
        if self.start_recording_via_rest is not None:
            self.start_recording_via_rest(call_sid, call_id)
            return
        from callcore.calls import recording_options

        base_url = self.settings.core.public_api_url
        # Without a public API URL there is nowhere to send the recording's status.
        options = recording_options(base_url, call_id) if base_url else {"recording_channels": "dual"}
        self._twilio_client().calls(call_sid).recordings.create(**options)
