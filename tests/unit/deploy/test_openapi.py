"""openapi.yaml is a valid OpenAPI 3 document and describes exactly the API the template deploys.

The routes of the deployed API (and of the local API) are the function events of template.yaml;
these tests fail when a route is added to one and not the other, or when they disagree on whether
a route needs an API key. API Gateway's own errors must keep the API's ``{"error", "message"}`` shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from local.template import api_routes as template_routes
from local.template import gateway_responses, load_template

ROOT = Path(__file__).resolve().parents[3]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _needs_key(operation: dict[str, Any]) -> bool:
    return any("api_key" in requirement for requirement in operation.get("security") or [])


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_template_route_is_documented_and_every_documented_route_is_deployed(
    document: dict[str, Any],
) -> None:
    deployed = {
        (r.method, r.path): r.api_key_required
        for r in template_routes(load_template(ROOT / "template.yaml"), ROOT)
    }
    described = {key: _needs_key(op) for key, op in _operations(document).items()}
    assert sorted(set(deployed) - set(described)) == [], "routes in template.yaml missing from openapi.yaml"
    assert sorted(set(described) - set(deployed)) == [], "routes in openapi.yaml that template.yaml lacks"
    disagree = sorted(key for key in deployed if deployed[key] != described[key])
    assert disagree == [], f"API key requirement differs between template.yaml and openapi.yaml: {disagree}"


def test_contract_routes_are_described(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for key in [
        ("POST", "/calls"),
        ("GET", "/calls"),
        ("GET", "/calls/{call_id}"),
        ("POST", "/calls/{call_id}/hangup"),
        ("GET", "/personas"),
        ("GET", "/personas/{persona_id}"),
        ("PUT", "/personas/{persona_id}"),
    ]:
        assert key in operations, key
    listing = {p["name"] for p in _resolve_parameters(document, operations[("GET", "/calls")])}
    assert {"limit", "cursor", "status", "from", "to"} <= listing
    assert {"202", "409"} <= set(operations[("POST", "/calls/{call_id}/hangup")]["responses"])


def _resolve_parameters(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for parameter in operation.get("parameters") or []:
        if "$ref" in parameter:
            name = parameter["$ref"].rsplit("/", 1)[1]
            parameter = document["components"]["parameters"][name]
        out.append(parameter)
    return out


def test_path_parameters_are_declared(document: dict[str, Any]) -> None:
    for (method, path), operation in _operations(document).items():
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"] for p in _resolve_parameters(document, operation) if p["in"] == "path"}
        assert in_path == declared, f"{method} {path}: path parameters {in_path} vs declared {declared}"


def test_keyed_routes_document_the_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    for (method, path), operation in _operations(document).items():
        if _needs_key(operation):
            assert "403" in operation["responses"], f"{method} {path} lacks its 403"


def test_gateway_errors_use_the_api_error_shape() -> None:
    responses = gateway_responses(load_template(ROOT / "template.yaml"))
    expected = {
        "MISSING_AUTHENTICATION_TOKEN": (404, "not_found"),
        "INVALID_API_KEY": (403, "invalid_api_key"),
        "INTEGRATION_TIMEOUT": (504, "timeout"),
        "DEFAULT_4XX": (400, "bad_request"),
        "DEFAULT_5XX": (502, "gateway_error"),
    }
    for response_type, (status, code) in expected.items():
        response = responses[response_type]
        body = json.loads(response.render('a "quoted" message'))
        assert response.status == status and body["error"] == code and body["message"], response_type
    template = load_template(ROOT / "template.yaml")
    api = template["Resources"]["CallsApi"]["Properties"]["GatewayResponses"]
    for response_type in ("THROTTLED", "QUOTA_EXCEEDED"):
        body = json.loads(api[response_type]["ResponseTemplates"]["application/json"])
        assert api[response_type]["StatusCode"] == 429 and set(body) == {"error", "message"}
