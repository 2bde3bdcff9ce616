"""JSON log lines carry the call's ids and never a phone number; EMF records are well formed."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable

from stream_server.observability import CALL_CONTEXT, MetricsSink, configure_logging, stop_logging


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
        stop_logging()  # writes what is queued
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


class _StuckPipe(io.StringIO):
    """stdout with a full pipe behind it: a write waits until the reader drains it."""

    def __init__(self, logging_thread: threading.Thread) -> None:
        super().__init__()
        self.drained = threading.Event()
        self.writing = threading.Event()
        self.blocked_the_logging_thread = False
        self._logging_thread = logging_thread

    def write(self, text: str) -> int:
        if threading.current_thread() is self._logging_thread:
            self.blocked_the_logging_thread = True  # would have waited here; noted instead of hanging
        else:
            self.writing.set()
            self.drained.wait(30.0)
        return super().write(text)


def _wait_for(condition: Callable[[], bool], deadline_s: float = 10.0) -> bool:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_logging_returns_while_the_pipe_behind_stdout_is_full() -> None:
    pipe = _StuckPipe(threading.current_thread())
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    log = logging.getLogger("stream_server.test")
    try:
        configure_logging("INFO", pipe)
        log.warning("first line")
        assert not pipe.blocked_the_logging_thread
        assert pipe.writing.wait(10.0)  # the writer thread is now stuck in write()
        token = CALL_CONTEXT.set({"call_id": "call-7", "call_sid": "CA7"})
        for n in range(100):
            log.warning("line %d", n)  # each returns at once: the loop thread never waits for the pipe
        CALL_CONTEXT.reset(token)
        assert not pipe.blocked_the_logging_thread and pipe.getvalue() == ""
        pipe.drained.set()
        assert _wait_for(lambda: pipe.getvalue().count("\n") == 101)
    finally:
        pipe.drained.set()
        stop_logging()
        root.handlers[:], root.level = saved
    lines = [json.loads(line) for line in pipe.getvalue().splitlines()]
    assert [line["message"] for line in lines[-2:]] == ["line 98", "line 99"]
    assert lines[-1]["call_id"] == "call-7"  # formatted where it was logged, in the call's context
    assert "call_id" not in lines[0]
