"""moto's TransactWriteItems with an item-level rollback, so a large table does not make it quadratic.

moto 5.2 backs up *the whole table* before every ``TransactWriteItems`` (one ``copy.deepcopy`` of
the table per item of the transaction) so it can roll back when a condition fails. With 10,000
recipients, their call records and status events in the one table, each two-item campaign
transaction copied every item twice: that, not the campaign engine, was most of the benchmark's
CPU (profiled: ~60 % of a 100-recipient run, growing with the table).

This keeps moto's own transaction code, checks and errors, and changes only the backup: the items
the transaction addresses are copied before it runs and put back (or removed again) when moto
cancels it. A transaction touches nothing else, so the state after a rollback is the same.
Used by the benchmark only; the tests run moto as shipped.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["install_item_level_rollback", "uninstall_item_level_rollback"]


def install_item_level_rollback() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "item_level_rollback", False):
        return
    shipped = backend.transact_write_items

    class _TablesNotCopied:
        """moto's module-level ``copy``, except that a whole `Table` is not copied (we back up items)."""

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = _TablesNotCopied  # type: ignore[assignment,attr-defined]

    def addressed(self: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any]]:
        out = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {
                name: op.get("Item", {}).get(name)
                for name in (table.hash_key_attr, table.range_key_attr)
                if name is not None
            }
            if table.hash_key_attr not in key or key[table.hash_key_attr] is None:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_raw = key.get(table.range_key_attr) if table.range_key_attr else None
            out.append((table, hash_value, DynamoType(range_raw) if range_raw is not None else None))
        return out

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [
            (table, h, r, copy.deepcopy(table.get_item(h, r)))
            for table, h, r in addressed(self, transact_items)
        ]
        try:
            shipped(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):
                if item is None:
                    table.delete_item(h, r)
                elif r is None:
                    table.items[h] = item
                else:
                    table.items[h][r] = item
            raise

    transact_write_items.item_level_rollback = True  # type: ignore[attr-defined]
    transact_write_items.shipped = shipped  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def uninstall_item_level_rollback() -> None:
    """Put moto back as shipped (the tests use this to leave the process as they found it)."""
    import moto.dynamodb.models as models

    patched = models.DynamoDBBackend.transact_write_items
    if getattr(patched, "item_level_rollback", False):
        models.DynamoDBBackend.transact_write_items = patched.shipped  # type: ignore[attr-defined,method-assign]
        models.copy = copy  # type: ignore[attr-defined]
