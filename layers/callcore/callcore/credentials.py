"""Twilio credentials and the stream-token key, from Secrets Manager or the environment.

Separate from ``callcore.twilio_rest`` because the webhooks need the auth token (to check
``X-Twilio-Signature``) and the stream-token key, but never the Twilio REST client and the
requests stack it imports.

Secrets Manager (``TWILIO_SECRET_ARN``: JSON ``{"account_sid", "auth_token",
"stream_token_secret"}``) is read when the ARN is set, and cached for 300 s so a rotation is picked
up within five minutes without a read per request; otherwise TWILIO_ACCOUNT_SID /
TWILIO_AUTH_TOKEN / STREAM_TOKEN_SECRET are used. The read goes through the process's shared
botocore session (``callcore.aws_session``) rather than Powertools parameters, whose module
imports boto3: on a cold start that import and a second session cost more than the whole
handler's own import.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callcore.aws_session import aws_client

if TYPE_CHECKING:
    from callcore.settings import Settings

__all__ = ["SECRET_MAX_AGE_SECONDS", "TwilioCredentials", "forget_cached_secrets", "twilio_credentials"]

SECRET_MAX_AGE_SECONDS = 300.0
_REQUIRED = ("account_sid", "auth_token", "stream_token_secret")
_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    # The key of the per-call stream tokens travels in the same secret: one secret to rotate, and the
    # answer webhook (which signs tokens) already reads it.
    stream_token_secret: str

    def __repr__(self) -> str:  # never print the token or the key
        sid = self.account_sid
        return f"TwilioCredentials(account_sid={sid!r}, auth_token='***', stream_token_secret='***')"


def forget_cached_secrets() -> None:
    """Drop cached secret values (tests; a forced re-read after a rotation)."""
    with _cache_lock:
        _cache.clear()


def _secret_json(settings: Settings, arn: str, clock: Callable[[], float]) -> Any:
    with _cache_lock:  # also keeps concurrent first requests to a single read
        now = clock()
        cached = _cache.get(arn)
        if cached is not None and now < cached[0]:
            return cached[1]
        response = aws_client("secretsmanager", region_name=settings.aws_region).get_secret_value(
            SecretId=arn
        )
        raw = response.get("SecretString", response.get("SecretBinary"))
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            raise ValueError("the Twilio secret is not JSON") from None  # never echo the secret
        _cache[arn] = (now + SECRET_MAX_AGE_SECONDS, value)
        return value


def twilio_credentials(
    settings: Settings, *, clock: Callable[[], float] = time.monotonic
) -> TwilioCredentials:
    """Account SID, auth token and stream-token key; from Secrets Manager when an ARN is configured.

    Args:
        settings: TWILIO_SECRET_ARN and the region, or the plain values.
        clock: decides when a cached secret (300 s) is read again.
    """
    if settings.twilio_secret_arn:
        secret = _secret_json(settings, settings.twilio_secret_arn, clock)
        if not isinstance(secret, dict) or not all(secret.get(key) for key in _REQUIRED):
            raise ValueError(
                "the Twilio secret must be JSON with account_sid, auth_token and stream_token_secret"
            )
        return TwilioCredentials(
            str(secret["account_sid"]),
            str(secret["auth_token"]),
            str(secret["stream_token_secret"]),
        )
    return TwilioCredentials(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.stream_token_secret
    )
