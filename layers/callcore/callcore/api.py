"""What every HTTP handler does the same way: JSON errors, TwiML responses, who is calling, and
whether Twilio signed the request. Keeps ``functions/*`` to parse → call the domain → respond.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, ParamSpec
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from callcore.credentials import TwilioCredentials, twilio_credentials
from callcore.settings import Settings, is_loopback_host
from callcore.signatures import (
    FormParams,
    api_base_url,
    is_valid_twilio_request,
    parse_form,
    signed_request_url,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

__all__ = [
    "MAX_JSON_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_WEBHOOK_BODY_BYTES",
    "RequestError",
    "caller_id",
    "decode_page_cursor",
    "encode_page_cursor",
    "error_response",
    "event_api_base_url",
    "json_depth_error",
    "json_response",
    "keyed_route",
    "page_cursor",
    "page_limit",
    "parse_json_body",
    "rest_resolver",
    "route_path",
    "serves_public_traffic",
    "signed_twilio_webhook",
    "twilio_form_if_signed",
    "twiml_response",
    "verified_twilio_form",
]


# On a custom domain the event path carries the base-path mapping (``/voice/twilio/...``); routes
# are declared without it. Strip any leading segments that precede one of our top-level routes.
BASE_PATH_PATTERN = re.compile(r"^(?:/[^/]+)+?(?=/(?:calls|personas|twilio|do-not-call|campaigns)(?:/|$))")


def rest_resolver() -> APIGatewayRestResolver:
    """The REST (v1) resolver every handler uses; routes work behind any base path."""
    return APIGatewayRestResolver(strip_prefixes=[BASE_PATH_PATTERN])


MAX_JSON_BODY_BYTES = 64 * 1024
# Twilio's own callbacks are a few kilobytes of form fields; anything far bigger is not Twilio.
MAX_WEBHOOK_BODY_BYTES = 32 * 1024
MAX_JSON_DEPTH = 8
# DynamoDB numbers carry at most 38 significant digits; a bigger integer would fail the write (a 5xx).
_MAX_INT = 10**38


_RouteParams = ParamSpec("_RouteParams")


class RequestError(ValueError):
    """A client's mistake found before any work: HTTP status, stable code, message naming the field."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _refuse_constant(name: str) -> NoReturn:
    raise RequestError(400, "invalid_json", f"{name} is not valid JSON: numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RequestError(400, "invalid_json", f"the number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 38:
        raise RequestError(400, "invalid_json", f"the number {text[:20]}... has more than 38 digits")
    return int(text)


def json_depth_error(value: Any, *, max_depth: int, path: str = "body") -> str | None:
    """A message naming the first place nested deeper than ``max_depth`` containers, or None.

    Iterative, so a hostile document cannot exhaust the stack here either.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            return f"'{where}' is nested deeper than {max_depth} levels"
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            stack.append(
                (child, f"{where}.{key}" if isinstance(node, dict) else f"{where}[{key}]", depth + 1)
            )
    return None


def parse_json_body(
    body: str | None, *, max_bytes: int = MAX_JSON_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Strict JSON for request bodies: size, then syntax, then depth; NaN/Infinity and numbers
    DynamoDB cannot store are refused. Raises RequestError (400/413) naming what is wrong."""
    if body is None or not body.strip():
        raise RequestError(400, "invalid_json", "the body must be a JSON document")
    if len(body) > max_bytes or len(body.encode("utf-8")) > max_bytes:
        raise RequestError(413, "body_too_large", f"the body must be at most {max_bytes} bytes")
    try:
        value = json.loads(
            body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except RecursionError:
        raise RequestError(
            400, "invalid_json", f"the body is nested deeper than {max_depth} levels"
        ) from None
    except RequestError:
        raise
    except ValueError:
        raise RequestError(400, "invalid_json", "the body must be valid JSON") from None
    problem = json_depth_error(value, max_depth=max_depth)
    if problem:
        raise RequestError(400, "invalid_json", problem)
    return value


def json_response(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body, default=str))


def error_response(status: int, code: str, message: str, **extra: Any) -> Response[str]:
    """The one error shape of the API: ``{"error": CODE, "message": TEXT}``."""
    return json_response(status, {"error": code, "message": message, **extra})


def twiml_response(xml: str) -> Response[str]:
    """TwiML needs an explicit XML content type (a missing one is Twilio error 11200)."""
    return Response(status_code=200, content_type="text/xml", body=xml)


def caller_id(event: APIGatewayProxyEvent) -> str | None:
    """The API key id API Gateway authenticated; it is the user id of everything they create."""
    key_id = event.request_context.identity.api_key_id
    return key_id or None


def keyed_route(
    app: APIGatewayRestResolver,
) -> Callable[
    [Callable[Concatenate[str, _RouteParams], Response[str]]], Callable[_RouteParams, Response[str]]
]:
    """A route over the caller's own resources: the handler gets the caller's API key id first
    (403 when the request carries none), and a `RequestError` it raises is answered as its 4xx."""

    def decorate(
        handler: Callable[Concatenate[str, _RouteParams], Response[str]],
    ) -> Callable[_RouteParams, Response[str]]:
        @wraps(handler)
        def route(*args: _RouteParams.args, **kwargs: _RouteParams.kwargs) -> Response[str]:
            user_id = caller_id(app.current_event)
            if user_id is None:
                return error_response(403, "forbidden", "an API key is required")
            try:
                return handler(user_id, *args, **kwargs)
            except RequestError as error:
                extra = {"field": error.field} if error.field else {}
                return error_response(error.status, error.code, error.message, **extra)

        return route

    return decorate


def page_limit(query: Mapping[str, str | None] | None, *, default: int, maximum: int) -> int:
    """``limit`` from the query string: an integer from 1 to ``maximum`` (``default`` when absent)."""
    raw = (query or {}).get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise RequestError(
            400, "invalid_limit", f"'limit' must be an integer from 1 to {maximum}", field="limit"
        )
    return int(raw)


def encode_page_cursor(position: str | None, *, scope: str) -> str | None:
    """The opaque ``next_cursor`` for a page that ended at ``position`` of the list ``scope``
    (a list's partition, such as ``DNC#<key>``); None when there is no next page."""
    if position is None:
        return None
    raw = json.dumps({"scope": scope, "after": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_cursor(query: Mapping[str, str | None] | None, *, scope: str) -> str | None:
    """The position inside the ``cursor`` query parameter; refused (400) unless this API made it
    for this very list, so one key's cursor never walks another key's list."""
    text = (query or {}).get("cursor")
    return decode_page_cursor(text, scope=scope) if text else None


def decode_page_cursor(text: str, *, scope: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        data = None
    if not isinstance(data, dict) or data.get("scope") != scope or not isinstance(data.get("after"), str):
        raise RequestError(
            400, "invalid_cursor", "'cursor' is not a cursor this API returned for this list", field="cursor"
        )
    return str(data["after"])


def route_path(event: APIGatewayProxyEvent) -> str:
    """The route with its parameters filled in (``/twilio/status/abc``), free of stage and base path."""
    path = event.resource or event.path
    for name, value in (event.path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    return path


def event_api_base_url(event: APIGatewayProxyEvent, settings: Settings) -> str | None:
    return api_base_url(
        public_api_url=settings.public_api_url,
        route_path=route_path(event),
        host=event.headers.get("host"),
        context_path=event.request_context.path,
    )


def serves_public_traffic(event: APIGatewayProxyEvent, settings: Settings) -> bool:
    """True unless the API is reachable only from this machine (the local stack, tests on loopback)."""
    if settings.public_api_url:
        return not is_loopback_host(urlsplit(settings.public_api_url).hostname)
    host = (event.headers.get("host") or "").rsplit(":", 1)[0]
    return not is_loopback_host(host)


def verified_twilio_form(
    event: APIGatewayProxyEvent, settings: Settings, credentials: Callable[[], TwilioCredentials]
) -> FormParams:
    """The webhook's form fields, or RequestError: 403 unsigned or forged, 413 oversized, 503 while
    the secrets are placeholders on a public URL.

    Cheap refusals come first: the header's presence and the body's size are checked before the
    credentials are read or a byte of the form is parsed, so junk costs next to nothing.
    """
    signature = event.headers.get("x-twilio-signature")
    if not signature:
        raise RequestError(403, "invalid_signature", "X-Twilio-Signature is missing")
    if len(event.body or "") > MAX_WEBHOOK_BODY_BYTES * (2 if event.is_base64_encoded else 1):
        raise RequestError(
            413, "body_too_large", f"webhook bodies must be at most {MAX_WEBHOOK_BODY_BYTES} bytes"
        )
    creds = credentials()
    weakness = creds.weakness()
    if weakness and serves_public_traffic(event, settings):
        raise RequestError(503, "not_configured", "this service's Twilio secret is not set up yet")
    form = twilio_form_if_signed(event, settings, creds.auth_token, shared_keys=creds.webhook_shared_keys)
    if form is None:
        raise RequestError(403, "invalid_signature", "X-Twilio-Signature does not match this request")
    return form


def twilio_form_if_signed(
    event: APIGatewayProxyEvent,
    settings: Settings,
    auth_token: str,
    *,
    shared_keys: tuple[tuple[str, str], ...] | None = None,
) -> FormParams | None:
    """The webhook's form fields when ``X-Twilio-Signature`` is valid, else None (→ 403).

    ``shared_keys`` are the Webhook Rules keys (from the Twilio secret); None means the settings'.
    """
    url = signed_request_url(
        public_api_url=settings.public_api_url,
        route_path=route_path(event),
        host=event.headers.get("host"),
        context_path=event.request_context.path,
    )
    form = parse_form(event.decoded_body)
    signature = event.headers.get("x-twilio-signature")
    valid = is_valid_twilio_request(
        auth_token,
        url,
        form,
        signature,
        signature_settings=event.headers.get("x-twilio-webhooks-signature-settings"),
        shared_keys=settings.twilio_webhook_shared_keys if shared_keys is None else shared_keys,
    )
    return form if valid else None


SignedRoute = Callable[Concatenate[FormParams, _RouteParams], Response[str]]
Route = Callable[_RouteParams, Response[str]]


def signed_twilio_webhook(
    app: APIGatewayRestResolver,
    settings: Settings,
    *,
    metrics: Metrics,
    logger: Logger,
    credentials: Callable[[], TwilioCredentials] | None = None,
) -> Callable[[SignedRoute[_RouteParams]], Route[_RouteParams]]:
    """The preamble of every route Twilio signs, as a decorator: the route receives the verified
    form as its first argument and runs only when the request passed `verified_twilio_form`.

    Refusals are answered here, the same way on every route: 403 (counted as
    ``WebhookSignatureRejected``), 413 and 503 (logged with their code). Nothing of the request is
    read by the route before that. ``credentials`` defaults to `twilio_credentials` (Secrets
    Manager when TWILIO_SECRET_ARN is set, cached for five minutes).
    """
    read_credentials = credentials or (lambda: twilio_credentials(settings))

    def decorate(route: SignedRoute[_RouteParams]) -> Route[_RouteParams]:
        @wraps(route)
        def guarded(*args: _RouteParams.args, **kwargs: _RouteParams.kwargs) -> Response[str]:
            try:
                form = verified_twilio_form(app.current_event, settings, read_credentials)
            except RequestError as error:
                if error.status == 403:
                    metrics.add_metric(name="WebhookSignatureRejected", unit="Count", value=1)
                else:
                    logger.warning("webhook refused", extra={"error": error.code})
                return error_response(error.status, error.code, error.message)
            return route(form, *args, **kwargs)

        return guarded

    return decorate
