"""Checking that a request really comes from Twilio (``X-Twilio-Signature``).

Only twilio's ``RequestValidator`` computes signatures; this module decides *what* is signed,
which is where webhook validation usually goes wrong behind API Gateway:

* The URL. If PUBLIC_API_URL is configured it wins: the signed URL is
  ``PUBLIC_API_URL + <route path>``, exactly the string we handed Twilio (works for custom domains
  with base paths, and for the local stack). Otherwise the URL is rebuilt from the request as
  ``https://<Host><requestContext.path>``: on the execute-api host that path includes the stage, on
  a custom domain it includes the base-path mapping. The top-level ``path`` is never used because
  it omits the stage.
* The parameters: every form field including blank ones (``CallerCity=``) and repeated ones.
* The WebSocket handshake: the ``wss://`` URL exactly as written in TwiML and *empty* parameters.

Webhook URLs carry no query string (REST v1 events lose the raw query string, so it could not be
reproduced byte for byte).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

__all__ = [
    "FormParams",
    "api_base_url",
    "is_valid_stream_handshake",
    "is_valid_twilio_request",
    "parse_form",
    "signed_request_url",
]


class FormParams(dict[str, str]):
    """Form fields as a dict (last value wins) that also keeps repeated values for signing.

    ``RequestValidator`` signs every value of a repeated field when the mapping has ``getall``.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._multi: dict[str, list[str]] = {}
        for name, value in pairs:
            self._multi.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return list(self._multi.get(name, []))


def parse_form(body: str | None) -> FormParams:
    """Parse an ``application/x-www-form-urlencoded`` body, keeping blank values."""
    return FormParams(parse_qsl(body or "", keep_blank_values=True))


def signed_request_url(
    *, public_api_url: str | None, route_path: str, host: str | None, context_path: str | None
) -> str | None:
    """The URL Twilio signed for this request (see the module docstring for the rule).

    ``route_path`` is the API route with its parameters filled in (``/twilio/status/abc``).
    Returns None when neither a configured base URL nor a Host header is available.
    """
    if public_api_url:
        return public_api_url.rstrip("/") + route_path
    if not host:
        return None
    return f"https://{host}{context_path or route_path}"


def api_base_url(
    *, public_api_url: str | None, route_path: str, host: str | None, context_path: str | None
) -> str | None:
    """Public base URL of the API, for building webhook URLs from inside a request.

    Configured PUBLIC_API_URL wins; otherwise Host plus the prefix of ``requestContext.path`` before
    the route (the stage on execute-api, the base path on a custom domain).
    """
    if public_api_url:
        return public_api_url.rstrip("/")
    if not host:
        return None
    path = context_path or route_path
    prefix = path[: -len(route_path)] if route_path and path.endswith(route_path) else ""
    return f"https://{host}{prefix}"


def is_valid_twilio_request(
    auth_token: str, url: str | None, params: FormParams, signature: str | None
) -> bool:
    """True only for a request signed by Twilio with ``auth_token`` over ``url`` and ``params``."""
    if not signature or not url or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def is_valid_stream_handshake(auth_token: str, stream_url: str, signature: str | None) -> bool:
    """Check the Media Streams WebSocket upgrade (header ``x-twilio-signature``)."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(stream_url, {}, signature))
