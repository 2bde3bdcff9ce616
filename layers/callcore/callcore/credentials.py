"""Twilio credentials and the stream-token key, from Secrets Manager or the environment.

Separate from ``callcore.twilio_rest`` because the webhooks need the auth token (to check
``X-Twilio-Signature``) and the stream-token key, but never the Twilio REST client and the
requests stack it imports.

Secrets Manager (``TWILIO_SECRET_ARN``: JSON ``{"account_sid", "auth_token",
"stream_token_secret"}`` and, for Twilio Webhook Rules, an optional ``"webhook_shared_keys"``)
is read when the ARN is set, through Powertools parameters, which cache it for 300 s so a
rotation is picked up within five minutes without a read per request; otherwise
TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / STREAM_TOKEN_SECRET / TWILIO_WEBHOOK_SHARED_KEYS are used.
Powertools' parameters module imports boto3, so it is imported on the first read, not with the
handler, and its provider
is given the process's shared botocore client (``callcore.aws_session``) instead of a second session.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callcore.aws_session import aws_client

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from callcore.settings import Settings

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_MAX_AGE_SECONDS",
    "TwilioCredentials",
    "cerebras_api_key",
    "forget_cached_secrets",
    "secret_weakness",
    "twilio_credentials",
    "webhook_signing_secret",
]

SECRET_MAX_AGE_SECONDS = 300
_REQUIRED = ("account_sid", "auth_token", "stream_token_secret")
_providers: dict[str, SecretsProvider] = {}
_providers_lock = threading.Lock()


# A Twilio auth token is 32 hex characters; the stream-token key is generated with 48. Anything
# shorter, and any value that reads like a placeholder, is not a secret.
MIN_SECRET_LENGTH = 32
_PLACEHOLDER_WORDS = ("set-me", "setme", "change-me", "changeme", "placeholder", "replace-me", "dev-only")


def secret_weakness(name: str, value: str | None) -> str | None:
    """Why ``value`` cannot be a real secret (naming it, never echoing it), or None."""
    if not value or not value.strip():
        return f"{name} is empty"
    lowered = value.strip().lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(lowered)) < 4:
        return f"{name} is a placeholder"
    if len(value.strip()) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    # The key of the per-call stream tokens travels in the same secret: one secret to rotate, and the
    # answer webhook (which signs tokens) already reads it.
    stream_token_secret: str
    # Twilio Webhook Rules keys (``key_id=secret,...``): the optional ``webhook_shared_keys`` of the
    # same secret in AWS, TWILIO_WEBHOOK_SHARED_KEYS locally.
    webhook_shared_keys: tuple[tuple[str, str], ...] = ()

    def weakness(self) -> str | None:
        """Why these credentials must not guard a public endpoint, or None when they may.

        With a placeholder auth token anyone can forge ``X-Twilio-Signature``; with a weak
        stream-token key anyone can mint stream tokens.
        """
        return secret_weakness("the Twilio auth token", self.auth_token) or secret_weakness(
            "the stream-token key", self.stream_token_secret
        )

    def __repr__(self) -> str:  # never print the token or the key
        sid = self.account_sid
        keys = [key_id for key_id, _ in self.webhook_shared_keys]
        return (
            f"TwilioCredentials(account_sid={sid!r}, auth_token='***', stream_token_secret='***', "
            f"webhook_shared_keys={keys!r} (secrets hidden))"
        )


def forget_cached_secrets() -> None:
    """Drop cached secret values (tests; a forced re-read after a rotation)."""
    with _providers_lock:
        for provider in _providers.values():
            provider.clear_cache()  # type: ignore[no-untyped-call]  # untyped in Powertools 3.37
        _providers.clear()


def _provider(region: str) -> SecretsProvider:
    with _providers_lock:
        provider = _providers.get(region)
        if provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            provider = SecretsProvider(boto3_client=aws_client("secretsmanager", region_name=region))
            _providers[region] = provider
        return provider


def _secret_json(settings: Settings, arn: str) -> Any:
    raw = _provider(settings.aws_region).get(arn, max_age=SECRET_MAX_AGE_SECONDS)
    try:
        return json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("the Twilio secret is not JSON") from None  # never echo the secret


def twilio_credentials(settings: Settings) -> TwilioCredentials:
    """Account SID, auth token and stream-token key; from Secrets Manager when an ARN is configured."""
    if settings.twilio_secret_arn:
        secret = _secret_json(settings, settings.twilio_secret_arn)
        if not isinstance(secret, dict) or not all(secret.get(key) for key in _REQUIRED):
            raise ValueError(
                "the Twilio secret must be JSON with account_sid, auth_token and stream_token_secret"
            )
        from callcore.signatures import parse_shared_keys

        return TwilioCredentials(
            str(secret["account_sid"]),
            str(secret["auth_token"]),
            str(secret["stream_token_secret"]),
            parse_shared_keys(str(secret.get("webhook_shared_keys") or "")),
        )
    return TwilioCredentials(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.stream_token_secret,
        settings.twilio_webhook_shared_keys,
    )


def webhook_signing_secret(settings: Settings) -> str:
    """The HMAC key of outgoing webhooks: the plain-string secret at WEBHOOK_SECRET_ARN (cached
    like the Twilio one, so a rotation is used within five minutes), else WEBHOOK_SIGNING_SECRET."""
    if settings.webhook_secret_arn:
        raw = _provider(settings.aws_region).get(settings.webhook_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
        value = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if len(value) < 16:
            raise ValueError("the webhook signing secret must be at least 16 characters")
        return value
    return settings.webhook_signing_secret


def cerebras_api_key(settings: Settings) -> str | None:
    """The Cerebras key for the post-call analysis: ``cerebras_api_key`` in the provider secret
    (PROVIDER_SECRET_ARN), else CEREBRAS_API_KEY; None means the offline extractor."""
    if settings.provider_secret_arn:
        secret = _secret_json(settings, settings.provider_secret_arn)
        key = secret.get("cerebras_api_key") if isinstance(secret, dict) else None
        return str(key) if key and key != "set-me" else None
    return settings.cerebras_api_key
