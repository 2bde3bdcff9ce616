"""Local storage: moto server mode with the table template.yaml defines, personas seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.storage import LocalStorage

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def storage(aws_env: None) -> Iterator[LocalStorage]:
    local = LocalStorage(ROOT / "template.yaml", "calls-test", ROOT / "examples" / "personas")
    local.start()
    yield local
    local.stop()


def test_table_matches_the_template_and_personas_are_seeded(storage: LocalStorage) -> None:
    client = boto3.client("dynamodb", endpoint_url=storage.endpoint, region_name="us-east-1")
    table = client.describe_table(TableName="calls-test")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"PK": "HASH", "SK": "RANGE"}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [
        "GSI1",
        "GSI2",
    ]  # GSI2: live calls, for the reconciler
    ttl = client.describe_time_to_live(TableName="calls-test")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"
    personas = client.scan(TableName="calls-test")["Items"]
    ids = {item["PK"]["S"] for item in personas}
    expected = {f"PERSONA#{p.stem}" for p in (ROOT / "examples" / "personas").glob("*.json")}
    assert expected and expected <= ids
