"""EMF records reach the CloudWatch agent sidecar over UDP, and a missing agent never hurts a call."""

from __future__ import annotations

import json
import socket

import pytest

from stream_server.observability import MetricsSink, udp_writer


def test_records_arrive_as_datagrams_with_the_log_group() -> None:
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(5)
    port = agent.getsockname()[1]
    sink = MetricsSink(
        "AiPhoneCalls", write=udp_writer(f"udp://127.0.0.1:{port}"), log_group="/ecs/stack/metrics"
    )
    sink.emit({"TurnLatencyMs": (812.0, "Milliseconds")}, call_id="c1")
    record = json.loads(agent.recv(65536))
    agent.close()
    assert record["TurnLatencyMs"] == 812.0
    assert record["call_id"] == "c1"
    assert record["_aws"]["LogGroupName"] == "/ecs/stack/metrics"
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AiPhoneCalls"


def test_no_agent_listening_is_survived() -> None:
    spare = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nobody listens there now
    write = udp_writer(f"udp://127.0.0.1:{port}")
    for _ in range(3):
        write('{"x": 1}')


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:25888", "127.0.0.1:25888", "udp://host-without-port"])
def test_bad_endpoint_is_refused_at_start_up(endpoint: str) -> None:
    with pytest.raises(ValueError, match="EMF_AGENT_ENDPOINT"):
        udp_writer(endpoint)
