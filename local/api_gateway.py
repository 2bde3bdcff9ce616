"""The HTTP API on 127.0.0.1, built from template.yaml: API Gateway (REST, v1 proxy) in miniature.

For every `Type: Api` event in the template this serves the same path and method, turns the
request into the proxy event API Gateway would send (resource, path, headers and multi-value
headers, query parameters, path parameters, body, requestContext with the stage-prefixed path and
the caller's API key identity), checks the API key the way API Gateway does (403
its INVALID_API_KEY gateway response), calls the real handler in a worker thread with a
Lambda-like context and returns its proxy response. Unknown routes get the MISSING_AUTHENTICATION_TOKEN
response. API Gateway's own answers use the template's `GatewayResponses`, as the deployed API does.
There is no other list of routes: change the template, and this follows.

Each function is loaded once from its `CodeUri` by file path and invoked one request at a time
(like one warm Lambda container), because Powertools resolvers keep the current event on the app.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from local.http_site import start_site
from local.template import (
    GATEWAY_DEFAULTS,
    ApiRoute,
    GatewayResponse,
    api_routes,
    api_stage,
    gateway_responses,
    load_template,
)

__all__ = ["ApiKey", "LambdaContext", "LocalApiGateway", "build_proxy_event", "load_handler", "routes_table"]

log = logging.getLogger("local.api")

Handler = Callable[[dict[str, Any], Any], Any]
# (method, path, aiohttp handler) of a route only the local stack has.
LocalRoute = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


@dataclass(frozen=True)
class ApiKey:
    """An API key value and the id API Gateway reports for it (the user id of the calls it places)."""

    value: str
    key_id: str


@dataclass
class LambdaContext:
    """The attributes handlers and Powertools read from a Lambda context."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return multi


def build_proxy_event(
    *,
    route: ApiRoute,
    stage: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    path_parameters: Mapping[str, str],
    body: bytes,
    source_ip: str,
    api_key: ApiKey | None,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event for one request. Pure."""
    multi_headers = _multi(headers)
    multi_query = _multi(query)
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = datetime.now(UTC)
    host = next((v for k, v in headers if k.lower() == "host"), "127.0.0.1")
    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": encoded,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "domainName": host,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": user_agent,
                "apiKey": api_key.value if api_key else None,
                "apiKeyId": api_key.key_id if api_key else None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        },
    }


def _gateway_error(response: GatewayResponse) -> web.Response:
    """API Gateway's own answer, shaped by the template's gateway responses."""
    _, message = GATEWAY_DEFAULTS[response.response_type]
    return web.Response(
        status=response.status, text=response.render(message), content_type="application/json"
    )


def aiohttp_path(path: str) -> str:
    """A template path in aiohttp's syntax: a greedy ``{name+}`` matches the rest (even nothing)."""
    return re.sub(r"\{([A-Za-z0-9_]+)\+\}", r"{\1:.*}", path)


def _proxy_response(result: Any, malformed: GatewayResponse) -> web.Response:
    """Turn a handler's proxy result into HTTP; a malformed one is API Gateway's 502."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        log.error("handler returned a malformed proxy response: %r", type(result).__name__)
        return _gateway_error(malformed)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = web.Response(status=result["statusCode"], body=raw)
    for key, value in (result.get("headers") or {}).items():
        response.headers[key] = str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        response.headers.popall(key, None)
        for value in values:
            response.headers.add(key, str(value))
    return response


@dataclass
class _Function:
    route: ApiRoute
    handler: Handler | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalApiGateway:
    """The template's API on `host:port`, calling the real handlers."""

    def __init__(
        self,
        template_path: Path,
        *,
        api_keys: list[ApiKey],
        host: str = "127.0.0.1",
        port: int = 3000,
        local_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]
        | None = None,
    ) -> None:
        """``local_routes``: (method, path, handler) served beside the template's routes, for what
        only the local stack offers (paths under ``/_local/``, never in the deployed API)."""
        template = load_template(template_path)
        self.routes = api_routes(template, template_path.parent)
        self.stage = api_stage(template)
        self.gateway_responses = gateway_responses(template)
        self.api_keys = {key.value: key for key in api_keys}
        self.host, self.port = host, port
        self._functions: dict[str, _Function] = {}
        self._import_lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.local_routes = list(local_routes or [])
        if any(not path.startswith("/_local/") for _, path, _ in self.local_routes):
            raise ValueError("local-only routes must live under /_local/")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 2**20)
        for route in self.routes:
            function = self._functions.setdefault(route.function_id, _Function(route))
            app.router.add_route(route.method, aiohttp_path(route.path), self._endpoint(route, function))
        for method, path, handler in self.local_routes:
            app.router.add_route(method, path, handler)
        app.router.add_route("*", "/{tail:.*}", self._missing)
        return app

    async def start(self) -> str:
        self._runner, self.port = await start_site(self.app(), self.host, self.port, access_log=None)
        self.base_url = f"http://{self.host}:{self.port}"
        log.info(
            "API on %s: %d routes from template.yaml (stage %s)", self.base_url, len(self.routes), self.stage
        )
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _missing(self, request: web.Request) -> web.Response:
        return _gateway_error(self.gateway_responses["MISSING_AUTHENTICATION_TOKEN"])

    def _load(self, function: _Function) -> Handler:
        """Import the handler module once (see ``load_handler``)."""
        with self._import_lock:
            if function.handler is None:
                route = function.route
                function.handler = load_handler(
                    route.function_id, route.code_dir, route.module, route.function, route.environment
                )
            return function.handler

    def _invoke(self, function: _Function, event: dict[str, Any]) -> Any:
        handler = self._load(function)
        context = LambdaContext(function.route.function_id, function.route.timeout_seconds)
        with function.lock:
            return handler(event, context)

    def _endpoint(self, route: ApiRoute, function: _Function) -> Callable[[web.Request], Any]:
        async def endpoint(request: web.Request) -> web.Response:
            api_key: ApiKey | None = None
            presented = request.headers.get("x-api-key")
            if presented is not None:
                api_key = self.api_keys.get(presented)
            if route.api_key_required and api_key is None:
                return _gateway_error(self.gateway_responses["INVALID_API_KEY"])
            event = build_proxy_event(
                route=route,
                stage=self.stage,
                method=request.method,
                path=request.path,
                headers=list(request.headers.items()),
                query=list(request.query.items()),
                path_parameters=dict(request.match_info),
                body=await request.read(),
                source_ip=request.remote or "127.0.0.1",
                api_key=api_key,
            )
            started = time.monotonic()
            try:
                result = await asyncio.wait_for(
                    asyncio.to_thread(self._invoke, function, event), timeout=route.timeout_seconds + 1
                )
            except TimeoutError:
                log.error("%s %s: handler timed out", request.method, request.path)
                return _gateway_error(self.gateway_responses["INTEGRATION_TIMEOUT"])
            except Exception:
                log.exception("%s %s: handler raised", request.method, request.path)
                return _gateway_error(self.gateway_responses["INTEGRATION_FAILURE"])
            response = _proxy_response(result, self.gateway_responses["INTEGRATION_FAILURE"])
            log.info(
                "%s %s -> %d (%s, %.0f ms)",
                request.method,
                request.path,
                response.status,
                route.function_id,
                (time.monotonic() - started) * 1000,
            )
            return response

        return endpoint


def _auth_label(route: ApiRoute) -> str:
    if route.api_key_required:
        return "api key"
    return "signed" if route.path.startswith("/twilio/") else "public"


def load_handler(
    function_id: str, code_dir: Path, module_name: str, function: str, environment: Mapping[str, str]
) -> Handler:
    """Import a Lambda handler by file path, with the template's literal env as defaults.

    Explicit environment values win (the local stack sets them before anything loads), except
    POWERTOOLS_SERVICE_NAME, which is each function's own and is restored after the import.
    """
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{function_id}", source)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{function_id}: no handler at {source}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    previous = {k: os.environ.get(k) for k in environment}
    for key, value in environment.items():
        if key not in os.environ or key == "POWERTOOLS_SERVICE_NAME":
            os.environ[key] = value
    try:
        spec.loader.exec_module(module)
    finally:
        for key, old in previous.items():
            if key == "POWERTOOLS_SERVICE_NAME":
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
    handler: Handler = getattr(module, function)
    return handler


def routes_table(gateway: LocalApiGateway) -> str:
    """A human-readable list of the served routes (for `make dev` logs)."""
    return "\n".join(f"  {r.method:6} {r.path:40} {_auth_label(r):8} {r.function_id}" for r in gateway.routes)
