"""callcore.table: request/response conversion and the lazily built client."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from callcore.table import ClientTable, request_to_wire, response_from_wire


def test_only_attribute_value_members_are_typed_including_inside_transactions() -> None:
    wire = request_to_wire(
        {
            "TableName": "t",
            "Key": {"PK": "CALL#c1", "SK": "META"},
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": 2},
            "ExpressionAttributeNames": {"#s": "status"},
            "TransactItems": [{"Put": {"TableName": "t", "Item": {"PK": "x", "ok": True}}}],
        }
    )
    assert wire["Key"] == {"PK": {"S": "CALL#c1"}, "SK": {"S": "META"}}
    assert wire["ExpressionAttributeValues"] == {":n": {"N": "2"}}
    assert wire["ExpressionAttributeNames"] == {"#s": "status"}  # names are not values
    assert wire["UpdateExpression"] == "SET n = :n"
    assert wire["TransactItems"] == [
        {"Put": {"TableName": "t", "Item": {"PK": {"S": "x"}, "ok": {"BOOL": True}}}}
    ]


def test_responses_come_back_as_plain_values() -> None:
    plain = response_from_wire(
        {
            "Items": [{"n": {"N": "1"}}],
            "LastEvaluatedKey": {"PK": {"S": "a"}},
            "Count": 1,
        }
    )
    assert plain == {"Items": [{"n": Decimal(1)}], "LastEvaluatedKey": {"PK": "a"}, "Count": 1}


class _RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("get_item", params))
        return {"Item": {"PK": {"S": params["Key"]["PK"]["S"]}, "n": {"N": "7"}}}

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("transact_write_items", params))
        return {}


def test_client_is_built_once_even_when_threads_race_to_the_first_call() -> None:
    built: list[_RecordingClient] = []
    gate = threading.Barrier(8)

    def factory() -> _RecordingClient:
        built.append(_RecordingClient())
        return built[-1]

    table = ClientTable("calls", factory)
    assert built == []  # nothing is built before the first request

    def first_call() -> None:
        gate.wait(timeout=30)
        assert table.call("get_item", Key={"PK": "a"}) == {"Item": {"PK": "a", "n": Decimal(7)}}

    threads = [threading.Thread(target=first_call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(built) == 1 and len(built[0].calls) == 8
    _, params = built[0].calls[0]
    assert params["TableName"] == "calls" and params["Key"] == {"PK": {"S": "a"}}


def test_transactions_name_the_table_per_entry_not_at_the_top() -> None:
    client = _RecordingClient()
    ClientTable("calls", lambda: client).call(
        "transact_write_items", TransactItems=[{"Put": {"TableName": "calls", "Item": {"PK": "a"}}}]
    )
    ((_, params),) = client.calls
    assert "TableName" not in params
