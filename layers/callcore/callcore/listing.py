"""List queries of the API: `GET /calls` and `GET /personas` parameters and their opaque cursors.

Pure: parsing query parameters into a typed query (a `ListQueryError` names the field and why),
and turning a DynamoDB key into the cursor a client sends back. A cursor is the base64url of the
last returned item's key, bound to the list it came from (the caller's own calls, or the personas),
so a cursor made for one API key is refused for another instead of leaking its calls.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcore.models import CallStatus

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CallListQuery",
    "ListQueryError",
    "PageQuery",
    "decode_cursor",
    "encode_cursor",
    "parse_call_list_query",
    "parse_page_query",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_KEY_NAMES = ("PK", "SK", "GSI1PK", "GSI1SK")


class ListQueryError(ValueError):
    """A query parameter a client got wrong: ``field`` names it, the message says why (400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": f"invalid_{self.field}", "message": self.message, "field": self.field}


@dataclass(frozen=True)
class PageQuery:
    """One page of a list: how many items and where the previous page stopped (a table key)."""

    limit: int = DEFAULT_LIMIT
    start_key: dict[str, str] | None = None


@dataclass(frozen=True)
class CallListQuery:
    """`GET /calls`: a page of the caller's calls, newest first, optionally filtered."""

    page: PageQuery
    status: CallStatus | None = None
    created_from: str | None = None  # inclusive, sortable ISO-8601 (GSI1SK prefix)
    created_to: str | None = None  # exclusive


def encode_cursor(key: Mapping[str, Any], *, partition: str) -> str:
    """The opaque cursor for a page that ended at ``key`` in the index partition ``partition``."""
    wanted = {name: str(key[name]) for name in _KEY_NAMES if name in key}
    wanted["GSI1PK"] = partition
    raw = json.dumps(wanted, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, partition: str) -> dict[str, str]:
    """The table key inside ``cursor``; refused unless it was made for ``partition``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ListQueryError("cursor", "'cursor' is not a cursor this API returned") from None
    if (
        not isinstance(key, dict)
        or set(key) != set(_KEY_NAMES)
        or not all(isinstance(v, str) for v in key.values())
        or key["GSI1PK"] != partition
    ):
        raise ListQueryError("cursor", "'cursor' is not a cursor this API returned for this list")
    return key


def _one(params: Mapping[str, str | None] | None, name: str) -> str | None:
    value = (params or {}).get(name)
    return value if value not in (None, "") else None


def parse_page_query(params: Mapping[str, str | None] | None, *, partition: str) -> PageQuery:
    """``limit`` (1..100, default 20) and ``cursor`` from the query string."""
    limit = DEFAULT_LIMIT
    text = _one(params, "limit")
    if text is not None:
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise ListQueryError("limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(text)
    cursor = _one(params, "cursor")
    start_key = decode_cursor(cursor, partition=partition) if cursor is not None else None
    return PageQuery(limit=limit, start_key=start_key)


def _instant(params: Mapping[str, str | None] | None, name: str) -> str | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ListQueryError(
            name, f"'{name}' must be an ISO-8601 date or time, e.g. 2026-11-30 or 2026-11-30T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_call_list_query(params: Mapping[str, str | None] | None, *, user_id: str) -> CallListQuery:
    """Validate the query string of `GET /calls` (``limit``, ``cursor``, ``status``, ``from``, ``to``)."""
    page = parse_page_query(params, partition=f"USER#{user_id}")
    status: CallStatus | None = None
    text = _one(params, "status")
    if text is not None:
        try:
            status = CallStatus(text)
        except ValueError:
            allowed = ", ".join(s.value for s in CallStatus)
            raise ListQueryError("status", f"'status' must be one of: {allowed}") from None
    created_from, created_to = _instant(params, "from"), _instant(params, "to")
    if created_from and created_to and created_from >= created_to:
        raise ListQueryError("to", "'to' must be later than 'from'")
    return CallListQuery(page=page, status=status, created_from=created_from, created_to=created_to)
