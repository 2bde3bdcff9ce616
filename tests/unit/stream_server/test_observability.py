"""JSON log lines carry the call's ids and never a phone number; EMF records are well formed."""

from __future__ import annotations

import io
import json
import logging

from stream_server.observability import CALL_CONTEXT, MetricsSink, configure_logging


def test_json_logs_have_call_ids_and_mask_phones() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", stream)
        token = CALL_CONTEXT.set({"call_id": "call-9", "call_sid": "CA9"})
        logging.getLogger("stream_server.test").info("calling %s now", "+14155550123")
        CALL_CONTEXT.reset(token)
    finally:
        root.handlers[:], root.level = saved
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["call_id"] == "call-9" and line["call_sid"] == "CA9"
    assert "4155550123" not in line["message"]
    assert line["level"] == "INFO"


def test_emf_record_shape() -> None:
    lines: list[str] = []
    sink = MetricsSink("Ns", write=lines.append, clock=lambda: 1700000000.5)
    sink.emit({"Latency_first_audio": (123.4, "Milliseconds"), "BargeIns": (1, "Count")}, call_id="c1")
    sink.emit({})
    assert len(lines) == 1
    record = json.loads(lines[0])
    meta = record["_aws"]
    assert meta["Timestamp"] == 1700000000500
    directive = meta["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Ns"
    assert directive["Dimensions"] == [["Service"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"Latency_first_audio", "BargeIns"}
    assert record["Latency_first_audio"] == 123.4 and record["Service"] == "stream-host"
    assert record["call_id"] == "c1"
