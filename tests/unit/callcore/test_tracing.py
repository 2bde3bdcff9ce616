"""callcore.tracing: the same on/off rule as Powertools, and X-Ray only where it traces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Tracer
from callcore.tracing import IdleTracingProvider, build_tracer, tracing_active

ROOT = Path(__file__).resolve().parents[3]

ENVS = [
    {},
    {"LAMBDA_TASK_ROOT": "/var/task"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"},
    {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "off"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
    {"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"},
    {"POWERTOOLS_TRACE_DISABLED": "false"},
]


@pytest.mark.parametrize("env", ENVS, ids=[json.dumps(e, sort_keys=True) for e in ENVS])
def test_rule_matches_powertools(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing_active(env) is not bool(Tracer._is_tracer_disabled())


def test_invalid_switch_is_refused_like_powertools() -> None:
    with pytest.raises(ValueError):
        tracing_active({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "maybe"})


def test_idle_tracer_still_runs_the_decorated_code() -> None:
    tracer = build_tracer("svc", env={})
    assert isinstance(tracer.provider, IdleTracingProvider) and tracer.disabled

    @tracer.capture_method(capture_response=False)
    def double(x: int) -> int:
        return 2 * x

    @tracer.capture_lambda_handler
    def handler(event: dict[str, int], context: object) -> int:
        tracer.put_annotation("k", "v")
        tracer.put_metadata("m", {"a": 1})
        return double(event["x"])

    assert handler({"x": 21}, None) == 42
    with pytest.raises(ZeroDivisionError):
        tracer.capture_method(lambda: 1 // 0)()


def _in_fresh_interpreter(code: str, env: dict[str, str]) -> object:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


PROBE = f"""
import json, sys
sys.path[:0] = [{str(ROOT / "layers" / "callcore")!r}]
from callcore.tracing import build_tracer
tracer = build_tracer("svc")
patched = []
if "aws_xray_sdk.core" in sys.modules:
    from aws_xray_sdk.core import patcher
    patched = sorted(patcher._PATCHED_MODULES)
print(json.dumps({{"xray": "aws_xray_sdk.core" in sys.modules, "httpx": "httpx" in sys.modules,
                  "disabled": tracer.disabled, "patched": patched}}))
"""


def test_tracing_off_never_loads_the_xray_sdk() -> None:
    assert _in_fresh_interpreter(PROBE, {"POWERTOOLS_TRACE_DISABLED": "true"}) == {
        "xray": False,
        "httpx": False,
        "disabled": True,
        "patched": [],
    }


def test_tracing_in_lambda_uses_xray_and_patches_only_botocore() -> None:
    env = {"LAMBDA_TASK_ROOT": "/tmp", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    assert _in_fresh_interpreter(PROBE, env) == {
        "xray": True,
        "httpx": False,
        "disabled": False,
        "patched": ["botocore"],
    }
