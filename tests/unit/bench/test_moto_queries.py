"""The benchmark's partition-indexed moto queries answer exactly as moto as shipped does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.moto_queries import install_indexed_queries, uninstall_indexed_queries
from bench.moto_transactions import install_item_level_rollback, uninstall_item_level_rollback
from tests.unit.bench.conftest import moto_table_client

TABLE = "ai-phone-calls"


@pytest.fixture
def client() -> Iterator[Any]:
    from moto.dynamodb.models.table import Table

    install_item_level_rollback()
    install_indexed_queries()
    assert Table.query.indexed_queries  # type: ignore[attr-defined]
    try:
        with moto_table_client() as dynamodb:
            yield dynamodb
    finally:
        uninstall_indexed_queries()
        uninstall_item_level_rollback()
    assert not hasattr(Table.query, "indexed_queries")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _both(client: Any, **query: Any) -> tuple[list[Any], list[Any]]:
    """Every page of one query, with the patch and with moto's own Table.query."""
    from moto.dynamodb.models.table import Table

    def pages() -> list[Any]:
        out, start = [], None
        for _ in range(200):
            kwargs = dict(query, **({"ExclusiveStartKey": start} if start else {}))
            page = client.query(TableName=TABLE, **kwargs)
            out.append((page["Items"], page.get("LastEvaluatedKey")))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return out

    patched = Table.query
    indexed = pages()
    Table.query = patched.shipped  # type: ignore[attr-defined,method-assign]
    try:
        shipped = pages()
    finally:
        Table.query = patched  # type: ignore[method-assign]
    return indexed, shipped


def _random_writes(client: Any, rng: random.Random, count: int) -> None:
    for _ in range(count):
        pk, sk = _s(f"P{rng.randint(0, 3)}"), _s(f"R{rng.randint(0, 30):02d}")
        index = {"GSI1PK": _s(f"G{rng.randint(0, 2)}"), "GSI1SK": _s(f"{rng.randint(0, 9)}#x")}
        roll = rng.random()
        if roll < 0.4:
            client.put_item(TableName=TABLE, Item={"PK": pk, "SK": sk, **index, "n": {"N": "1"}})
        elif roll < 0.6:
            client.update_item(
                TableName=TABLE,
                Key={"PK": pk, "SK": sk},
                UpdateExpression="SET GSI1PK = :pk, GSI1SK = :sk",
                ExpressionAttributeValues={":pk": index["GSI1PK"], ":sk": index["GSI1SK"]},
            )
        elif roll < 0.7:
            client.update_item(TableName=TABLE, Key={"PK": pk, "SK": sk}, UpdateExpression="REMOVE GSI1PK")
        elif roll < 0.8:
            client.delete_item(TableName=TABLE, Key={"PK": pk, "SK": sk})
        else:
            new = {"PK": pk, "SK": _s(f"R{rng.randint(31, 40):02d}")}  # never the updated item
            try:  # cancelled when the updated item does not exist: the Put must leave no trace
                client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": {**new, **index}}},
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"PK": pk, "SK": sk},
                                "UpdateExpression": "SET GSI1PK = :pk, GSI1SK = :sk",
                                "ConditionExpression": "attribute_exists(PK)",
                                "ExpressionAttributeValues": {":pk": index["GSI1PK"], ":sk": _s("5#y")},
                            }
                        },
                    ]
                )
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"


def test_random_gsi_and_table_queries_match_moto_as_shipped(client: Any) -> None:
    rng = random.Random(7)
    conditions = [
        ("", {}),
        (" AND GSI1SK <= :v", {":v": _s("4#x")}),
        (" AND GSI1SK < :v", {":v": _s("4#x")}),
        (" AND GSI1SK >= :v", {":v": _s("3#x")}),
        (" AND GSI1SK > :v", {":v": _s("3#x")}),
        (" AND GSI1SK = :v", {":v": _s("5#x")}),
        (" AND GSI1SK BETWEEN :v AND :w", {":v": _s("2#x"), ":w": _s("6#x")}),
        (" AND begins_with(GSI1SK, :v)", {":v": _s("7")}),
    ]
    compared = 0
    for _ in range(4):
        _random_writes(client, rng, 60)
        for gsi in ("G0", "G1", "G2"):
            for condition, values in conditions:
                for limit in (None, 1, 3):
                    for forward in (True, False):
                        query: dict[str, Any] = {
                            "IndexName": "GSI1",
                            "KeyConditionExpression": "GSI1PK = :pk" + condition,
                            "ExpressionAttributeValues": {":pk": _s(gsi), **values},
                            "ScanIndexForward": forward,
                        }
                        if limit:
                            query["Limit"] = limit
                        indexed, shipped = _both(client, **query)
                        assert indexed == shipped, query
                        compared += len(indexed)
        for pk in ("P0", "P3"):
            indexed, shipped = _both(
                client,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :r)",
                ExpressionAttributeValues={":pk": _s(pk), ":r": _s("R")},
                Limit=4,
            )
            assert indexed == shipped
    assert compared > 300  # the comparison saw many pages, not only empty ones


def test_projection_and_filter_are_still_moto_s(client: Any) -> None:
    for i in range(6):
        client.put_item(
            TableName=TABLE,
            Item={"PK": _s("A"), "SK": _s(f"{i}"), "GSI1PK": _s("G"), "GSI1SK": _s(f"{i}")}
            | {"n": {"N": str(i)}},
        )
    indexed, shipped = _both(
        client,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :g",
        FilterExpression="n > :two",
        ProjectionExpression="SK, n",
        ExpressionAttributeValues={":g": _s("G"), ":two": {"N": "2"}},
        Limit=2,
    )
    assert indexed == shipped
    assert [item["n"]["N"] for page, _ in indexed for item in page] == ["3", "4", "5"]
