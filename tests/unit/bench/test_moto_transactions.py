"""The benchmark's item-level rollback leaves moto's transactions meaning what they meant."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.moto_transactions import install_item_level_rollback, uninstall_item_level_rollback
from tests.unit.bench.conftest import moto_table_client


@pytest.fixture
def client() -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    install_item_level_rollback()
    assert DynamoDBBackend.transact_write_items.item_level_rollback  # type: ignore[attr-defined]
    try:
        with moto_table_client() as dynamodb:
            yield dynamodb
    finally:
        uninstall_item_level_rollback()
    assert not hasattr(DynamoDBBackend.transact_write_items, "item_level_rollback")


def _item(client: Any, sk: str) -> dict[str, Any] | None:
    found = client.get_item(TableName="ai-phone-calls", Key={"PK": {"S": "A"}, "SK": {"S": sk}})
    return found.get("Item")  # type: ignore[no-any-return]


def test_a_cancelled_transaction_undoes_its_earlier_writes(client: Any) -> None:
    table = "ai-phone-calls"
    client.put_item(TableName=table, Item={"PK": {"S": "A"}, "SK": {"S": "1"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "A"}, "SK": {"S": "1"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"PK": {"S": "A"}, "SK": {"S": "2"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"PK": {"S": "A"}, "SK": {"S": "3"}},
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(client, "1") == {"PK": {"S": "A"}, "SK": {"S": "1"}, "n": {"N": "1"}}
    assert _item(client, "2") is None and _item(client, "3") is None
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": {"PK": {"S": "A"}, "SK": {"S": "2"}}}}]
    )
    assert _item(client, "2") is not None
