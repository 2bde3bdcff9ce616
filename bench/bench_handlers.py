"""Control-plane benchmark: how fast the Lambda handlers start and answer.

Three figures, each in fresh interpreters where a cold start is meant:

* Cold import, every handler: a fresh ``python`` imports ``functions/<name>/<name>.py`` the way
  the Lambda runtime does during init (module-level settings, clients, Powertools). Tracing off,
  outside Lambda (as in tests and the local stack). Median and min of N samples.
* Cold start of the answer webhook (init + first invocation): a fresh ``python`` imports
  ``twilio_answer`` and then handles one signed Twilio request against DynamoDB served by a moto
  server on 127.0.0.1, so anything the import deferred is paid here. Two environments: tracing
  off, and Lambda-like (``LAMBDA_TASK_ROOT`` set, X-Ray tracing on, segments sent over UDP to
  127.0.0.1:2000 where nothing listens, Twilio credentials read from Secrets Manager on the same
  moto server), which is what a deployed function with ``Tracing: Active`` does.
* Warm answer latency: one process invokes ``twilio_answer.lambda_handler`` many times; once with
  moto's in-process DynamoDB (moto's own overhead dominates) and once with the repository's three
  calls answered from memory, which isolates our code (signature, routing, token, TwiML, logs,
  metrics).

``--root`` points the cold figures at another checkout, and ``--baseline DIR`` measures a second
one alongside with the samples interleaved (e.g. an older commit unpacked with ``git archive``),
so a before/after comparison sees the same machine load on both sides. Local
figures are relative, not Lambda numbers (Lambda arm64 CPUs differ).

Run: ``.venv/bin/python bench/bench_handlers.py [--quick] [--skip-warm] [--root DIR] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("twilio_answer", "twilio_status", "trigger_call", "get_call", "personas")
# Made up per run and strong enough that the handlers serve a public URL with them: placeholder
# secrets make the webhooks answer 503 "not_configured" (``TwilioCredentials.weakness``).
AUTH_TOKEN = secrets.token_hex(16)
STREAM_TOKEN_SECRET = secrets.token_hex(32)
PUBLIC_API_URL = "https://calls.example.com/v1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "STREAM_TOKEN_SECRET": STREAM_TOKEN_SECRET,
    "PUBLIC_API_URL": PUBLIC_API_URL,
    "STREAM_PUBLIC_URL": "wss://stream.example.com/media",
}
# What the Lambda runtime sets that changes the handlers' behaviour: Powertools and the X-Ray SDK
# both decide "in Lambda, trace" from LAMBDA_TASK_ROOT, and take the trace id from the header.
LAMBDA_LIKE = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "_X_AMZN_TRACE_ID": "Root=1-65a0b6c1-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}
CALL_SID = "CA" + "1" * 32

# Runs in the fresh interpreter: time the import, then (optionally) one invocation.
_CHILD = """
import json, sys, time
sys.path[:0] = {paths!r}
t0, c0 = time.perf_counter(), time.process_time()
import {name}
t1, c1 = time.perf_counter(), time.process_time()
invoke_ms = invoke_cpu_ms = None
if {event_file!r}:
    class Context:
        function_name = "bench"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        aws_request_id = "00000000-0000-0000-0000-000000000000"
        def get_remaining_time_in_millis(self):
            return 10000
    with open({event_file!r}) as fh:
        event = json.load(fh)
    response = {name}.lambda_handler(event, Context())
    invoke_ms = (time.perf_counter() - t1) * 1000
    invoke_cpu_ms = (time.process_time() - c1) * 1000
    assert response["statusCode"] == 200 and "<Stream" in response["body"], response
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "import_cpu_ms": (c1 - c0) * 1000,
                  "invoke_ms": invoke_ms, "invoke_cpu_ms": invoke_cpu_ms}}))
"""


def _child_code(root: Path, name: str, event_file: str | None) -> str:
    paths = [str(root / "layers" / "callcore"), str(root / "functions" / name)]
    return _CHILD.format(paths=paths, name=name, event_file=event_file or "")


def fresh_runs(
    roots: list[Path], name: str, samples: int, *, env: dict[str, str], event_file: str | None = None
) -> list[list[dict[str, float | None]]]:
    """``samples`` fresh interpreters per root, each importing ``name`` (and invoking it once with
    the event). With several roots the samples alternate between them, so a machine whose load
    drifts (other jobs on 2 cores) skews every root alike."""
    codes = [_child_code(root, name, event_file) for root in roots]
    full_env = {**os.environ, **env}
    full_env.pop("PYTHONPATH", None)  # only the paths the child puts first, like a Lambda task
    for code in codes:
        # One untimed run compiles .pyc files so every sample measures imports, not compilation.
        subprocess.run([sys.executable, "-c", code], env=full_env, check=True, capture_output=True)
    runs: list[list[dict[str, float | None]]] = [[] for _ in roots]
    for _ in range(samples):
        for code, out in zip(codes, runs, strict=True):
            done = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed in a fresh interpreter:\n{done.stderr[-3000:]}")
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def _signed_answer_event() -> dict[str, Any]:
    from twilio.request_validator import RequestValidator

    sys.path[:0] = [str(ROOT)]
    from local.proxy_events import api_event

    form = {"CallSid": CALL_SID, "AccountSid": "AC" + "2" * 32, "CallStatus": "in-progress", "CallerCity": ""}
    event = api_event("POST", "/twilio/answer/{call_id}", path_params={"call_id": "c1"}, body=urlencode(form))
    event["headers"]["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
        f"{PUBLIC_API_URL}/twilio/answer/c1", form
    )
    return event


def _seed(table: Any) -> tuple[Any, Any]:
    """The persona and the ringing call the answer webhook will look up (read-only afterwards)."""
    from callcore.models import CallRecord, CallStatus, Persona
    from callcore.repository import CallRepository

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
        call_sid=CALL_SID,  # already linked, so every sample only reads
    )
    repo = CallRepository(table)
    repo.put_persona(persona)
    repo.create_call(record)
    return record, persona


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, str]]:
    """A moto server on 127.0.0.1 with the template's table (seeded) and the Twilio secret, as a
    deployed function reads them; yields the endpoint URL and the secret's ARN."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    sys.path[:0] = [str(ROOT / "layers" / "callcore"), str(ROOT)]

    from local.template import load_template, table_definitions

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        fake: dict[str, Any] = {
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        resource = boto3.resource("dynamodb", endpoint_url=endpoint, **fake)
        definition = table_definitions(load_template(ROOT / "template.yaml"))[0]
        _seed(resource.create_table(TableName="ai-phone-calls", **definition.create_args))
        secret = {
            "account_sid": "AC" + "3" * 32,
            "auth_token": AUTH_TOKEN,
            "stream_token_secret": STREAM_TOKEN_SECRET,
        }
        arn = boto3.client("secretsmanager", endpoint_url=endpoint, **fake).create_secret(
            Name="bench/twilio", SecretString=json.dumps(secret)
        )["ARN"]
        yield endpoint, arn
    finally:
        server.stop()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def warm_answer_ms(iterations: int, root: Path = ROOT) -> dict[str, list[float]]:
    """Warm latency of ``root``'s answer webhook; run in a process of its own (see ``warm_figures``)
    because callcore must come from ``root`` too."""
    os.environ.update(FAKE_AWS)
    sys.path[:0] = [str(root / "layers" / "callcore"), str(ROOT), str(root / "functions" / "twilio_answer")]
    import boto3
    from moto import mock_aws

    from local.api_gateway import LambdaContext
    from local.template import load_template, table_definitions

    event = _signed_answer_event()
    results: dict[str, list[float]] = {}
    with mock_aws():
        definition = table_definitions(load_template(ROOT / "template.yaml"))[0]
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="ai-phone-calls", **definition.create_args
        )
        record, persona = _seed(table)
        twilio_answer: Any = importlib.import_module("twilio_answer")
        context = LambdaContext("bench-answer", timeout_seconds=10)

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

        twilio_answer.repo = MemoryRepository()
        run("answer webhook, in-memory repository")
    return results


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms   min {min(values):7.1f} ms"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 cold samples, 200 warm invocations")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose handlers the cold runs load")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout measured alongside, samples interleaved (before/after)",
    )
    parser.add_argument("--skip-warm", action="store_true", help="cold figures only")
    parser.add_argument("--warm-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, default=2000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_child:
        print(json.dumps(warm_answer_ms(args.iterations, args.warm_child.resolve())))
        return {}
    samples, iterations = (3, 200) if args.quick else (10, 2000)
    roots = [args.root.resolve()] + ([args.baseline.resolve()] if args.baseline else [])
    labels = ["", "  (baseline)"] if args.baseline else [""]
    figures: dict[str, Any] = {}
    for root, tag in zip(roots, labels, strict=True):
        print(f"handlers from {root}{tag}")
    print(f"cold import of handler modules (fresh interpreter, tracing off, {samples} samples):")
    for name in HANDLERS:
        for runs, tag in zip(fresh_runs(roots, name, samples, env=FAKE_AWS), labels, strict=True):
            values = [float(r["import_ms"] or 0) for r in runs]
            cpu = [float(r["import_cpu_ms"] or 0) for r in runs]
            figures[f"import_ms.{name}{tag.strip()}"] = statistics.median(values)
            print(f"  {name:<14} {_summary(values)}   cpu {statistics.median(cpu):6.1f} ms{tag}")

    print(f"cold start of twilio_answer: import + first invocation, moto server ({samples} samples):")
    with tempfile.TemporaryDirectory() as tmp, moto_server() as (endpoint, secret_arn):
        event_file = str(Path(tmp) / "event.json")
        Path(event_file).write_text(json.dumps(_signed_answer_event()), encoding="utf-8")
        # Deployed functions read the Twilio credentials from Secrets Manager on the first request.
        lambda_like = {
            **LAMBDA_LIKE,
            "TWILIO_SECRET_ARN": secret_arn,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        }
        for label, extra in (("tracing off", {}), ("Lambda-like, X-Ray on", lambda_like)):
            env = {**FAKE_AWS, "DYNAMODB_ENDPOINT": endpoint, **extra}
            if extra:
                env.pop("POWERTOOLS_TRACE_DISABLED")
            all_runs = fresh_runs(roots, "twilio_answer", samples, env=env, event_file=event_file)
            for runs, tag in zip(all_runs, labels, strict=True):
                imports = [float(r["import_ms"] or 0) for r in runs]
                totals = [float(r["import_ms"] or 0) + float(r["invoke_ms"] or 0) for r in runs]
                cpu = [float(r["import_cpu_ms"] or 0) for r in runs]
                cpu_totals = [float(r["import_cpu_ms"] or 0) + float(r["invoke_cpu_ms"] or 0) for r in runs]
                figures[f"cold_start_ms.{label}{tag.strip()}"] = {
                    "import": statistics.median(imports),
                    "import+first": statistics.median(totals),
                }
                print(
                    f"  {label:<22} import  {_summary(imports)}   cpu {statistics.median(cpu):6.1f} ms{tag}"
                )
                print(
                    f"  {'':<22} +first  {_summary(totals)}   "
                    f"cpu {statistics.median(cpu_totals):6.1f} ms{tag}"
                )

    if not args.skip_warm:
        print(f"warm handler latency ({iterations} invocations, one process per checkout):")
        for root, tag in zip(roots, labels, strict=True):
            for label, values in warm_figures(root, iterations).items():
                p50, p99 = statistics.median(values), _percentile(values, 99)
                figures[f"warm_ms.{label}{tag.strip()}"] = {"p50": p50, "p99": p99}
                print(f"  {label:<38} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms{tag}")
    return figures


def warm_figures(root: Path, iterations: int) -> dict[str, list[float]]:
    cmd = [sys.executable, __file__, "--warm-child", str(root), "--iterations", str(iterations)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"warm run for {root} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main(sys.argv[1:])
