"""The nouns of a call as frozen dataclasses, with their DynamoDB item shapes.

Items use the single-table layout in docs/interfaces.md. Numbers come back from boto3 as
``Decimal``; ``from_item`` turns them into plain ints/floats so nothing above the repository ever
sees DynamoDB types.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "LIVE_CALLS_PARTITION",
    "CallRecord",
    "CallStatus",
    "CallSummary",
    "DoNotCallEntry",
    "Persona",
    "StatusEvent",
    "TranscriptTurn",
    "call_key",
    "do_not_call_key",
    "from_dynamo",
    "live_call_index_key",
    "persona_key",
    "stuck_after",
    "to_dynamo",
]


# Webhook events in the order a call produces them (for showing deliveries).
_EVENT_ORDER = {"call.started": 0, "call.ended": 1, "call.failed": 1, "call.analyzed": 2}


class CallStatus(enum.StrEnum):
    """Twilio's call states plus our own ``queued`` (record written, Twilio not yet asked)."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        """Order of progress: a callback may only move a call to a strictly higher rank."""
        return _RANKS[self]

    @property
    def is_terminal(self) -> bool:
        return self.rank == _TERMINAL_RANK


_TERMINAL_RANK = 4
_RANKS = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: _TERMINAL_RANK,
    CallStatus.BUSY: _TERMINAL_RANK,
    CallStatus.NO_ANSWER: _TERMINAL_RANK,
    CallStatus.FAILED: _TERMINAL_RANK,
    CallStatus.CANCELED: _TERMINAL_RANK,
}


RING_SECONDS = 60
"""Twilio rings an outbound call for `Timeout`, 60 s unless set: before answer, the time limit has
not started yet."""
RECONCILE_GRACE_SECONDS = 300
"""How late a final status callback may still be before the call counts as stuck (Twilio retries
failed callbacks for a while; the reconciler must not race an answer that is merely slow)."""


def stuck_after(created: datetime, time_limit_seconds: int) -> str:
    """When a call created at ``created`` with Twilio ``TimeLimit`` ``time_limit_seconds`` has
    certainly ended at Twilio, plus the grace period: the reconciler's ``reconcile_after``.
    The format is fixed-width UTC, so it sorts and compares as a string (GSI2SK)."""
    moment = created + timedelta(seconds=RING_SECONDS + time_limit_seconds + RECONCILE_GRACE_SECONDS)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


LIVE_CALLS_PARTITION = "LIVE"


def live_call_index_key(reconcile_after: str, call_id: str) -> dict[str, str]:
    """GSI2's key: every call not yet final, ordered by when it is certainly stuck (sparse: a
    final status removes it, so the index only ever holds the live calls)."""
    return {"GSI2PK": LIVE_CALLS_PARTITION, "GSI2SK": f"{reconcile_after}#{call_id}"}


def call_key(call_id: str) -> dict[str, str]:
    return {"PK": f"CALL#{call_id}", "SK": "META"}


def persona_key(persona_id: str) -> dict[str, str]:
    return {"PK": f"PERSONA#{persona_id}", "SK": "META"}


def to_dynamo(value: Any) -> Any:
    """Floats become Decimal (boto3 refuses floats); containers are converted recursively."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Decimal becomes int when integral, float otherwise; containers are converted recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [from_dynamo(v) for v in value]
    return value


def _drop_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


TWILIO_MAX_CALL_SECONDS = 4 * 3600
"""Twilio's default account cap on a call (24 h only when the account is switched to it)."""
AMD_TIMEOUT_SECONDS = 30
"""`MachineDetectionTimeout` sent with every AMD call (Twilio's default, made explicit): the stream
host keeps reading the AMD result for longer than this, so a late `machine_end_*` is never missed."""
GOODBYE_HEADROOM_SECONDS = 45
"""Twilio's `TimeLimit` runs from answer; the bot's clock from the media stream's start, which is
later (answer webhook, TwiML, WebSocket), and its goodbye takes a few seconds to say. Twilio's
limit is set this much later than the bot's, so the bot always finishes its goodbye first."""


@dataclass(frozen=True, kw_only=True)
class Persona:
    """Who the assistant is on a call and how the call is run (voice, prompt, limits, AMD)."""

    persona_id: str
    name: str
    voice_id: str
    prompt: str
    greeting: str
    language: str = "en"
    llm_model: str = "gpt-oss-120b"
    max_duration_seconds: int = 600
    goodbye: str = "Thank you for your time. Goodbye."
    idle_prompt: str = "Are you still there?"
    idle_timeout_seconds: int = 8
    max_idle_prompts: int = 2
    voicemail_message: str | None = None
    transfer_number: str | None = None
    # Said before a transfer when the model said nothing itself (None: a built-in line). Placeholders allowed.
    transfer_message: str | None = None
    machine_detection: bool = False
    record: bool = False
    # With ``record``: record only once the callee agreed (asked in the opening disclosure).
    recording_consent: bool = False
    # The opening disclosure (that the caller is an AI; `callcore.disclosure`). Required, with a
    # default text, for recorded and campaign calls whatever this says; placeholders allowed.
    disclosure: str | None = None
    end_of_turn_silence_ms: int = 700
    filler_phrases: tuple[str, ...] = ()
    analysis: dict[str, Any] | None = None  # {summary, data (JSON Schema), success}: callcore.analysis
    # Keypad entries may be PINs or card numbers: masked in the transcript and to the model unless
    # the persona says its digit entries are not sensitive (a menu choice, an extension).
    dtmf_sensitive: bool = True

    @property
    def twilio_time_limit_seconds(self) -> int:
        """`TimeLimit` for Twilio: the call's maximum plus room for the goodbye, within 4 h."""
        return min(self.max_duration_seconds + GOODBYE_HEADROOM_SECONDS, TWILIO_MAX_CALL_SECONDS)

    @property
    def goodbye_at_seconds(self) -> int:
        """When (from stream start) the bot says its max-duration goodbye: always before Twilio cuts."""
        return min(self.max_duration_seconds, self.twilio_time_limit_seconds - GOODBYE_HEADROOM_SECONDS)

    def to_item(self) -> dict[str, Any]:
        body = self.to_json()
        return _drop_none(
            {**persona_key(self.persona_id), "GSI1PK": "PERSONAS", "GSI1SK": self.persona_id, **body}
        )

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape (also what PUT /personas accepts)."""
        return {
            "persona_id": self.persona_id,
            "name": self.name,
            "voice_id": self.voice_id,
            "prompt": self.prompt,
            "greeting": self.greeting,
            "language": self.language,
            "llm_model": self.llm_model,
            "max_duration_seconds": self.max_duration_seconds,
            "goodbye": self.goodbye,
            "idle_prompt": self.idle_prompt,
            "idle_timeout_seconds": self.idle_timeout_seconds,
            "max_idle_prompts": self.max_idle_prompts,
            "voicemail_message": self.voicemail_message,
            "transfer_number": self.transfer_number,
            "transfer_message": self.transfer_message,
            "machine_detection": self.machine_detection,
            "record": self.record,
            "recording_consent": self.recording_consent,
            "disclosure": self.disclosure,
            "end_of_turn_silence_ms": self.end_of_turn_silence_ms,
            "filler_phrases": list(self.filler_phrases),
            "analysis": self.analysis,
            "dtmf_sensitive": self.dtmf_sensitive,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Persona:
        data = from_dynamo(item)
        names = cls.__dataclass_fields__
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["filler_phrases"] = tuple(kwargs.get("filler_phrases") or ())
        return cls(**kwargs)


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """The durable truth about one call (``CALL#<id>`` / ``META``)."""

    call_id: str
    user_id: str
    to_number: str
    from_number: str
    persona_id: str
    status: CallStatus
    created_at: str
    updated_at: str
    direction: Literal["outbound", "inbound"] = "outbound"
    call_sid: str | None = None
    idempotency_key: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    holds_slot: bool = False
    # The daily budget this call reserved (UTC day, seconds); the unused part is refunded at its end.
    budget_day: str | None = None
    budget_seconds: int | None = None
    dial_started_at: str | None = None
    answered_by: str | None = None
    duration_seconds: int | None = None
    error: dict[str, Any] | None = None
    # The latest live update that did not happen (a transfer, keypad digits): the call went on, so
    # this is not ``error`` (why a call failed); ``callcore.twilio_errors.update_refusal``.
    update_error: dict[str, Any] | None = None
    recording_url: str | None = None
    recording_sid: str | None = None
    stream_sid: str | None = None
    stream_event: str | None = None
    stream_error: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None
    turn_count: int | None = None
    webhook_url: str | None = None
    # event id -> {event, attempts, last_status, state, last_attempt_at}; shown as a list.
    webhook_deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    cost_usd: dict[str, Any] | None = None
    hangup_requested_at: str | None = None
    # The callee asked not to be called again (the `opt_out` tool): the number is on the key's
    # do-not-call list, and a campaign never retries this recipient. None (not False) otherwise.
    opted_out: bool | None = None
    opted_out_at: str | None = None
    # When a call still not final is certainly stuck (its time limit, the ring time and a grace
    # period have all passed): the key of the sparse GSI2 the reconciler reads, until it is final.
    reconcile_after: str | None = None
    # When the opening disclosure (AI, recording) had been heard in full (`callcore.disclosure`).
    disclosure_played_at: str | None = None
    # "given" / "refused" when the persona asked before recording; None when it did not ask.
    recording_consent: str | None = None
    recording_consent_at: str | None = None
    expiration: int | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **call_key(self.call_id),
            "GSI1PK": f"USER#{self.user_id}",
            "GSI1SK": f"{self.created_at}#{self.call_id}",
            "entity": "call",
            "status_rank": self.status.rank,
        }
        if self.reconcile_after and not self.status.is_terminal:
            item.update(live_call_index_key(self.reconcile_after, self.call_id))
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "status":
                value = self.status.value
            item[name] = to_dynamo(value)
        return _drop_none(item)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CallRecord:
        data = from_dynamo(item)
        names = cls.__dataclass_fields__
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["status"] = CallStatus(kwargs["status"])
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        """Public view: no internal bookkeeping (slot flag, TTL)."""
        hidden = {"holds_slot", "expiration", "dial_started_at", "budget_day", "budget_seconds"}
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in hidden}
        out["status"] = self.status.value
        out["webhook_deliveries"] = sorted(
            ({"id": event_id, **delivery} for event_id, delivery in self.webhook_deliveries.items()),
            key=lambda d: (_EVENT_ORDER.get(str(d.get("event")), len(_EVENT_ORDER)), d["id"]),
        )
        if not self.webhook_url and not out["webhook_deliveries"]:
            del out["webhook_deliveries"]
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class StatusEvent:
    """One accepted callback, kept as history under the call (``STATUS#<ts>#<seq>``)."""

    call_id: str
    kind: Literal["call", "amd", "stream", "recording", "trigger", "update"]
    at: str
    seq: str
    status: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_item(self, *, expiration: int | None = None) -> dict[str, Any]:
        return _drop_none(
            {
                "PK": f"CALL#{self.call_id}",
                "SK": f"STATUS#{self.at}#{self.seq}",
                "entity": "status_event",
                "call_id": self.call_id,
                "kind": self.kind,
                "at": self.at,
                "seq": self.seq,
                "status": self.status,
                "detail": to_dynamo(self.detail),
                "expiration": expiration,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StatusEvent:
        data = from_dynamo(item)
        return cls(
            call_id=data["call_id"],
            kind=data["kind"],
            at=data["at"],
            seq=str(data["seq"]),
            status=data.get("status"),
            detail=dict(data.get("detail") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {"kind": self.kind, "at": self.at, "status": self.status, "detail": self.detail or None}
        )


@dataclass(frozen=True, kw_only=True)
class TranscriptTurn:
    """One utterance; written by the stream host, idempotent by ``index``."""

    index: int
    role: Literal["caller", "assistant"]
    text: str
    started_at: float
    ended_at: float
    interrupted: bool = False
    latency_ms: dict[str, float] = field(default_factory=dict)

    def to_item(self, call_id: str, *, expiration: int | None = None) -> dict[str, Any]:
        return _drop_none(
            {
                "PK": f"CALL#{call_id}",
                "SK": f"TURN#{self.index:05d}",
                "entity": "turn",
                "index": self.index,
                "role": self.role,
                "text": self.text,
                "started_at": to_dynamo(float(self.started_at)),
                "ended_at": to_dynamo(float(self.ended_at)),
                "interrupted": self.interrupted,
                "latency_ms": to_dynamo({k: float(v) for k, v in self.latency_ms.items()}),
                "expiration": expiration,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TranscriptTurn:
        data = from_dynamo(item)
        return cls(
            index=int(data["index"]),
            role=data["role"],
            text=data["text"],
            started_at=float(data["started_at"]),
            ended_at=float(data["ended_at"]),
            interrupted=bool(data.get("interrupted", False)),
            latency_ms={k: float(v) for k, v in (data.get("latency_ms") or {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "role": self.role,
            "text": self.text,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "interrupted": self.interrupted,
            "latency_ms": dict(self.latency_ms),
        }


@dataclass(frozen=True, kw_only=True)
class CallSummary:
    """What the stream host knows when a call ends (Twilio's status callbacks add the rest)."""

    ended_at: str
    duration_seconds: int
    turns: int
    end_reason: str
    # What the call used of the paid services (stt_seconds, llm_*_tokens, tts_characters).
    usage: dict[str, Any] | None = None


def do_not_call_key(user_id: str, number: str) -> dict[str, str]:
    """One number on one API key's do-not-call list (``DNC#<user>`` / ``<E.164 number>``)."""
    return {"PK": f"DNC#{user_id}", "SK": number}


@dataclass(frozen=True, kw_only=True)
class DoNotCallEntry:
    """A number this API key must never dial again; ``source`` says who put it there.

    ``source`` is ``api`` (PUT /do-not-call) or ``opt_out`` (the callee asked during a call, whose
    id is then ``call_id``).
    """

    user_id: str
    number: str
    added_at: str
    source: Literal["api", "opt_out"] = "api"
    call_id: str | None = None

    def to_item(self) -> dict[str, Any]:
        return _drop_none(
            {
                **do_not_call_key(self.user_id, self.number),
                "entity": "do_not_call",
                "user_id": self.user_id,
                "number": self.number,
                "added_at": self.added_at,
                "source": self.source,
                "call_id": self.call_id,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DoNotCallEntry:
        data = from_dynamo(item)
        return cls(
            user_id=data["user_id"],
            number=data["number"],
            added_at=data["added_at"],
            source=data.get("source", "api"),
            call_id=data.get("call_id"),
        )

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {"number": self.number, "added_at": self.added_at, "source": self.source, "call_id": self.call_id}
        )
