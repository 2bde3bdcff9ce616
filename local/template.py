"""Reading template.yaml, the single source of truth for the local stack's API and table.

The local API's routes and the local table are derived from the SAM template the cloud deploys,
so the two cannot drift: there is no second list of routes anywhere. `load_template` is the one
reader of the template (the local stack, the tests and the benchmarks use it): CloudFormation's
short-form tags (!Ref, !Sub, !GetAtt, !If...) come back in their long form (``{"Ref": ...}``,
``{"Fn::Sub": ...}``), as CloudFormation itself would read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "TEMPLATE_PATH",
    "ApiRoute",
    "FunctionSpec",
    "GatewayResponse",
    "TableDefinition",
    "TemplateError",
    "api_routes",
    "api_stage",
    "function_environment",
    "function_spec",
    "gateway_responses",
    "load_template",
    "table_definitions",
]


class TemplateError(ValueError):
    """The template lacks something the local stack needs (said in the message)."""


TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"


def _argument(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


class _LongForm(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """``!Ref X`` -> ``{"Ref": "X"}``; ``!Sub s`` -> ``{"Fn::Sub": "s"}`` (and so on for every tag)."""


class _ArgumentsOnly(yaml.SafeLoader):  # type: ignore[misc]
    """``!Ref X`` -> ``"X"``; ``!Sub s`` -> ``"s"``: the function dropped, its argument kept."""


_LongForm.add_multi_constructor(
    "!", lambda loader, suffix, node: {"Ref" if suffix == "Ref" else f"Fn::{suffix}": _argument(loader, node)}
)
_ArgumentsOnly.add_multi_constructor("!", lambda loader, suffix, node: _argument(loader, node))


def load_template(path: Path = TEMPLATE_PATH, *, intrinsics: bool = True) -> dict[str, Any]:
    """The SAM template as data (this repository's ``template.yaml`` unless ``path`` says otherwise).

    ``intrinsics=False`` reads each intrinsic function as its bare argument (``!GetAtt T.Arn`` is
    ``"T.Arn"``), for checks that only look at the strings inside.
    """
    loader = _LongForm if intrinsics else _ArgumentsOnly
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=loader)  # noqa: S506  # SafeLoader subclasses
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return data


@dataclass(frozen=True)
class ApiRoute:
    """One `Type: Api` event of one function."""

    function_id: str
    event_id: str
    path: str
    method: str
    api_key_required: bool
    code_dir: Path
    module: str
    function: str
    timeout_seconds: int = 10
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayResponse:
    """One of API Gateway's own responses (missing route, bad key...) as the template shapes it."""

    response_type: str
    status: int
    body_template: str

    def render(self, message: str) -> str:
        """The body, with ``$context.error.messageString`` filled in as API Gateway does (quoted)."""
        return self.body_template.replace("$context.error.messageString", json.dumps(message))


# API Gateway's own statuses and messages for the responses the local API produces.
GATEWAY_DEFAULTS: dict[str, tuple[int, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "DEFAULT_4XX": (400, "Bad request"),
    "DEFAULT_5XX": (502, "Internal server error"),
}


def gateway_responses(template: dict[str, Any]) -> dict[str, GatewayResponse]:
    """The gateway responses of the (first) REST API, with API Gateway's defaults filled in.

    A type the template does not customise falls back to ``DEFAULT_4XX``/``DEFAULT_5XX`` and then
    to API Gateway's plain ``{"message": ...}`` body, which is what a deployed API would answer.
    """
    configured: dict[str, Any] = {}
    for _, properties in _resources(template, "AWS::Serverless::Api"):
        configured = properties.get("GatewayResponses") or {}
        break
    out: dict[str, GatewayResponse] = {}
    for response_type, (status, _) in GATEWAY_DEFAULTS.items():
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        entry = configured.get(response_type) or {}
        fallback = configured.get(family) or {}
        body = (entry.get("ResponseTemplates") or {}).get("application/json") or (
            fallback.get("ResponseTemplates") or {}
        ).get("application/json")
        out[response_type] = GatewayResponse(
            response_type=response_type,
            status=int(entry.get("StatusCode") or status),
            body_template=body or '{"message": $context.error.messageString}',
        )
    return out


@dataclass(frozen=True)
class TableDefinition:
    """CreateTable arguments (minus the name) and the TTL attribute of one table resource."""

    logical_id: str
    create_args: dict[str, Any]
    ttl_attribute: str | None


def _resources(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, resource.get("Properties") or {})
        for name, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == kind
    ]


def _parameter_default(template: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = (template.get("Parameters") or {}).get(value["Ref"])
        if isinstance(parameter, dict) and "Default" in parameter:
            return parameter["Default"]
    return value


def _literal_env(variables: Any) -> dict[str, str]:
    if not isinstance(variables, dict):
        return {}
    return {k: str(v) for k, v in variables.items() if isinstance(v, str | int | float | bool)}


def function_environment(template: dict[str, Any], properties: dict[str, Any]) -> dict[str, str]:
    """Literal environment variables from Globals and the function (the function wins)."""
    globals_env = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    env = _literal_env(globals_env.get("Variables"))
    env.update(_literal_env((properties.get("Environment") or {}).get("Variables")))
    return env


def api_stage(template: dict[str, Any]) -> str:
    """The stage name of the (first) REST API, as execute-api puts it in `requestContext.path`."""
    for _, properties in _resources(template, "AWS::Serverless::Api"):
        stage = _parameter_default(template, properties.get("StageName"))
        if isinstance(stage, str) and stage:
            return stage
    return "Prod"  # SAM's implicit API stage


def _api_key_default(template: dict[str, Any]) -> bool:
    for _, properties in _resources(template, "AWS::Serverless::Api"):
        auth = properties.get("Auth") or {}
        if isinstance(auth, dict) and "ApiKeyRequired" in auth:
            return bool(auth["ApiKeyRequired"])
    return False


def api_routes(template: dict[str, Any], root: Path) -> list[ApiRoute]:
    """Every `Type: Api` event of every `AWS::Serverless::Function`, with its handler location."""
    global_function = (template.get("Globals") or {}).get("Function") or {}
    key_default = _api_key_default(template)
    routes: list[ApiRoute] = []
    for function_id, properties in _resources(template, "AWS::Serverless::Function"):
        events = properties.get("Events") or {}
        api_events = [(k, e.get("Properties") or {}) for k, e in events.items() if e.get("Type") == "Api"]
        if not api_events:
            continue
        code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{function_id}: CodeUri and Handler must be literal strings")
        module, _, function = handler.rpartition(".")
        timeout = properties.get("Timeout", global_function.get("Timeout", 3))
        for event_id, event in api_events:
            path, method = event.get("Path"), event.get("Method")
            if not isinstance(path, str) or not isinstance(method, str):
                raise TemplateError(f"{function_id}.{event_id}: Path and Method must be literal strings")
            auth = event.get("Auth") or {}
            routes.append(
                ApiRoute(
                    function_id=function_id,
                    event_id=event_id,
                    path=path,
                    method=method.upper(),
                    api_key_required=bool(auth.get("ApiKeyRequired", key_default)),
                    code_dir=(root / code_uri).resolve(),
                    module=module,
                    function=function,
                    timeout_seconds=int(timeout) if isinstance(timeout, int | str) else 3,
                    environment=function_environment(template, properties),
                )
            )
    return routes


def table_definitions(template: dict[str, Any]) -> list[TableDefinition]:
    """Every `AWS::DynamoDB::Table`, as boto3 `create_table` arguments."""
    tables: list[TableDefinition] = []
    for logical_id, properties in _resources(template, "AWS::DynamoDB::Table"):
        args: dict[str, Any] = {
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if properties.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        if properties.get("LocalSecondaryIndexes"):
            args["LocalSecondaryIndexes"] = properties["LocalSecondaryIndexes"]
        if properties.get("ProvisionedThroughput"):
            args["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
        stream = properties.get("StreamSpecification") or {}
        if stream.get("StreamViewType"):
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        ttl = properties.get("TimeToLiveSpecification") or {}
        ttl_attribute = ttl.get("AttributeName") if ttl.get("Enabled") else None
        tables.append(TableDefinition(logical_id, args, ttl_attribute))
    if not tables:
        raise TemplateError("the template defines no AWS::DynamoDB::Table")
    return tables


@dataclass(frozen=True)
class FunctionSpec:
    """Where one function's handler is, for functions driven by something other than the API."""

    function_id: str
    code_dir: Path
    module: str
    function: str
    timeout_seconds: int
    environment: dict[str, str]


def function_spec(template: dict[str, Any], root: Path, function_id: str) -> FunctionSpec:
    """The handler location, timeout and literal environment of ``function_id``."""
    resource = template["Resources"].get(function_id)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
        raise TemplateError(f"{function_id} is not an AWS::Serverless::Function in the template")
    properties = resource.get("Properties") or {}
    code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{function_id}: CodeUri and Handler must be literal strings")
    module, _, function = handler.rpartition(".")
    timeout = properties.get(
        "Timeout", ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    )
    return FunctionSpec(
        function_id=function_id,
        code_dir=(root / code_uri).resolve(),
        module=module,
        function=function,
        timeout_seconds=int(timeout) if isinstance(timeout, int | str) else 3,
        environment=function_environment(template, properties),
    )
