"""Every alarm, scaling policy and dashboard widget of template.yaml reads a metric the code emits.

A metric no code writes never fires an alarm; a dimension nobody writes makes a widget empty. The
referenced side is parsed from template.yaml (alarms and scaling policies in ``MetricsNamespace``,
and the dashboard body with CloudWatch's ``"."`` / ``"..."`` shorthand expanded). The emitted side
is read from the code: each Lambda's ``Metrics(service=...)`` and ``add_metric(name=...)`` (the
``service`` dimension is checked against what Powertools really serialises), and the stream
host's EMF names (``MetricsSink`` records checked for their ``Service`` dimension) and its
``PutMetricData`` (``ActiveCallsPublisher``, called for real).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Metrics

from stream_server.host.active_calls import ActiveCallsPublisher
from stream_server.observability import MetricsSink
from stream_server.speech.pipeline import ReplyStats
from tests.conftest import load_template

ROOT = Path(__file__).resolve().parents[3]
OURS = "OUR_NAMESPACE"
Metric = tuple[str, frozenset[tuple[str, str]]]  # (name, dimensions)


def _template_references() -> dict[str, Metric]:
    """What each alarm / policy / widget line reads from our namespace, by a readable label."""
    found: dict[str, Metric] = {}
    for logical_id, resource in load_template()["Resources"].items():
        props = resource.get("Properties") or {}
        spec = None
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            spec = props
        elif resource["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy":
            spec = (props.get("TargetTrackingScalingPolicyConfiguration") or {}).get(
                "CustomizedMetricSpecification"
            )
        if spec and spec.get("Namespace") == {"Ref": "MetricsNamespace"}:
            dims = frozenset((d["Name"], d["Value"]) for d in spec.get("Dimensions", []))
            found[logical_id] = (spec["MetricName"], dims)
    dashboards = [
        r for r in load_template()["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert dashboards, "the template has no dashboard"
    body = dashboards[0]["Properties"]["DashboardBody"]
    text = body["Sub"] if isinstance(body, dict) else body
    text = re.sub(r"\$\{MetricsNamespace\}", OURS, text)
    text = re.sub(r"\$\{[^}]+\}", "x", text)
    for widget in json.loads(text)["widgets"]:
        previous: list[Any] = []
        for line in widget["properties"].get("metrics", []):
            fields = [f for f in line if not isinstance(f, dict)]
            if fields == ["..."]:
                fields = previous
            else:
                fields = [previous[i] if f == "." else f for i, f in enumerate(fields)]
            previous = fields
            if fields[0] == OURS:
                dims = frozenset(zip(fields[2::2], fields[3::2], strict=True))
                found[f"widget {widget['properties']['title']!r}: {fields[1]}"] = (fields[1], dims)
    return found


def _lambda_metrics() -> set[Metric]:
    """(name, {service}) for every ``add_metric`` in each function, with its ``Metrics(service=)``."""
    emitted: set[Metric] = set()
    for source in sorted((ROOT / "functions").glob("*/*.py")):
        code = source.read_text()
        service = re.search(r'Metrics\(service="([^"]+)"\)', code)
        if service is None:
            continue
        names = set(re.findall(r'add_metric\(\s*name="([^"]+)"', code))
        for a, b in re.findall(r'name="([A-Za-z_]+)" if [^\n]+? else "([A-Za-z_]+)"', code):
            names |= {a, b}
        if "signed_twilio_webhook(" in code:
            names.add("WebhookSignatureRejected")  # counted by the shared preamble (callcore.api)
        emitted |= {(name, frozenset({("service", service.group(1))})) for name in names}
    return emitted


def _stream_host_metrics() -> set[Metric]:
    """EMF names written by the stream host (literal and ``Latency_<stage>``) and PutMetricData."""
    sink_lines: list[str] = []
    MetricsSink("ns", write=sink_lines.append).emit({"Probe": (1, "Count")})
    record = json.loads(sink_lines[0])
    (dimension_set,) = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    dims = frozenset((name, record[name]) for name in dimension_set)
    names: set[str] = set()
    for source in (ROOT / "stream_server").rglob("*.py"):
        code = source.read_text()
        names |= set(re.findall(r'RecordMetric\(\s*"([A-Za-z_]+)"', code))
        names |= set(re.findall(r'\.emit\(\s*\{\s*"([A-Za-z_]+)"', code))
    transcript = (ROOT / "stream_server/conversation/transcript.py").read_text()
    caller_stages = re.search(r"for stage in \(([^)]*)\)", transcript)
    assert caller_stages is not None
    stages = set(re.findall(r'"([a-z_]+)"', caller_stages.group(1)))
    stages |= set(ReplyStats(0.0, 0.1, 0.2, 0.3).latency_ms())  # the reply's own stages
    names |= {f"Latency_{stage}" for stage in stages}
    emitted = {(name, dims) for name in names}

    class Capture:
        calls: list[dict[str, Any]] = []

        def put_metric_data(self, **kwargs: Any) -> None:
            self.calls.append(kwargs)

    capture = Capture()
    asyncio.run(ActiveCallsPublisher(capture, namespace="ns", count=lambda: 1).publish_once())
    for datum in capture.calls[0]["MetricData"]:
        emitted.add((datum["MetricName"], frozenset((d["Name"], d["Value"]) for d in datum["Dimensions"])))
    return emitted


def test_powertools_writes_the_service_dimension_this_test_assumes() -> None:
    metrics = Metrics(namespace="ns", service="trigger_call")
    # Powertools keeps dimensions in a set shared by every Metrics instance of the process: a handler
    # run in-process earlier (the e2e stack) may have left its own service there.
    metrics.clear_metrics()
    metrics.add_metric(name="CallsPlaced", unit="Count", value=1)
    blob = metrics.serialize_metric_set()
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert blob["service"] == "trigger_call"
    metrics.clear_metrics()


def test_every_alarm_policy_and_widget_reads_an_emitted_metric() -> None:
    emitted = _lambda_metrics() | _stream_host_metrics()
    referenced = _template_references()
    assert len(referenced) >= 6  # the parser found the alarms, the policy and the widget lines
    missing = {label: metric for label, metric in referenced.items() if metric not in emitted}
    assert not missing, f"read by the template but written by no code: {missing}"


def test_active_calls_reaches_cloudwatch_one_way_only() -> None:
    """PutMetricData for the autoscaler, and no EMF copy that would double its samples."""
    emf_names = set()
    for source in (ROOT / "stream_server").rglob("*.py"):
        emf_names |= set(re.findall(r'\.emit\(\s*\{\s*"([A-Za-z_]+)"', source.read_text()))
    assert "ActiveCalls" not in emf_names
    assert ("ActiveCalls", frozenset({("Service", "stream-host")})) in _stream_host_metrics()
