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

Two signing modes exist on a Twilio account. By default the Auth Token signs with HMAC-SHA1. With
a Webhook Rule, a SharedKey signs with HMAC-SHA256 and every request says so in
``X-Twilio-Webhooks-Signature-Settings: key=<key id>,algorithm=HMAC_SHA256``. Both are checked by
twilio's own validator; the key ids and secrets come from TWILIO_WEBHOOK_SHARED_KEYS
(``key_id=secret[,key_id=secret]``, several during a rotation). A request signed with a key we were
not given, or with an algorithm the library does not know, is refused (403) with a log line that
says which setting is missing, never silently accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from twilio.request_validator import HMAC_SHA1, RequestValidator, get_signature_algorithm

__all__ = [
    "FormParams",
    "api_base_url",
    "is_valid_stream_handshake",
    "is_valid_twilio_request",
    "parse_form",
    "parse_shared_keys",
    "signed_request_url",
    "signing_key",
]


log = logging.getLogger(__name__)

SharedKeys = Sequence[tuple[str, str]]


def parse_shared_keys(raw: str | None) -> tuple[tuple[str, str], ...]:
    """``"HKaaa=secret1,HKbbb=secret2"`` -> ((id, secret), ...); a ValueError that names no secret."""
    pairs: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in (raw or "").split(","))):
        key_id, sep, secret = part.partition("=")
        if not sep or not key_id.strip() or not secret.strip():
            raise ValueError("TWILIO_WEBHOOK_SHARED_KEYS must be key_id=secret[,key_id=secret]")
        pairs.append((key_id.strip(), secret.strip()))
    return tuple(pairs)


def signing_key(
    auth_token: str, shared_keys: SharedKeys, signature_settings: str | None
) -> tuple[str, str] | None:
    """(secret, algorithm) that signed a request, from its signature-settings header; None = unknown key."""
    if not signature_settings or not signature_settings.strip():
        return auth_token, HMAC_SHA1
    fields: Mapping[str, str] = dict(
        (name.strip(), value.strip())
        for name, sep, value in (part.partition("=") for part in signature_settings.split(","))
        if sep
    )
    key_id = fields.get("key", "")
    secret = dict(shared_keys).get(key_id)
    if not secret:
        log.warning(
            "request signed by Webhook Rule key %r, which is not in TWILIO_WEBHOOK_SHARED_KEYS: refused",
            key_id[:40],
        )
        return None
    return secret, get_signature_algorithm(signature_settings)


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
    auth_token: str,
    url: str | None,
    params: FormParams | Mapping[str, str],
    signature: str | None,
    *,
    signature_settings: str | None = None,
    shared_keys: SharedKeys = (),
) -> bool:
    """True only for a request Twilio signed over ``url`` and ``params``: with the Auth Token, or
    with the Webhook Rule key named in ``signature_settings`` (``X-Twilio-Webhooks-Signature-Settings``)."""
    if not signature or not url or not auth_token:
        return False
    key = signing_key(auth_token, shared_keys, signature_settings)
    if key is None:
        return False
    secret, algorithm = key
    return bool(RequestValidator(secret).validate(url, params, signature, algorithm))


def is_valid_stream_handshake(
    auth_token: str,
    stream_url: str,
    signature: str | None,
    *,
    signature_settings: str | None = None,
    shared_keys: SharedKeys = (),
) -> bool:
    """Check the Media Streams WebSocket upgrade (header ``x-twilio-signature``, empty params)."""
    return is_valid_twilio_request(
        auth_token, stream_url, {}, signature, signature_settings=signature_settings, shared_keys=shared_keys
    )
