"""Security controls seen from outside: the local stack's HTTP API with two API keys.

The stack runs without the stream host (nothing here needs a live call's audio): moto, the
template-driven API with the real handlers, and the Twilio emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from local.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KEY_A, KEY_B = "key-a-secret", "key-b-secret"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    local = LocalStack.from_environment(
        free_ports=True, base={"LOCAL_API_KEYS": f"{KEY_A}:user-a,{KEY_B}:user-b"}
    )
    local.with_stream_host = False
    local.quiet = True
    local.recordings_dir = tmp_path_factory.mktemp("recordings")
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


async def api(stack: LocalStack, key: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"x-api-key": key, **kwargs.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{stack.api_url}{path}", headers=headers, **kwargs) as response,
    ):
        return response.status, await response.json(content_type=None)


def persona_body(**overrides: Any) -> dict[str, Any]:
    return {"voice_id": "v1", "prompt": "Be brief.", "greeting": "Hello!", **overrides}


# -- toll fraud ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("+19005550123", "premium rate"),
        ("+18765551234", "region JM"),
        ("+12845550123", "region VG"),
        ("+16495550123", "region TC"),
        ("+881612345678", "country codes"),
    ],
)
async def test_premium_and_one_ring_destinations_are_refused(stack: LocalStack, to: str, why: str) -> None:
    status, body = await api(stack, KEY_A, "POST", "/calls", json={"to": to, "persona_id": "receptionist"})
    assert status == 403, body
    assert body["error"] == "destination_not_allowed" and why in body["message"], body


async def test_transfer_number_is_checked_with_the_dial_policy(stack: LocalStack) -> None:
    status, body = await api(
        stack, KEY_A, "PUT", "/personas/a-transfer", json=persona_body(transfer_number="+19005550123")
    )
    assert status == 400 and "transfer_number" in body["message"] and "premium" in body["message"], body
    status, body = await api(
        stack, KEY_A, "PUT", "/personas/a-transfer", json=persona_body(transfer_number="+14155550188")
    )
    assert status == 200, body
