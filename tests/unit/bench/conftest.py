"""Fixtures shared by the tests of the benchmark's moto patches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from tests.conftest import table_definition


@contextmanager
def moto_table_client() -> Iterator[Any]:
    """A DynamoDB client on an in-process moto with the template's calls table created."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**table_definition())
        yield dynamodb
