"""A stream host with placeholder secrets on a public URL stays alive but never becomes ready."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from local.twilio_emulator.stream_client import sign
from tests.unit.stream_server.conftest import Host

STRONG = "0f3c9e1a7b2d4c6e8a0b1c2d3e4f5a6b"
KEY = "stream-key-from-the-secret-0123456789abcdef"


def _public(host: Host, *, auth_token: str, key: str) -> None:
    core = dataclasses.replace(
        host.server.settings.core,
        stream_public_url="wss://stream.example.com/media",
        twilio_auth_token=auth_token,
        stream_token_secret=key,
    )
    host.server.settings = dataclasses.replace(host.server.settings, core=core)


async def _status(host: Host, path: str) -> int:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{host.server.port}{path}") as response,
    ):
        return response.status


@pytest.mark.parametrize(
    ("auth_token", "key"),
    [("set-me", KEY), (STRONG, "set-me"), ("", KEY), (STRONG, "short-key")],
)
async def test_placeholder_secrets_keep_the_host_unready(host: Host, auth_token: str, key: str) -> None:
    _public(host, auth_token=auth_token, key=key)
    assert await _status(host, "/healthz") == 200
    assert await _status(host, "/readyz") == 503
    url = f"ws://127.0.0.1:{host.server.port}/media"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, additional_headers={"x-twilio-signature": sign(auth_token or "x", url)})
    assert refused.value.response.status_code == 503


async def test_real_secrets_on_a_public_url_are_ready(host: Host) -> None:
    _public(host, auth_token=STRONG, key=KEY)
    assert await _status(host, "/readyz") == 200
