"""The single DynamoDB table as low-level API calls that take and return plain Python values.

Two ways in, one shape out, so ``CallRepository`` has a single code path:

* ``ClientTable`` (what deployed code uses): a plain botocore client, built on first use, with
  values converted by ``callcore.attribute_values``. It never imports boto3: boto3 adds
  s3transfer and the resource model to every cold start, and the client is created when the
  first request needs it, so a handler that answers 403 to a bad signature never pays for it.
* ``ResourceTable``: a boto3 ``Table`` resource handed in by tests, the local stack and
  benchmarks. Its client already converts values itself (boto3 registers a transformer on it),
  so requests pass straight through.

Only the parameters that carry attribute values are converted (keys, items, expression values,
pagination keys, and the same inside ``TransactItems``); expressions stay strings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from callcore.attribute_values import item_from_wire, item_to_wire

__all__ = ["ClientTable", "ResourceTable", "Table", "request_to_wire", "response_from_wire"]

# Request members whose value is a map of attribute name → AttributeValue.
_VALUE_MAPS = ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey")
_RESPONSE_ITEMS = ("Item", "Attributes", "LastEvaluatedKey")


class Table(Protocol):
    """What the repository needs from the table: its name and the DynamoDB operations."""

    @property
    def name(self) -> str: ...

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Run ``operation`` (``get_item``, ``query``, ``transact_write_items``, ...) with plain
        values; single-table operations get ``TableName`` filled in."""
        ...


def request_to_wire(params: Mapping[str, Any]) -> dict[str, Any]:
    """A request with plain values → the same request in DynamoDB's typed JSON."""
    out = dict(params)
    for member in _VALUE_MAPS:
        if member in out:
            out[member] = item_to_wire(out[member])
    if (
        "RequestItems" in out
    ):  # batch_write_item: {table: [{"PutRequest": {"Item": …}} | {"DeleteRequest": {"Key": …}}]}
        out["RequestItems"] = {
            table: [{action: request_to_wire(body) for action, body in entry.items()} for entry in entries]
            for table, entries in out["RequestItems"].items()
        }
    if "TransactItems" in out:
        out["TransactItems"] = [
            {action: request_to_wire(body) for action, body in entry.items()}
            for entry in out["TransactItems"]
        ]
    return out


def response_from_wire(response: Mapping[str, Any]) -> dict[str, Any]:
    """A response in DynamoDB's typed JSON → the same response with plain values."""
    out = dict(response)
    for member in _RESPONSE_ITEMS:
        if member in out:
            out[member] = item_from_wire(out[member])
    if "Items" in out:
        out["Items"] = [item_from_wire(item) for item in out["Items"]]
    if out.get("UnprocessedItems"):  # batch_write_item's leftovers, plain again so they can be resent
        out["UnprocessedItems"] = {
            table: [
                {action: {k: item_from_wire(v) for k, v in body.items()} for action, body in entry.items()}
                for entry in entries
            ]
            for table, entries in out["UnprocessedItems"].items()
        }
    return out


def _with_table_name(name: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    if operation.startswith("transact_") or operation.startswith("batch_"):
        return params  # these name the table inside each entry
    return {"TableName": name, **params}


class ClientTable:
    """The table through a plain low-level client, built once on first use (thread-safe).

    Args:
        name: the table name (TABLE_NAME).
        client_factory: builds the botocore DynamoDB client; called at most once.
    """

    def __init__(self, name: str, client_factory: Callable[[], Any]) -> None:
        self._name = name
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def client(self) -> Any:
        """The botocore client; the stream host's worker threads may race to the first call."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        request = request_to_wire(_with_table_name(self._name, operation, params))
        return response_from_wire(getattr(self.client, operation)(**request))


class ResourceTable:
    """A boto3 ``Table`` resource seen through the same interface (its client converts values)."""

    def __init__(self, resource: Any) -> None:
        self.resource = resource

    @property
    def name(self) -> str:
        return str(self.resource.name)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self.resource.meta.client, operation)
        return dict(method(**_with_table_name(self.name, operation, params)))
