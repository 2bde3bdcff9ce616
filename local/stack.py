"""The local stack: storage, HTTP API, Twilio emulator and stream host, wired by environment.

`LocalStack` starts the parts in dependency order and stops them in reverse:
1. storage - moto server mode with template.yaml's table and the example personas (skipped when
   DYNAMODB_ENDPOINT points elsewhere; the table is still created there);
2. the Twilio emulator - the REST endpoint behind TWILIO_API_BASE_URL, started only when that
   variable is unset (an explicit value points the stack at another Twilio: a test suite's
   emulator, or the real API with a tunnel);
3. the HTTP API - template.yaml's routes on API_PORT, real handlers in this process;
4. the stream host - `python -m stream_server` as a subprocess (as in production: its own process),
   its output prefixed `[stream]` in the combined log;
5. scheduled functions - the template's `ScheduleV2` events (the campaign scheduler) as loops
   (`local.schedules`); SQS and table-stream events run in `local.event_sources`.
Every part reads the same environment (`stack_environment`), built from the documented variables
(the README's Configuration table) with defaults that need no configuration: a value set in the
environment always wins over the stack's default (`LOCAL_OVERRIDES` lists the exceptions and why).
Credentials and the stream-token key are random per run: nothing local is a secret worth keeping, and
nothing stale can be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from local.api_gateway import ApiKey, LocalApiGateway, routes_table
from local.event_sources import LocalEventSources
from local.schedules import LocalSchedules
from local.storage import FAKE_AWS_ENV, LocalStorage, create_table, free_port, seed_example_personas
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator
from local.twilio_emulator.faults import parse_call_faults

__all__ = [
    "LOCAL_OVERRIDES",
    "ROOT",
    "LocalStack",
    "StackPorts",
    "api_keys_from_env",
    "configure_logging",
    "stack_environment",
    "uses_builtin_twilio",
]

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("local.stack")

_PREFIXES = {
    "local.api": "api",
    "local.storage": "storage",
    "local.stack": "stack",
    "local.demo": "demo",
    "local.events": "events",
    "twilio_emulator": "twilio",
}


class _PrefixFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        prefix = next((p for key, p in _PREFIXES.items() if name == key or name.startswith(key + ".")), None)
        record.prefix = prefix or name.split(".")[0][:8]
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """One readable line per event: time, component, message."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_PrefixFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d [%(prefix)-7s] %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in (
        "botocore",
        "boto3",
        "urllib3",
        "werkzeug",
        "aiohttp.access",
        "websockets",
        "twilio.http_client",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass(frozen=True)
class StackPorts:
    api: int
    stream: int
    emulator: int
    dynamodb: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, free: bool) -> StackPorts:
        """Ports from API_PORT / PORT / TWILIO_EMULATOR_PORT / DYNAMODB_PORT, else defaults or free ones."""

        def pick(name: str, default: int) -> int:
            value = env.get(name)
            if value:
                return int(value)
            return free_port() if free else default

        return cls(
            api=pick("API_PORT", 3000),
            stream=pick("PORT", 8080),
            emulator=pick("TWILIO_EMULATOR_PORT", 3001),
            dynamodb=pick("DYNAMODB_PORT", 5005),
        )


# Variables the local stack never passes on from its own environment, and why.
LOCAL_OVERRIDES = {
    # The functions would fetch Twilio credentials from AWS Secrets Manager instead of the local values;
    # a shell that deployed the stack often still exports it.
    "TWILIO_SECRET_ARN": "removed: the local functions read TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN",
    "WEBHOOK_SECRET_ARN": "removed: the local functions sign with WEBHOOK_SIGNING_SECRET",
    "PROVIDER_SECRET_ARN": "removed: the local analysis reads CEREBRAS_API_KEY",
    "OUTCOMES_QUEUE_URL": "replaced by the local queue template.yaml defines (moto SQS)",
    "WEBHOOK_DLQ_URL": "replaced by the local dead-letter queue template.yaml defines (moto SQS)",
}


def uses_builtin_twilio(base: Mapping[str, str]) -> bool:
    """The stack starts its own Twilio emulator only when TWILIO_API_BASE_URL is unset (or empty)."""
    return not base.get("TWILIO_API_BASE_URL")


def stack_environment(base: Mapping[str, str], ports: StackPorts, dynamodb_endpoint: str) -> dict[str, str]:
    """The environment every component of the local stack runs with.

    A documented variable set (non-empty) in `base` is passed on unchanged; only unset ones get the
    stack's defaults. TWILIO_API_BASE_URL defaults to the built-in emulator's address.
    """
    env = dict(base)

    def default(name: str, value: str) -> None:
        if not env.get(name):
            env[name] = value

    for name, value in FAKE_AWS_ENV.items():
        default(name, value)
    default("TABLE_NAME", "ai-phone-calls")
    env["DYNAMODB_ENDPOINT"] = dynamodb_endpoint
    default("TWILIO_ACCOUNT_SID", "AC" + secrets.token_hex(16))
    default("TWILIO_AUTH_TOKEN", secrets.token_hex(16))
    default("TWILIO_API_BASE_URL", f"http://127.0.0.1:{ports.emulator}")
    default("TWILIO_FROM_NUMBER", "+15005550006")
    env["API_PORT"] = str(ports.api)
    env["PORT"] = str(ports.stream)
    default("PUBLIC_API_URL", f"http://127.0.0.1:{ports.api}")
    default("STREAM_PUBLIC_URL", f"ws://127.0.0.1:{ports.stream}/media")
    default("STREAM_TOKEN_SECRET", secrets.token_urlsafe(32))
    default("LOCAL_API_KEY", "local-dev-api-key")
    default("LOCAL_API_KEY_ID", "local-user")
    # Outgoing webhooks may go to a receiver on this machine; retries come quickly enough to watch.
    default("WEBHOOK_ALLOW_LOOPBACK_HTTP", "true")
    default("WEBHOOK_SIGNING_SECRET", secrets.token_urlsafe(32))
    default("WEBHOOK_FIRST_RETRY_SECONDS", "2")
    default("CALL_FINISH_DELAY_SECONDS", "1")
    # The offline engines (PocketSphinx, eSpeak NG) decode and speak on this machine's CPU, beside
    # the rest of the stack: on a busy laptop or CI runner a final or a first byte can take seconds
    # that the hosted services never do, and deadlines sized for those would give up on a healthy
    # engine mid-call (the caller's words dropped and asked again, or an apology for the greeting).
    if _offline(env, "STT_PROVIDER"):
        default("STT_FINAL_TIMEOUT_MS", "15000")
    if _offline(env, "TTS_PROVIDER"):
        default("TTS_FIRST_BYTE_TIMEOUT_SECONDS", "30")
    # Lambda-only services that would print or try to reach AWS on a laptop.
    default("POWERTOOLS_TRACE_DISABLED", "true")
    default("POWERTOOLS_METRICS_DISABLED", "true")
    default("POWERTOOLS_METRICS_NAMESPACE", "AiPhoneCallsLocal")
    for name in LOCAL_OVERRIDES:
        env.pop(name, None)
    return env


def _offline(env: Mapping[str, str], provider_variable: str) -> bool:
    """Whether the stream host will use its offline engine here (as ProviderSettings.from_env decides)."""
    chosen = env.get(provider_variable, "").strip()
    return chosen == "offline" or (not chosen and not env.get("ELEVENLABS_API_KEY", "").strip())


def api_keys_from_env(env: Mapping[str, str]) -> list[ApiKey]:
    """LOCAL_API_KEY (as LOCAL_API_KEY_ID) plus every ``key:user`` pair of LOCAL_API_KEYS.

    Several keys let two tenants be tried side by side locally; each key's user id is what API
    Gateway would report as ``apiKeyId`` and what owns that key's calls and personas.
    """
    keys = [ApiKey(env["LOCAL_API_KEY"], env["LOCAL_API_KEY_ID"])]
    for pair in (env.get("LOCAL_API_KEYS") or "").split(","):
        if not pair.strip():
            continue
        value, sep, user = pair.strip().partition(":")
        if not sep or not value.strip() or not user.strip():
            raise ValueError(f"LOCAL_API_KEYS entries are key:user_id pairs, got {pair.strip()!r}")
        keys.append(ApiKey(value.strip(), user.strip()))
    values = [key.value for key in keys]
    if len(set(values)) != len(values):
        raise ValueError("LOCAL_API_KEYS repeats a key (or repeats LOCAL_API_KEY)")
    return keys


@dataclass
class LocalStack:
    """All parts of the local stack; `start()` returns once every part answers."""

    env: dict[str, str]
    ports: StackPorts
    recordings_dir: Path = field(default_factory=lambda: ROOT / "out")
    storage: LocalStorage | None = None
    emulator: TwilioEmulator | None = None
    api: LocalApiGateway | None = None
    stream_host: asyncio.subprocess.Process | None = None
    events: LocalEventSources | None = None
    with_stream_host: bool = True
    builtin_twilio: bool = True  # False when TWILIO_API_BASE_URL names an outside Twilio
    schedules: LocalSchedules | None = None
    quiet: bool = False  # show only warnings from the API handlers and the stream host
    _saved_environ: dict[str, str] | None = None
    _pump: asyncio.Task[None] | None = None

    @classmethod
    def from_environment(cls, *, free_ports: bool, base: Mapping[str, str] | None = None) -> LocalStack:
        source = dict(os.environ if base is None else base)
        ports = StackPorts.from_env(source, free=free_ports)
        endpoint = source.get("DYNAMODB_ENDPOINT") or f"http://127.0.0.1:{ports.dynamodb}"
        return cls(
            env=stack_environment(source, ports, endpoint),
            ports=ports,
            builtin_twilio=uses_builtin_twilio(source),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def api_key(self) -> str:
        return self.env["LOCAL_API_KEY"]

    async def start(self) -> None:
        if self.quiet:
            self.env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
            self.env["LOG_LEVEL"] = "WARNING"
            for name in ("local.api", "twilio_emulator", "local.storage"):
                logging.getLogger(name).setLevel(logging.WARNING)
        # The API handlers run in this process and read os.environ at import; stop() restores it.
        self._saved_environ = dict(os.environ)
        os.environ.update(self.env)
        template = ROOT / "template.yaml"
        personas = ROOT / "examples" / "personas"
        own_storage = self.env["DYNAMODB_ENDPOINT"] == f"http://127.0.0.1:{self.ports.dynamodb}"
        if own_storage:
            self.storage = LocalStorage(template, self.env["TABLE_NAME"], personas, port=self.ports.dynamodb)
            await asyncio.to_thread(self.storage.start)
            log.info("DynamoDB (moto) on %s, table %s", self.storage.endpoint, self.env["TABLE_NAME"])
        else:
            table = await asyncio.to_thread(
                create_table, self.env["DYNAMODB_ENDPOINT"], template, self.env["TABLE_NAME"]
            )
            await asyncio.to_thread(seed_example_personas, table, personas)
        if own_storage:
            await self._start_event_sources(template)
        else:
            log.warning("webhooks and post-call analysis need the built-in moto (its SQS and table stream)")
        if self.builtin_twilio:
            self.emulator = TwilioEmulator(
                EmulatorSettings(
                    account_sid=self.env["TWILIO_ACCOUNT_SID"],
                    auth_token=self.env["TWILIO_AUTH_TOKEN"],
                    port=self.ports.emulator,
                    allow_insecure_local_streams=True,
                    recordings_dir=self.recordings_dir,
                )
            )
            self.emulator.inject(*parse_call_faults(self.env.get("TWILIO_EMULATOR_FAULTS", "")))
            await self.emulator.start()
        else:
            log.info("Twilio: TWILIO_API_BASE_URL is set, the built-in emulator is not started")
        self.api = LocalApiGateway(
            template,
            api_keys=api_keys_from_env(self.env),
            port=self.ports.api,
            local_routes=[("GET", "/_local/phone", self._phone_config)],
        )
        await self.api.start()
        log.info("routes (from template.yaml):\n%s", routes_table(self.api))
        if self.with_stream_host:
            await self._start_stream_host()
        if own_storage:  # the campaign scheduler needs the built-in moto's SQS, like the event sources
            override = self.env.get("LOCAL_SCHEDULE_SECONDS")
            self.schedules = LocalSchedules(template, override_seconds=float(override) if override else None)
            await self.schedules.start()
        log.info(
            "ready: API %s  stream %s  Twilio %s %s",
            self.api_url,
            self.env["STREAM_PUBLIC_URL"],
            "emulator" if self.builtin_twilio else "API (yours)",
            self.env["TWILIO_API_BASE_URL"],
        )

    async def _start_event_sources(self, template: Path) -> None:
        """Queues and stream pollers from template.yaml; queue URLs exported before any handler loads."""
        endpoint = self.env["DYNAMODB_ENDPOINT"]
        self.events = LocalEventSources(template, endpoint=endpoint, table_name=self.env["TABLE_NAME"])
        queue_env = await asyncio.to_thread(self.events.create_queues)
        exported = {**queue_env, "AWS_ENDPOINT_URL_SQS": endpoint}
        self.env.update(exported)
        os.environ.update(exported)
        await self.events.start()

    async def _phone_config(self, request: web.Request) -> web.Response:
        """Where the console's browser phone connects (the emulator's `/_emulator/phone`)."""
        if self.emulator is None:
            return web.json_response(
                {"error": "no_emulator", "message": "the browser phone needs the built-in Twilio emulator"},
                status=404,
            )
        host = request.url.host or "127.0.0.1"
        return web.json_response({"url": f"ws://{host}:{self.ports.emulator}/_emulator/phone"})

    async def _start_stream_host(self) -> None:
        self.stream_host = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream_server",
            cwd=str(ROOT),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._pump = asyncio.create_task(self._prefix_output(self.stream_host, quiet=self.quiet))
        health = f"http://127.0.0.1:{self.ports.stream}/healthz"
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if self.stream_host.returncode is not None:
                    raise RuntimeError(f"the stream host exited with {self.stream_host.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(health) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError("the stream host did not answer /healthz within 30 s")

    @staticmethod
    async def _prefix_output(process: asyncio.subprocess.Process, *, quiet: bool) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if quiet and not any(
                level in line for level in ('"WARNING"', '"ERROR"', '"CRITICAL"', "Traceback")
            ):
                continue
            sys.stdout.write(f"[stream ] {line}\n")
            sys.stdout.flush()

    async def stop(self) -> None:
        """Stop in reverse order; safe to call after a partial start."""
        if self.schedules is not None:
            await self.schedules.stop()
        if self.stream_host is not None and self.stream_host.returncode is None:
            self.stream_host.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.stream_host.wait(), 10)
            except TimeoutError:
                self.stream_host.kill()
                await self.stream_host.wait()
        if self._pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pump, 2)
        if self.events is not None:
            await self.events.stop()
        if self.api is not None:
            await self.api.stop()
        if self.emulator is not None:
            await self.emulator.stop()
        if self.storage is not None:
            await asyncio.to_thread(self.storage.stop)
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
        log.info("stopped")
