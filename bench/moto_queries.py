"""moto's DynamoDB Query reading one partition, as DynamoDB does, instead of the whole table (bench only).

moto 5.2 answers every ``Query`` by walking every item of the table: a query on the table's own
key compares each item's hash key, and a query on a global secondary index checks each item's
index attributes, sorts what matched with ``DynamoType`` comparisons, and only then applies the
key condition, ``ExclusiveStartKey`` and ``Limit``. DynamoDB itself reads only the partition, from
the first matching sort key, and stops at ``Limit``. In the campaign benchmark the table holds
every recipient, call record and status event of a 10,000-recipient campaign, and the engine
queries it a few times per call and per scheduler pass, so moto's walk (not the engine) made the
run quadratic.

This keeps moto's own ``Table.query`` (its parsing, checks, ordering, pagination, projections and
filters) and narrows only the items it is handed to look at:

* a query on the table's key gets the items of that hash key only;
* a query on a GSI gets the index entries that satisfy the key condition, read from a sorted list
  per (index, hash value) with ``bisect``, starting at ``ExclusiveStartKey`` and cut after
  ``Limit`` + 1 entries (plus any with the same sort key as the last), so moto still sees whether
  there is a next page and returns the same ``LastEvaluatedKey``.

The sorted lists are kept up to date after every write that can change an item (``PutItem``,
``UpdateItem``, ``DeleteItem``, ``BatchWriteItem`` through those, ``TransactWriteItems``) by
re-reading the items the request addressed; any query shape this does not handle (non-string keys,
multi-attribute keys, an unknown index) falls back to moto as shipped. Used by the benchmark only:
the tests and the local stack run moto as shipped, and no product code depends on it.
``tests/unit/bench/test_moto_queries.py`` checks that random queries answer exactly as moto's.
Install after ``bench.moto_transactions`` (its rollback must run inside the re-indexing).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["install_indexed_queries", "uninstall_indexed_queries"]

_Entry = tuple[str, str, str]  # (index sort key, table hash key, table range key)
_Key = tuple[str, str]  # (table hash key, table range key or "")


def _first(entry: _Entry) -> str:
    return entry[0]


@dataclass
class _IndexState:
    """Per moto Table: for each GSI, hash value -> sorted entries; and where each item sits."""

    indexes: dict[str, tuple[str, str]]  # index name -> (hash attribute, range attribute)
    entries: dict[str, dict[str, list[_Entry]]] = field(default_factory=dict)
    placed: dict[_Key, dict[str, tuple[str, _Entry]]] = field(default_factory=dict)


def _string(value: Any) -> str | None:
    """The raw string of a DynamoType (or wire dict) of type S, else None."""
    if value is None:
        return None
    if isinstance(value, dict):
        raw = value.get("S")
        return raw if isinstance(raw, str) else None
    return value.value if getattr(value, "type", None) == "S" and isinstance(value.value, str) else None


def _plain_indexes(table: Any) -> dict[str, tuple[str, str]] | None:
    """GSIs with one string hash and one range attribute; None when the table is not all-string keys."""
    if table.range_key_attr is None or table.range_key_type != "S" or table.hash_key_type != "S":
        return None
    out: dict[str, tuple[str, str]] = {}
    for index in table.global_indexes:
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        if len(hashes) == 1 and len(ranges) == 1:
            out[index.name] = (hashes[0], ranges[0])
    return out


def _state(table: Any) -> _IndexState | None:
    state: _IndexState | None = table.__dict__.get("_bench_index_state")
    if state is not None:
        return state
    indexes = _plain_indexes(table)
    if indexes is None:
        return None
    state = _IndexState(indexes=indexes)
    for hash_value, by_range in table.items.items():
        for range_value, item in by_range.items():
            _place(state, (hash_value.value, range_value.value), item)
    table.__dict__["_bench_index_state"] = state
    return state


def _place(state: _IndexState, key: _Key, item: Any) -> None:
    """Move one item's index entries to where its current attributes put them (or remove them)."""
    old = state.placed.pop(key, {})
    for name, (old_hash, entry) in old.items():
        entries = state.entries[name][old_hash]
        at = bisect.bisect_left(entries, entry)
        if at < len(entries) and entries[at] == entry:
            del entries[at]
    if item is None:
        return
    now: dict[str, tuple[str, _Entry]] = {}
    for name, (hash_attr, range_attr) in state.indexes.items():
        hash_value = _string(item.attrs.get(hash_attr))
        range_value = _string(item.attrs.get(range_attr))
        if hash_value is None or range_value is None:
            continue  # not in this (sparse) index (the table defines its key attributes as strings)
        entry = (range_value, key[0], key[1])
        bisect.insort(state.entries.setdefault(name, {}).setdefault(hash_value, []), entry)
        now[name] = (hash_value, entry)
    if now:
        state.placed[key] = now


def _reindex(table: Any, keys: Iterable[tuple[Any, Any]]) -> None:
    state = table.__dict__.get("_bench_index_state")
    if state is None:
        return  # built from scratch at the next query
    for hash_value, range_value in keys:
        h, r = _string(hash_value), _string(range_value)
        if h is None or r is None:
            table.__dict__.pop("_bench_index_state", None)
            return
        partition = table.items.get(hash_value)
        item = partition.get(range_value) if partition else None
        _place(state, (h, r), item)


def _gsi_candidates(table: Any, state: _IndexState, args: dict[str, Any]) -> list[Any] | None:
    index_name = args["index_name"]
    if index_name not in state.indexes:
        return None
    hash_attr, range_attr = state.indexes[index_name]
    conditions = args.get("hash_key_conditions") or []
    if len(conditions) > 1 or len(args.get("range_key_conditions") or []) > 1:
        return None
    if conditions and conditions[0][0] != hash_attr:
        return None
    hash_value = _string(conditions[0][1] if conditions else args["hash_key"])
    if hash_value is None:
        return None
    entries = state.entries.get(index_name, {}).get(hash_value, [])
    low, high = 0, len(entries)
    comparison, objs = args["range_comparison"], args["range_objs"]
    if comparison:
        values = [_string(o) for o in objs]
        if not values or any(v is None for v in values):
            return None
        v = str(values[0])
        left = bisect.bisect_left(entries, v, key=_first)
        right = bisect.bisect_right(entries, v, key=_first)
        if comparison == "=":
            low, high = left, right
        elif comparison == "<":
            high = left
        elif comparison == "<=":
            high = right
        elif comparison == ">":
            low = right
        elif comparison == ">=":
            low = left
        elif comparison == "BETWEEN" and len(values) == 2:
            low, high = left, bisect.bisect_right(entries, str(values[1]), key=_first)
        elif comparison == "BEGINS_WITH":
            low = high = left
            while high < len(entries) and entries[high][0].startswith(v):
                high += 1
        else:
            return None
    forward = args["scan_index_forward"] is not False
    start_key = args.get("exclusive_start_key")
    lead = 0  # entries sharing the resume point's sort key: moto compares and skips those itself
    if start_key:
        resume = _string(start_key.get(range_attr))
        if resume is None:
            return None
        if forward:
            low = max(low, bisect.bisect_left(entries, resume, key=_first))
            lead = max(0, min(high, bisect.bisect_right(entries, resume, key=_first)) - low)
        else:
            high = min(high, bisect.bisect_right(entries, resume, key=_first))
            lead = max(0, high - max(low, bisect.bisect_left(entries, resume, key=_first)))
    limit = args.get("limit")
    if limit:
        # moto stops at Limit when *any* entry of the partition follows (even one outside the key
        # condition) and then returns a LastEvaluatedKey: hand it that one entry too.
        if forward:
            cut = low + lead + limit + 1
            while low < cut < high and entries[cut][0] == entries[cut - 1][0]:
                cut += 1
            high = min(high, cut) + (1 if cut >= high and high < len(entries) else 0)
        else:
            cut = high - (lead + limit + 1)
            while low < cut < high and entries[cut - 1][0] == entries[cut][0]:
                cut -= 1
            low = max(low, cut) - (1 if cut <= low and low > 0 else 0)
    window = entries[low:high]
    items = []
    for _, h, r in window:
        partition = table.items.get(_dynamo_string(h))
        item = partition.get(_dynamo_string(r)) if partition else None
        if item is not None:
            items.append(item)
    return items


def _dynamo_string(value: str) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType({"S": value})


_QUERY_ARGS = (
    "hash_key",
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
    "consistent_read",
    "filter_expression",
)
_KNOWN_ARGS = {*_QUERY_ARGS, "hash_key_conditions", "range_key_conditions"}


def install_indexed_queries() -> None:
    """Patch moto's DynamoDB Table.query and backend writes in this process (idempotent)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "indexed_queries", False):
        return
    backend = models.DynamoDBBackend
    shipped_query = Table.query

    def query(self: Any, *positional: Any, **named: Any) -> Any:
        args = dict(zip(_QUERY_ARGS, positional, strict=False))
        args.update(named)
        candidates: list[Any] | None = None
        state = _state(self)
        if state is not None and set(args) <= _KNOWN_ARGS:  # legacy KeyConditions/QueryFilter: as shipped
            if args.get("index_name"):
                candidates = _gsi_candidates(self, state, args)
            elif args.get("hash_key") is not None:
                candidates = list((self.items.get(args["hash_key"]) or {}).values())
        if candidates is None:
            return shipped_query(self, *positional, **named)
        chosen = candidates
        self.__dict__["all_items"] = lambda: chosen  # moto's query walks self.all_items()
        try:
            return shipped_query(self, *positional, **named)
        finally:
            del self.__dict__["all_items"]

    def keys_of(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_raw = key.get(table.hash_key_attr)
        range_raw = key.get(table.range_key_attr) if table.range_key_attr else None
        return (
            DynamoType(hash_raw) if hash_raw is not None else None,
            DynamoType(range_raw) if range_raw is not None else None,
        )

    def after(write: Callable[..., Any], touched: Callable[..., list[tuple[Any, dict[str, Any]]]]) -> Any:
        def wrapper(self: Any, *positional: Any, **named: Any) -> Any:
            try:
                return write(self, *positional, **named)
            finally:
                for table, key in touched(self, *positional, **named):
                    _reindex(table, [keys_of(table, key)])

        wrapper.shipped = write  # type: ignore[attr-defined]
        return wrapper

    def one(key_param: str, position: int) -> Callable[..., list[tuple[Any, dict[str, Any]]]]:
        def touched(self: Any, *positional: Any, **named: Any) -> list[tuple[Any, dict[str, Any]]]:
            name = named.get("table_name", positional[0] if positional else None)
            key = named.get(key_param, positional[position] if len(positional) > position else None)
            table = self.tables.get(name)
            return [(table, key)] if table is not None and isinstance(key, dict) else []

        return touched

    def transaction(self: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        out = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item")
            if table is not None and isinstance(key, dict):
                out.append((table, key))
        return out

    backend.put_item = after(backend.put_item, one("item_attrs", 1))  # type: ignore[method-assign]
    backend.update_item = after(backend.update_item, one("key", 1))  # type: ignore[method-assign]
    backend.delete_item = after(backend.delete_item, one("key", 1))  # type: ignore[method-assign]
    backend.transact_write_items = after(backend.transact_write_items, transaction)  # type: ignore[method-assign]

    def invalidating(write: Callable[..., Any]) -> Any:
        def wrapper(self: Any, *positional: Any, **named: Any) -> Any:
            try:
                return write(self, *positional, **named)
            finally:
                for table in self.tables.values():
                    table.__dict__.pop("_bench_index_state", None)

        wrapper.shipped = write  # type: ignore[attr-defined]
        return wrapper

    for name in ("execute_statement", "execute_transaction", "batch_execute_statement"):
        if hasattr(backend, name):  # PartiQL writes: rebuild the lists at the next query
            setattr(backend, name, invalidating(getattr(backend, name)))

    query.indexed_queries = True  # type: ignore[attr-defined]
    query.shipped = shipped_query  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def uninstall_indexed_queries() -> None:
    """Put moto back as it was before ``install_indexed_queries`` (install order reversed)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    if not getattr(Table.query, "indexed_queries", False):
        return
    Table.query = Table.query.shipped  # type: ignore[attr-defined,method-assign]
    backend = models.DynamoDBBackend
    for name in (
        "put_item",
        "update_item",
        "delete_item",
        "transact_write_items",
        "execute_statement",
        "execute_transaction",
        "batch_execute_statement",
    ):
        method = getattr(backend, name, None)
        if method is not None and hasattr(method, "shipped"):
            setattr(backend, name, method.shipped)
