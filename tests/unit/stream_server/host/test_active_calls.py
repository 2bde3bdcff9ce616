"""The ActiveCalls metric, published to moto's CloudWatch through the real boto3 client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stream_server.host.active_calls import ActiveCallsPublisher


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def _values(cloudwatch: Any) -> list[float]:
    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace="AiPhoneCalls",
        MetricName="ActiveCalls",
        Dimensions=[{"Name": "Service", "Value": "stream-host"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )
    return [p["Maximum"] for p in stats["Datapoints"]]


async def _until(condition: Callable[[], bool], limit_s: float = 20.0) -> None:
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110 - polling what moto's CloudWatch holds
            await asyncio.sleep(0.05)


async def test_publishes_count_on_change_and_on_stop(cloudwatch: Any) -> None:
    calls = {"n": 0}
    publisher = ActiveCallsPublisher(
        cloudwatch, namespace="AiPhoneCalls", count=lambda: calls["n"], interval=60
    )
    publisher.start()
    await _until(lambda: bool(_values(cloudwatch)))  # the first value (0) is out
    calls["n"] = 3
    publisher.notify_changed()
    # Seen long before the 60 s interval: the change made it publish. (Fixed sleeps here raced the
    # publisher's thread on a busy machine: the count went back to 0 before it was read.)
    await _until(lambda: 3 in _values(cloudwatch))
    calls["n"] = 0
    await publisher.stop()
    metrics = cloudwatch.list_metrics(Namespace="AiPhoneCalls")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["ActiveCalls"]
    assert max(_values(cloudwatch)) == 3


async def test_no_client_publishes_nothing() -> None:
    publisher = ActiveCallsPublisher(None, namespace="AiPhoneCalls", count=lambda: 1)
    publisher.start()
    await publisher.stop()  # must not raise


async def test_cloudwatch_fault_is_survived() -> None:
    class Broken:
        def put_metric_data(self, **_: Any) -> None:
            raise RuntimeError("throttled")

    publisher = ActiveCallsPublisher(Broken(), namespace="AiPhoneCalls", count=lambda: 1)
    await publisher.publish_once()


async def test_the_same_count_reports_the_tasks_free_slots_even_without_cloudwatch() -> None:
    """Locally there is no CloudWatch, but the answer webhook still needs the fleet's free slots."""
    reports: list[int] = []
    calls = {"n": 2}
    publisher = ActiveCallsPublisher(
        None, namespace="AiPhoneCalls", count=lambda: calls["n"], interval=60, report_slots=reports.append
    )
    publisher.start()
    await _until(lambda: reports == [2])
    calls["n"] = 5
    publisher.notify_changed()
    await _until(lambda: reports[-1:] == [5])
    calls["n"] = 0
    await publisher.stop()
    assert reports[-1] == 0  # the last report on the way out


async def test_a_failing_slots_report_still_publishes_the_metric(cloudwatch: Any) -> None:
    def broken(_: int) -> None:
        raise RuntimeError("table throttled")

    publisher = ActiveCallsPublisher(
        cloudwatch, namespace="AiPhoneCalls", count=lambda: 4, report_slots=broken
    )
    await publisher.publish_once()
    await _until(lambda: 4 in _values(cloudwatch))
