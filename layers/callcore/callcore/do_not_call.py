"""The per-key do-not-call list: reading a number from a URL, and the API's three operations.

Every dial goes through ``callcore.calls.place_call``, which refuses a listed number before any slot
is taken or record written, so a campaign, a retry and a one-off ``POST /calls`` obey the same list.
Numbers are stored in E.164 exactly as dialled; this module never logs one unmasked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote

from callcore.api import encode_page_cursor
from callcore.calls import iso
from callcore.models import DoNotCallEntry
from callcore.phone import is_e164
from callcore.repository import CallRepository

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "DoNotCallInputError",
    "add_number",
    "list_page",
    "list_scope",
    "parse_number",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DIGITS = re.compile(r"^\d{7,15}$")


class DoNotCallInputError(ValueError):
    """A 400 with the field it concerns."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_number(raw: str | None, *, field: str = "number") -> str:
    """An E.164 number from a path or query value.

    ``%2B`` is decoded; a ``+`` that a query string turned into a space, or no ``+`` at all, is
    restored, so ``?number=+14155550123`` works however the client encoded it.
    """
    if raw is None or not raw.strip():
        raise DoNotCallInputError(
            "missing_field", f"'{field}' is required (an E.164 number such as +14155550123)"
        )
    text = unquote(raw).strip()
    if _DIGITS.match(text):
        text = "+" + text
    if not is_e164(text):
        raise DoNotCallInputError(
            "invalid_phone_number", f"'{field}' must be an E.164 number such as +14155550123"
        )
    return text


def add_number(
    repo: CallRepository,
    user_id: str,
    number: str,
    *,
    now: datetime,
    source: Literal["api", "opt_out"] = "api",
    call_id: str | None = None,
) -> DoNotCallEntry:
    """Put ``number`` on the key's list (idempotent: the first entry's date and source are kept)."""
    entry = DoNotCallEntry(user_id=user_id, number=number, added_at=iso(now), source=source, call_id=call_id)
    return repo.put_do_not_call(entry)


def list_page(repo: CallRepository, user_id: str, *, limit: int, after: str | None) -> dict[str, Any]:
    """``{"numbers": [...], "next_cursor": …}``: the page after the number ``after``; the cursor is
    opaque (`callcore.api.encode_page_cursor`) and bound to this key's list (`list_scope`)."""
    entries, last = repo.list_do_not_call(user_id, limit=limit, after=after)
    return {
        "numbers": [e.to_json() for e in entries],
        "next_cursor": encode_page_cursor(last, scope=list_scope(user_id)),
    }


def list_scope(user_id: str) -> str:
    """What a do-not-call cursor is bound to: this API key's list."""
    return f"DNC#{user_id}"
