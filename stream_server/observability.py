"""Structured JSON logs and CloudWatch EMF metrics for the stream host.

Every log line carries the call id and CallSid of the call it belongs to (set once per call in a
context variable, inherited by every task the call starts), and phone numbers are masked by
callcore's filter before anything is written. Metrics are CloudWatch Embedded Metric Format
records, with no API call (and no latency) on the audio path. On ECS they go as UDP datagrams to
the CloudWatch agent sidecar (``EMF_AGENT_ENDPOINT``): CloudWatch extracts EMF by itself only
from Lambda logs, not from what the awslogs driver ships. Elsewhere they are lines on stdout.

Log lines are written by a thread, never by the event loop: the loop formats a record (the call's ids
live in its context) and queues the line. A write to stdout blocks while the pipe behind it is full
(the container's log driver shipping slowly, a harness reading slowly), and that wait must not stop
every call on the host.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import queue
import socket
import sys
import time
from collections.abc import Callable, Mapping
from logging.handlers import QueueHandler, QueueListener
from typing import Any, TextIO

from callcore.logging import PhoneMaskingFilter

__all__ = ["CALL_CONTEXT", "JsonFormatter", "MetricsSink", "configure_logging", "stop_logging", "udp_writer"]

CALL_CONTEXT: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "call_context", default=None
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the current call's ids."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "timestamp": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(CALL_CONTEXT.get() or {}),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


_writer: QueueListener | None = None


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger through one JSON handler with phone masking, written by a writer thread.

    The record is formatted and masked where it is logged (the call's ids are in that task's context);
    only the finished line crosses the queue. ``stop_logging`` (also run at exit) writes what is queued.
    """
    global _writer
    stop_logging()
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = QueueHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PhoneMaskingFilter())
    _writer = QueueListener(lines, logging.StreamHandler(stream or sys.stdout))  # writes record.msg
    _writer.start()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("websockets").setLevel(logging.WARNING)


def stop_logging() -> None:
    """Write every queued line, then stop the writer thread (idempotent)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


atexit.register(stop_logging)


class MetricsSink:
    """Writes CloudWatch EMF records; ``write`` is injectable so tests read what was emitted."""

    def __init__(
        self,
        namespace: str,
        *,
        service: str = "stream-host",
        write: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.time,
        log_group: str | None = None,
    ) -> None:
        self._namespace = namespace
        self._service = service
        self._write = write or (lambda line: sys.stdout.write(line + "\n"))
        self._log_group = log_group
        self._clock = clock

    def emit(self, metrics: Mapping[str, tuple[float, str]], **properties: str) -> None:
        """One EMF record: ``metrics`` maps name -> (value, unit); properties are searchable keys."""
        if not metrics:
            return
        record: dict[str, Any] = {
            "_aws": {
                **({"LogGroupName": self._log_group} if self._log_group else {}),
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["Service"]],
                        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                    }
                ],
            },
            "Service": self._service,
            **properties,
        }
        for name, (value, _) in metrics.items():
            record[name] = value
        self._write(json.dumps(record))


def udp_writer(endpoint: str) -> Callable[[str], object]:
    """A ``MetricsSink`` writer that sends each record to the CloudWatch agent at ``udp://host:port``.

    UDP keeps the audio path safe: a send never blocks or raises on a missing agent (the record is
    lost, which the agent's own health metrics show), unlike a TCP connection that can stall.
    """
    scheme, _, address = endpoint.partition("://")
    host, _, port = address.rpartition(":")
    if scheme != "udp" or not host or not port.isdigit():
        raise ValueError(f"EMF_AGENT_ENDPOINT must look like udp://127.0.0.1:25888, got {endpoint!r}")
    target = (host, int(port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)

    def write(line: str) -> None:
        try:
            sock.sendto(line.encode(), target)
        except OSError as exc:  # full buffer or no route: drop the record, never the call
            logging.getLogger(__name__).debug("EMF record dropped: %s", exc)

    return write
