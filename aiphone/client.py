"""A typed Python client of the HTTP API (the one `openapi.yaml` describes); the `aiphone` CLI is built on it.

Standard library only, so it installs anywhere. Every non-2xx answer raises `ApiError` carrying the
API's `{"error", "message", "field"}`; a server that cannot be reached raises `ApiUnreachable`.
Records are returned as small dataclasses with the fields every call has, plus `raw` (the whole JSON
object), so fields added to the API later are never lost.

    from aiphone import AiPhoneClient
    client = AiPhoneClient()                       # AIPHONE_API_URL / AIPHONE_API_KEY, else the local stack
    placed = client.place_call(
        "+14155550123", "appointment-reminder", variables={"first_name": "Ada", "appointment_time": "Friday"}
    )
    for turn in client.follow(placed.call_id):     # live transcript until the call ends
        print(turn)
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_URL",
    "TERMINAL_STATUSES",
    "AiPhoneClient",
    "ApiError",
    "ApiUnreachable",
    "Call",
    "CallDetail",
    "CallPage",
    "Persona",
    "PersonaPage",
    "PlacedCall",
    "StatusChange",
    "Turn",
]

DEFAULT_API_URL = "http://127.0.0.1:3000"
DEFAULT_API_KEY = "local-dev-api-key"
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class ApiError(Exception):
    """The API refused a request: HTTP ``status``, the stable ``code``, the ``message``, maybe a ``field``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ApiUnreachable(Exception):
    """No HTTP answer at all (nothing listening, DNS, TLS, timeout)."""


@dataclass(frozen=True)
class PlacedCall:
    call_id: str
    status: str


@dataclass(frozen=True)
class Call:
    """One call record (the list view); ``raw`` holds every field the API returned."""

    call_id: str
    status: str
    to_number: str
    persona_id: str
    created_at: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        return cls(
            call_id=str(data["call_id"]),
            status=str(data["status"]),
            to_number=str(data.get("to_number", "")),
            persona_id=str(data.get("persona_id", "")),
            created_at=str(data.get("created_at", "")),
            raw=dict(data),
        )

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Turn:
    """One transcript turn and its per-stage latency figures (milliseconds)."""

    index: int
    role: str
    text: str
    interrupted: bool
    latency_ms: dict[str, float]
    started_at: float | None = None  # Unix seconds

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Turn:
        started = data.get("started_at")
        return cls(
            index=int(data["index"]),
            role=str(data["role"]),
            text=str(data.get("text", "")),
            interrupted=bool(data.get("interrupted", False)),
            latency_ms={str(k): float(v) for k, v in (data.get("latency_ms") or {}).items()},
            started_at=float(started) if isinstance(started, int | float) else None,
        )


@dataclass(frozen=True)
class StatusChange:
    kind: str
    at: str
    status: str | None
    detail: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusChange:
        return cls(
            kind=str(data.get("kind", "")),
            at=str(data.get("at", "")),
            status=data.get("status"),
            detail=dict(data.get("detail") or {}),
        )


def _seconds(at: str) -> float | None:
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _in_time_order(events: list[StatusChange], turns: list[Turn]) -> list[Turn | StatusChange]:
    """Status changes and turns merged by when they happened (a turn by its start). One without a
    time takes the time of the one before it in its own list."""
    merged: list[tuple[float, int, int, Turn | StatusChange]] = []
    sources: tuple[list[Turn | StatusChange], ...] = (list(events), list(turns))
    for source, items in enumerate(sources):
        last = float("-inf")
        for position, item in enumerate(items):
            when = item.started_at if isinstance(item, Turn) else _seconds(item.at)
            last = when if when is not None else last
            merged.append((last, source, position, item))
    return [item for *_, item in sorted(merged, key=lambda entry: entry[:3])]


@dataclass(frozen=True)
class CallDetail:
    """``GET /calls/{id}``: the record, its status history and its transcript."""

    call: Call
    history: list[StatusChange]
    turns: list[Turn]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallDetail:
        return cls(
            call=Call.from_json(data),
            history=[StatusChange.from_json(e) for e in data.get("status_history") or []],
            turns=[Turn.from_json(t) for t in data.get("turns") or []],
        )


@dataclass(frozen=True)
class CallPage:
    calls: list[Call]
    next_cursor: str | None


@dataclass(frozen=True)
class Persona:
    persona_id: str
    name: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Persona:
        return cls(persona_id=str(data["persona_id"]), name=str(data.get("name", "")), raw=dict(data))


@dataclass(frozen=True)
class PersonaPage:
    personas: list[Persona]
    next_cursor: str | None


def _clean(params: Mapping[str, object | None]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items() if v is not None}


class AiPhoneClient:
    """The HTTP API of one deployment (or of the local stack).

    Args:
        base_url: the API's base URL; default ``AIPHONE_API_URL``, else the local stack.
        api_key: the ``x-api-key`` value; default ``AIPHONE_API_KEY``, else the local stack's key.
        timeout: seconds per request.
    """

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *, timeout: float = 15.0
    ) -> None:
        self.base_url = (base_url or os.environ.get("AIPHONE_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.api_key = api_key or os.environ.get("AIPHONE_API_KEY") or DEFAULT_API_KEY
        self.timeout = timeout
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"the API URL must start with http:// or https://, not {self.base_url!r}")

    def __repr__(self) -> str:  # never the key
        return f"AiPhoneClient(base_url={self.base_url!r})"

    # -- calls ---------------------------------------------------------------------------------

    def place_call(
        self,
        to: str,
        persona_id: str,
        *,
        variables: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> PlacedCall:
        """``POST /calls``; optional fields are only sent when given."""
        body: dict[str, Any] = {"to": to, "persona_id": persona_id}
        if variables:
            body["variables"] = dict(variables)
        if metadata:
            body["metadata"] = dict(metadata)
        if webhook_url:
            body["webhook_url"] = webhook_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data = self._request("POST", "/calls", body=body, headers=headers)
        return PlacedCall(call_id=str(data["call_id"]), status=str(data["status"]))

    def list_calls(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
    ) -> CallPage:
        """One page of ``GET /calls`` (the key's own calls, newest first)."""
        query = _clean(
            {"limit": limit, "cursor": cursor, "status": status, "from": created_from, "to": created_to}
        )
        data = self._request("GET", "/calls", query=query)
        return CallPage([Call.from_json(c) for c in data.get("calls") or []], data.get("next_cursor"))

    def iter_calls(
        self,
        *,
        status: str | None = None,
        page_size: int = 50,
        created_from: str | None = None,
        created_to: str | None = None,
    ) -> Iterator[Call]:
        """Every call of the key, newest first, following the cursors."""
        cursor: str | None = None
        while True:
            page = self.list_calls(
                limit=page_size,
                cursor=cursor,
                status=status,
                created_from=created_from,
                created_to=created_to,
            )
            yield from page.calls
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get_call_json(self, call_id: str) -> dict[str, Any]:
        return self._request("GET", f"/calls/{urllib.parse.quote(call_id, safe='')}")

    def get_call(self, call_id: str) -> CallDetail:
        return CallDetail.from_json(self.get_call_json(call_id))

    def hangup(self, call_id: str) -> dict[str, Any]:
        """``POST /calls/{id}/hangup``; ``ApiError`` 409 ``call_ended`` once the call has ended."""
        return self._request("POST", f"/calls/{urllib.parse.quote(call_id, safe='')}/hangup")

    def follow(
        self,
        call_id: str,
        *,
        interval: float = 1.0,
        timeout: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Turn | StatusChange]:
        """The call's status changes and transcript turns as they are stored, until it has ended.

        Polls ``GET /calls/{id}`` every ``interval`` seconds and yields what is new in the order it
        happened. The bot's last words are often stored a moment after Twilio reports the end, so
        once the call has ended it reads once more before yielding the rest: the goodbye comes
        before the final status, as it was said.
        """
        seen_turns = 0
        seen_events = 0
        deadline = time.monotonic() + timeout
        end_seen = False
        while True:
            detail = self.get_call(call_id)
            if detail.call.ended and not end_seen:
                end_seen = True
                sleep(interval)
                continue
            yield from _in_time_order(detail.history[seen_events:], detail.turns[seen_turns:])
            seen_events, seen_turns = len(detail.history), len(detail.turns)
            if detail.call.ended or time.monotonic() > deadline:
                return
            sleep(interval)

    # -- personas ------------------------------------------------------------------------------

    def list_personas(self, *, limit: int | None = None, cursor: str | None = None) -> PersonaPage:
        data = self._request("GET", "/personas", query=_clean({"limit": limit, "cursor": cursor}))
        return PersonaPage(
            [Persona.from_json(p) for p in data.get("personas") or []], data.get("next_cursor")
        )

    def iter_personas(self, *, page_size: int = 100) -> Iterator[Persona]:
        cursor: str | None = None
        while True:
            page = self.list_personas(limit=page_size, cursor=cursor)
            yield from page.personas
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get_persona(self, persona_id: str) -> dict[str, Any]:
        return self._request("GET", f"/personas/{urllib.parse.quote(persona_id, safe='')}")

    def put_persona(self, persona_id: str, persona: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("PUT", f"/personas/{urllib.parse.quote(persona_id, safe='')}", body=persona)

    # -- transport -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310  # http(s) checked in __init__
        request.add_header("x-api-key", self.api_key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _json_object(response.read(), response.status)
        except urllib.error.HTTPError as error:
            raise _api_error(error.code, error.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ApiUnreachable(f"cannot reach {self.base_url}: {reason}") from None


def _json_object(raw: bytes, status: int) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(
            status, "invalid_response", "the API answered with something that is not JSON"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(status, "invalid_response", "the API answered with JSON that is not an object")
    return data


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = str(data.get("error") or f"http_{status}")
        message = str(data.get("message") or data.get("error") or "no message")
        found = data.get("field")
        return ApiError(status, code, message, str(found) if found else None)
    return ApiError(status, f"http_{status}", raw.decode("utf-8", "replace")[:200] or "no body")
