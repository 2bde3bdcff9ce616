"""What every HTTP handler does the same way: JSON errors, TwiML responses, who is calling, and
whether Twilio signed the request. Keeps ``functions/*`` to parse → call the domain → respond.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from callcore.settings import Settings
from callcore.signatures import (
    FormParams,
    api_base_url,
    is_valid_twilio_request,
    parse_form,
    signed_request_url,
)

__all__ = [
    "caller_id",
    "error_response",
    "event_api_base_url",
    "json_response",
    "rest_resolver",
    "route_path",
    "twilio_form_if_signed",
    "twiml_response",
]


# On a custom domain the event path carries the base-path mapping (``/voice/twilio/...``); routes
# are declared without it. Strip any leading segments that precede one of our top-level routes.
BASE_PATH_PATTERN = re.compile(r"^(?:/[^/]+)+?(?=/(?:calls|personas|twilio|do-not-call|campaigns)(?:/|$))")


def rest_resolver() -> APIGatewayRestResolver:
    """The REST (v1) resolver every handler uses; routes work behind any base path."""
    return APIGatewayRestResolver(strip_prefixes=[BASE_PATH_PATTERN])


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


def twilio_form_if_signed(
    event: APIGatewayProxyEvent, settings: Settings, auth_token: str
) -> FormParams | None:
    """The webhook's form fields when ``X-Twilio-Signature`` is valid, else None (→ 403)."""
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
        shared_keys=settings.twilio_webhook_shared_keys,
    )
    return form if valid else None
