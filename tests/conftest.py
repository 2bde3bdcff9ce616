"""Shared fixtures: a moto DynamoDB table built from template.yaml's own definition, a Lambda
context and an API Gateway REST (v1) proxy event builder. Small and generic on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local import template

ROOT = Path(__file__).resolve().parent.parent


def load_template() -> dict[str, Any]:
    """template.yaml with each intrinsic function read as its bare argument (see local.template)."""
    return template.load_template(intrinsics=False)


def table_definition(name: str = "ai-phone-calls") -> dict[str, Any]:
    """CreateTable arguments taken from the template, so tests use the deployed key design."""
    props = load_template()["Resources"]["CallsTable"]["Properties"]
    return {
        "TableName": name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
    }


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, and no real endpoints, before any boto3 client exists."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AiPhoneCallsTest",
        "POWERTOOLS_SERVICE_NAME": "test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@pytest.fixture
def ddb_table(aws_env: None) -> Iterator[Any]:
    """An empty table (moto, in-process) with the template's keys, GSI and TTL."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        table = resource.create_table(**table_definition())
        resource.meta.client.update_time_to_live(
            TableName="ai-phone-calls",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        yield table


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
