"""List query parsing: every bad parameter is a 400 that names it; cursors are bound to their list."""

from __future__ import annotations

import pytest
from callcore.listing import (
    ListQueryError,
    decode_cursor,
    encode_cursor,
    parse_call_list_query,
    parse_page_query,
)
from callcore.models import CallStatus

KEY = {"PK": "CALL#c1", "SK": "META", "GSI1PK": "USER#u1", "GSI1SK": "2026-11-30T12:00:00.000Z#c1"}


def test_cursor_round_trip_and_binding_to_its_list() -> None:
    cursor = encode_cursor(KEY, partition="USER#u1")
    assert "USER" not in cursor  # opaque, not a readable key
    assert decode_cursor(cursor, partition="USER#u1") == KEY
    with pytest.raises(ListQueryError) as refused:
        decode_cursor(cursor, partition="USER#u2")
    assert refused.value.field == "cursor"


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", "eyJhIjogMX0", ""])
def test_garbage_cursors_are_refused_not_crashed(cursor: str) -> None:
    if cursor == "":
        assert parse_page_query({"cursor": cursor}, partition="P").start_key is None
        return
    with pytest.raises(ListQueryError) as refused:
        decode_cursor(cursor, partition="P")
    assert refused.value.to_json()["error"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
def test_limit_out_of_range_names_the_field(limit: str) -> None:
    with pytest.raises(ListQueryError) as refused:
        parse_page_query({"limit": limit}, partition="P")
    assert refused.value.field == "limit" and "1 to 100" in refused.value.message


def test_call_list_filters() -> None:
    query = parse_call_list_query(
        {"limit": "5", "status": "in-progress", "from": "2026-11-30", "to": "2026-12-01T08:00:00+01:00"},
        user_id="u1",
    )
    assert query.page.limit == 5 and query.status is CallStatus.IN_PROGRESS
    assert query.created_from == "2026-11-30T00:00:00.000Z"
    assert query.created_to == "2026-12-01T07:00:00.000Z"
    assert parse_call_list_query(None, user_id="u1").page.limit == 20


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "ringing-ish"}, "status"),
        ({"from": "yesterday"}, "from"),
        ({"to": "30/11/2026"}, "to"),
        ({"from": "2026-12-01", "to": "2026-11-30"}, "to"),
    ],
)
def test_bad_filters_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(ListQueryError) as refused:
        parse_call_list_query(params, user_id="u1")
    assert refused.value.field == field and f"'{field}'" in refused.value.message
