"""Stream-host slots over real sockets: a socket holds a call slot only once it has authenticated,
and one that does not authenticate in time is closed with a reason."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import aiohttp
import pytest

from local.twilio_emulator.stream_client import TwilioLike
from tests.unit.stream_server.conftest import Host
from tests.unit.stream_server.test_stream_host import greeted

DEADLINE = 0.5


def _set(host: Host, **changes: object) -> None:
    host.server.settings = dataclasses.replace(host.server.settings, **changes)  # type: ignore[arg-type]
    host.services.settings = host.server.settings


async def _closed(call: TwilioLike) -> tuple[int | None, str]:
    async with asyncio.timeout(15):  # generous: the deadline under test is 0.5 s
        await call.closed.wait()
    await call.ws.wait_closed()
    return call.ws.close_code, call.ws.close_reason or ""


async def test_an_idle_signed_socket_is_closed_at_the_deadline(
    host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    _set(host, auth_deadline_seconds=DEADLINE)
    idle = await host.connect()  # a valid handshake signature, then nothing
    connected_only = await host.connect()
    await connected_only.ws.send('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    with caplog.at_level(logging.WARNING):
        for call in (idle, connected_only):
            code, reason = await _closed(call)
            assert code == 1008 and "no valid start" in reason
    assert "no valid start with a stream token within 0.5 s" in caplog.text
    async with asyncio.timeout(15):  # the server side finishes its shutdown a moment later
        while host.server.sessions or host.server.pending:  # noqa: ASYNC110 - polling plain sets
            await asyncio.sleep(0.02)


async def test_idle_sockets_hold_no_slot_and_a_real_call_gets_through(host: Host) -> None:
    _set(host, auth_deadline_seconds=5.0, max_calls=1)
    idle = [await host.connect() for _ in range(3)]
    assert len(host.server.pending) == 3 and not host.server.sessions
    _call_id, call_sid, call = await host.start_call()
    await greeted(call)
    assert len(host.server.sessions) == 1
    async with (
        aiohttp.ClientSession() as http_client,
        http_client.get(f"http://127.0.0.1:{host.server.port}/readyz") as ready,
    ):
        assert ready.status == 503  # the one slot is the real call's
    await call.stop(call_sid)
    for socket in idle:
        await socket.ws.close()
