"""What a handler's cold import must not load (docs/cold-start.md explains each).

Times are for the benchmark (bench/bench_handlers.py); this guards the structure that makes them,
deterministically: a fresh interpreter imports the handler as the Lambda runtime would, and we
look at ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("boto3", "botocore.client", "aws_xray_sdk.core", "requests", "twilio.rest", "httpx")
ENV = {
    "PATH": "/usr/bin:/bin",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Test",
}


def _loaded_after_import(name: str) -> list[str]:
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(ROOT / 'layers' / 'callcore')!r}, {str(ROOT / 'functions' / name)!r}]\n"
        f"import {name}\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120, check=True
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", ["twilio_answer", "twilio_status", "get_call", "personas"])
def test_webhooks_and_reads_load_no_sdk_before_the_first_request(name: str) -> None:
    # boto3/botocore come with the first DynamoDB call; X-Ray only when tracing; the Twilio REST
    # client (requests) only in the trigger, which places calls.
    assert _loaded_after_import(name) == []


def test_trigger_loads_twilio_rest_but_not_xray_when_tracing_is_off() -> None:
    loaded = _loaded_after_import("trigger_call")
    assert "aws_xray_sdk.core" not in loaded and "httpx" not in loaded
    assert "requests" in loaded  # it dials Twilio on every call; nothing to gain by deferring
