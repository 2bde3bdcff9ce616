"""One real local stack per module: moto, the template-driven API with the real handlers, the
Twilio emulator and the stream host subprocess, on free ports.

Also what every end-to-end test does with it: start a stack with its own environment
(``started_stack``), call the HTTP API with an API key (``api``), place one call and wait for it
to end (``place_call``), and wait for a call record to reach a state (``record_when``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from local.stack import LocalStack
from local.twilio_emulator.call import EmulatedCall

ROOT = Path(__file__).resolve().parents[2]
HAS_STREAM_HOST = (ROOT / "stream_server" / "__main__.py").exists()

# The seeded reminder persona, with the variables its greeting asks for.
REMINDER = {
    "persona_id": "appointment-reminder",
    "variables": {"first_name": "Sam", "appointment_time": "Friday at ten"},
}


@contextlib.asynccontextmanager
async def started_stack(
    recordings: Path, base: Mapping[str, str], *, stream_host: bool = True, quiet: bool = False
) -> AsyncIterator[LocalStack]:
    """A local stack on free ports with ``base`` over the usual environment, stopped on exit.

    Skips the test when the stack needs a stream host and the tree has none yet.
    """
    if stream_host and not HAS_STREAM_HOST:
        pytest.skip("stream_server has no __main__ yet: the e2e stack cannot start the stream host")
    local = LocalStack.from_environment(free_ports=True, base=dict(base))
    local.with_stream_host = stream_host
    local.quiet = quiet
    local.recordings_dir = recordings
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with started_stack(tmp_path_factory.mktemp("recordings"), {}) as local:
        yield local


async def api(
    stack: LocalStack, method: str, path: str, *, key: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """One request to the stack's HTTP API with API key ``key`` (the stack's own by default).

    Returns the status and the decoded JSON body.
    """
    headers = {"x-api-key": key or stack.api_key, **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{stack.api_url}{path}", headers=headers, **kwargs) as response,
    ):
        return response.status, await response.json(content_type=None)


async def place_call(
    stack: LocalStack, to: str, body: Mapping[str, Any] = REMINDER
) -> tuple[dict[str, Any], EmulatedCall]:
    """``POST /calls`` to ``to`` (the reminder persona by default) and wait until the call ends.

    Returns the API's answer (``call_id``...) and the emulator's record of the call.
    """
    assert stack.emulator is not None
    status, placed = await api(stack, "POST", "/calls", json={"to": to, **body})
    assert status == 202, placed
    call = next(c for c in stack.emulator.calls.values() if c.request.to == to)
    await stack.emulator.wait_for_call(call.sid, within=120)
    return placed, call


async def record_when(
    stack: LocalStack,
    call_id: str,
    ready: Callable[[dict[str, Any]], object],
    *,
    key: str | None = None,
    within: float = 60.0,
) -> dict[str, Any]:
    """``GET /calls/{call_id}`` until ``ready(record)``; fails with the last record after ``within`` s.

    Polls on a deadline, not a count: each request is slow on a busy machine.
    """
    deadline = time.monotonic() + within
    while True:
        status, record = await api(stack, "GET", f"/calls/{call_id}", key=key)
        if status == 200 and ready(record):
            return dict(record)
        assert time.monotonic() < deadline, f"the record never got there: {record}"
        await asyncio.sleep(0.25)
