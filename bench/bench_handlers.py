"""Control-plane benchmark: cold import time of each Lambda handler module and warm latency of
the Twilio answer webhook.

* Cold import: a fresh ``python`` per sample imports ``functions/<name>/<name>.py`` the way the
  Lambda runtime does (module-level settings, boto3 resource, Powertools); median of N samples.
* Warm answer latency: one process invokes ``twilio_answer.lambda_handler`` with a signed event
  many times; reported twice: against moto's in-process DynamoDB (moto's own overhead dominates),
  and with the repository's three DynamoDB calls answered from memory, which isolates our code
  (signature check, routing, token, TwiML, logging, metrics).

Local figures on this machine are relative, not Lambda numbers (Lambda arm64 CPUs differ).
Run: ``.venv/bin/python bench/bench_handlers.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("twilio_answer", "twilio_status", "trigger_call", "get_call", "personas")
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def cold_import_ms(name: str, samples: int) -> list[float]:
    code = (
        "import sys, time; sys.path[:0] = [{layer!r}, {fn!r}]; t = time.perf_counter(); "
        "import {name}; print((time.perf_counter() - t) * 1000)"
    ).format(layer=str(ROOT / "layers" / "callcore"), fn=str(ROOT / "functions" / name), name=name)
    env = {**os.environ, **FAKE_AWS, "PYTHONDONTWRITEBYTECODE": "0"}
    # One untimed run compiles .pyc files so every sample measures imports, not compilation.
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    out = []
    for _ in range(samples):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def warm_answer_ms(iterations: int) -> dict[str, list[float]]:
    os.environ.update(FAKE_AWS)
    os.environ.update(
        {
            "TWILIO_AUTH_TOKEN": "bench-token",
            "PUBLIC_API_URL": "https://calls.example.com/v1",
            "STREAM_PUBLIC_URL": "wss://stream.example.com/media",
        }
    )
    sys.path[:0] = [str(ROOT / "layers" / "callcore"), str(ROOT), str(ROOT / "functions" / "twilio_answer")]
    from urllib.parse import urlencode

    import boto3
    from callcore.models import CallRecord, CallStatus, Persona
    from callcore.repository import CallRepository
    from moto import mock_aws
    from twilio.request_validator import RequestValidator

    from tests.conftest import LambdaContext, api_event, table_definition

    form = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "2" * 32,
        "CallStatus": "in-progress",
        "CallerCity": "",
    }
    event = api_event("POST", "/twilio/answer/{call_id}", path_params={"call_id": "c1"}, body=urlencode(form))
    event["headers"]["X-Twilio-Signature"] = RequestValidator("bench-token").compute_signature(
        "https://calls.example.com/v1/twilio/answer/c1", form
    )
    persona = Persona(persona_id="p", name="P", voice_id="v", prompt="x", greeting="hi")
    record = CallRecord(
        call_id="c1",
        user_id="u",
        to_number="+14155550123",
        from_number="+15005550006",
        persona_id="p",
        status=CallStatus.RINGING,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
        call_sid=form["CallSid"],
    )
    results: dict[str, list[float]] = {}
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(**table_definition())
        repo = CallRepository(table)
        repo.put_persona(persona)
        repo.create_call(record)
        import twilio_answer

        context = LambdaContext()

        def run(label: str) -> None:
            times = []
            # The EMF metric line is still written (it is part of the real cost), just not shown.
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                for _ in range(20):  # warm-up
                    twilio_answer.lambda_handler(event, context)
                for _ in range(iterations):
                    t = time.perf_counter()
                    response = twilio_answer.lambda_handler(event, context)
                    times.append((time.perf_counter() - t) * 1000)
                    assert response["statusCode"] == 200 and "<Stream" in response["body"], response
            results[label] = times

        run("answer webhook, moto DynamoDB")

        class MemoryRepository:
            def get_call(self, call_id: str) -> Any:
                return record

            def get_persona(self, persona_id: str) -> Any:
                return persona

            def link_call_sid(self, call_id: str, call_sid: str) -> None:
                return None

        twilio_answer.repo = MemoryRepository()  # type: ignore[assignment]
        run("answer webhook, in-memory repository")
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    samples, iterations = (3, 200) if args.quick else (10, 2000)
    figures: dict[str, Any] = {}
    print(f"cold import of handler modules (fresh interpreter, median of {samples}):")
    for name in HANDLERS:
        values = cold_import_ms(name, samples)
        figures[f"import_ms.{name}"] = statistics.median(values)
        print(f"  {name:<14} median {statistics.median(values):7.1f} ms   min {min(values):7.1f} ms")
    print(f"warm handler latency ({iterations} invocations):")
    for label, values in warm_answer_ms(iterations).items():
        p50, p99 = statistics.median(values), _percentile(values, 99)
        figures[f"warm_ms.{label}"] = {"p50": p50, "p99": p99}
        print(f"  {label:<38} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
