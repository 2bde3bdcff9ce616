"""API Gateway REST (v1) Lambda proxy events built by hand, for driving handlers without HTTP.

Tests and benchmarks call the real handlers with these events; `local.api_gateway` builds the same
shape from live requests.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["api_event"]


def api_event(
    method: str,
    resource: str,
    *,
    path_params: dict[str, str] | None = None,
    body: str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    api_key_id: str | None = "key-user-1",
    host: str = "abc123.execute-api.us-east-1.amazonaws.com",
    stage: str = "dev",
    base_path: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) Lambda proxy event, shaped like the real one.

    On the execute-api host ``path`` omits the stage and ``requestContext.path`` includes it; on a
    custom domain (``base_path`` given) both carry the base path and the stage is not in the path.
    """
    path = resource
    for name, value in (path_params or {}).items():
        path = path.replace("{" + name + "}", value)
    if base_path is None:
        event_path, context_path = path, f"/{stage}{path}"
    else:
        event_path = context_path = f"{base_path}{path}"
    text = json.dumps(body) if isinstance(body, dict) else body
    all_headers = {"Host": host, "X-Forwarded-Proto": "https", **(headers or {})}
    return {
        "resource": resource,
        "path": event_path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": context_path,
            "stage": stage,
            "domainName": host,
            "requestId": "req-1",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {
                "apiKeyId": api_key_id,
                "apiKey": "secret-key" if api_key_id else None,
                "sourceIp": "127.0.0.1",
            },
        },
        "body": text,
        "isBase64Encoded": False,
    }
