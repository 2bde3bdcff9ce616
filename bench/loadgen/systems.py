"""The two systems under test as processes: how to start each, when it is ready, what a call carries.

Each is started with `taskset -c <core>` so both get exactly one core; the load generator and the
fakes stay on the other.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["OurStreamHost", "PipecatBot", "SystemUnderTest", "wait_ready"]

ROOT = Path(__file__).resolve().parents[2]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
PRODUCT_PYTHON = ROOT / ".venv" / "bin" / "python"
AUTH_TOKEN = "bench-twilio-auth-token"


def wait_ready(url: str, *, timeout: float = 60.0) -> float:
    """Poll `url` until it answers 200; returns when (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s")


class SystemUnderTest(Protocol):
    name: str
    port: int
    process: subprocess.Popen[bytes] | None
    cold_start_s: float

    def start(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def stream_url(self) -> str: ...
    def parameters_for(self, call_sid: str) -> Mapping[str, str]: ...


@dataclass
class _Process:
    name: str
    port: int
    core: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    cold_start_s: float = float("nan")
    launcher: tuple[str, ...] = ()  # e.g. ("chrt", "-f", "1"): run under a real-time policy

    def _spawn(self, argv: list[str], env: Mapping[str, str], ready_url: str, *, cwd: Path = ROOT) -> None:
        log = self.log_path.open("wb")
        started = time.monotonic()
        self.process = subprocess.Popen(
            ["taskset", "-c", str(self.core), *self.launcher, *argv],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.cold_start_s = wait_ready(ready_url) - started
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready; see {self.log_path}") from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class PipecatBot(_Process):
    """bench/pipecat_bot in .venv-bench; stream URL ws://127.0.0.1:<port>/media, no parameters."""

    provider_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        env = {"PORT": str(self.port), "BOT_LOG_LEVEL": "ERROR", **self.provider_env}
        self._spawn(
            [str(BENCH_PYTHON), "-m", "bench.pipecat_bot"], env, f"http://127.0.0.1:{self.port}/healthz"
        )

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/media"

    def parameters_for(self, call_sid: str) -> Mapping[str, str]:
        return {}


@dataclass
class OurStreamHost(_Process):
    """`python -m stream_server` from .venv, with a call record and a fresh stream token per call.

    `table` is a boto3 Table on the moto server the host also uses (DYNAMODB_ENDPOINT in provider_env).
    `source`: another source tree to run instead of this one (e.g. `git archive main | tar -x -C DIR`,
    the baseline of bench/profile_host.py); the interpreter and its packages stay this checkout's unless
    `python` names another (e.g. a Python 3.13 virtualenv with stream_server/requirements.txt, the image's
    interpreter).
    """

    provider_env: dict[str, str] = field(default_factory=dict)
    table: object = None
    persona_id: str = "bench"
    token_secret: str = "bench-stream-token-secret"
    source: Path = ROOT
    python: Path = PRODUCT_PYTHON

    def start(self) -> None:
        env = {
            "PORT": str(self.port),
            "STREAM_PUBLIC_URL": self.stream_url,
            "STREAM_TOKEN_SECRET": self.token_secret,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "STT_PROVIDER": "elevenlabs",
            "LLM_PROVIDER": "cerebras",
            "TTS_PROVIDER": "elevenlabs",
            "LOG_LEVEL": "WARNING",
            "MAX_CALLS": "1000",
            **self.provider_env,
        }
        if self.source != ROOT or self.python != PRODUCT_PYTHON:
            paths = [str(self.source), str(self.source / "layers" / "callcore")]
            env["PYTHONPATH"] = ":".join(filter(None, [env.get("PYTHONPATH", ""), *paths]))
        self._spawn(
            [str(self.python), "-m", "stream_server"],
            env,
            f"http://127.0.0.1:{self.port}/healthz",
            cwd=self.source,
        )

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/media"

    def parameters_for(self, call_sid: str) -> Mapping[str, str]:
        from bench.loadgen.records import register_call

        return register_call(self.table, self.token_secret, call_sid=call_sid, persona_id=self.persona_id)
