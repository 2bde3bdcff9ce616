"""The local API: routes come from the template, API keys are enforced as API Gateway does, and
handlers get a REST v1 proxy event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from local.api_gateway import ApiKey, LocalApiGateway
from local.template import api_routes, load_template

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
ROOT = Path(__file__).resolve().parents[3]
KEY = ApiKey("test-key-0123456789abcdef", "user-42")


@pytest.fixture
async def api() -> AsyncIterator[LocalApiGateway]:
    gateway = LocalApiGateway(FIXTURE, api_keys=[KEY], port=0)
    await gateway.start()
    yield gateway
    await gateway.stop()


async def _post(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


def test_routes_are_read_from_the_real_template() -> None:
    routes = {(r.method, r.path): r for r in api_routes(load_template(ROOT / "template.yaml"), ROOT)}
    assert routes[("POST", "/calls")].api_key_required
    assert routes[("GET", "/calls/{call_id}")].api_key_required
    twilio = [r for (method, path), r in routes.items() if path.startswith("/twilio/")]
    assert twilio and not any(r.api_key_required for r in twilio)
    assert all(r.code_dir.is_relative_to(ROOT / "functions") for r in routes.values())


async def test_api_key_is_required_where_the_template_says(api: LocalApiGateway) -> None:
    url = f"{api.base_url}/things/t1"
    assert await _post(url) == (403, {"message": "Forbidden"})
    assert await _post(url, headers={"x-api-key": "wrong"}) == (403, {"message": "Forbidden"})
    status, body = await _post(url, headers={"x-api-key": KEY.value})
    assert status == 201
    assert body["event"]["requestContext"]["identity"]["apiKeyId"] == "user-42"
    status, body = await _post(f"{api.base_url}/hooks/echo")
    assert status == 201 and body["event"]["requestContext"]["identity"]["apiKeyId"] is None


async def test_proxy_event_shape(api: LocalApiGateway) -> None:
    status, body = await _post(
        f"{api.base_url}/things/abc?x=1&x=2&y=3",
        headers={"x-api-key": KEY.value, "Content-Type": "application/json"},
        data=b'{"a": 1}',
    )
    assert status == 201
    event = body["event"]
    assert event["resource"] == "/things/{thing_id}"
    assert event["path"] == "/things/abc"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"thing_id": "abc"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]
    context = event["requestContext"]
    assert context["stage"] == "test" and context["path"] == "/test/things/abc"
    assert context["resourcePath"] == "/things/{thing_id}" and context["requestId"]
    assert body["greeting"] == "hello"  # template env applied
    assert 0 < body["remaining"] <= 5000  # Lambda context with the template's timeout


async def test_unknown_route_and_handler_failure_look_like_api_gateway(api: LocalApiGateway) -> None:
    assert await _post(f"{api.base_url}/nowhere") == (403, {"message": "Missing Authentication Token"})
    async with aiohttp.ClientSession() as session, session.get(f"{api.base_url}/broken") as response:
        assert response.status == 502
        assert await response.json() == {"message": "Internal server error"}


async def test_gateway_errors_follow_the_templates_gateway_responses() -> None:
    gateway = LocalApiGateway(ROOT / "template.yaml", api_keys=[KEY], port=0)
    await gateway.start()
    try:
        status, body = await _post(f"{gateway.base_url}/nowhere")
        assert status == 404 and body["error"] == "not_found" and body["message"]
        status, body = await _post(f"{gateway.base_url}/calls", headers={"x-api-key": "wrong"})
        assert status == 403 and body["error"] == "invalid_api_key"
    finally:
        await gateway.stop()


def test_greedy_path_parameters_become_aiohttp_patterns() -> None:
    from local.api_gateway import aiohttp_path

    assert aiohttp_path("/console/{proxy+}") == "/console/{proxy:.*}"
    assert aiohttp_path("/calls/{call_id}") == "/calls/{call_id}"
