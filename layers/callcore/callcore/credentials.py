"""Twilio credentials and the stream-token key, from Secrets Manager or the environment.

Separate from ``callcore.twilio_rest`` because the webhooks need the auth token (to check
``X-Twilio-Signature``) and the stream-token key, but never the Twilio REST client and the
requests stack it imports.

Secrets Manager (``TWILIO_SECRET_ARN``: JSON ``{"account_sid", "auth_token",
"stream_token_secret"}``) is read through Powertools parameters, cached for 300 s, when the ARN
is set; otherwise TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / STREAM_TOKEN_SECRET are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcore.settings import Settings

__all__ = ["TwilioCredentials", "twilio_credentials"]


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


def twilio_credentials(settings: Settings) -> TwilioCredentials:
    """Account SID and auth token, from Secrets Manager when an ARN is configured."""
    if settings.twilio_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_secret(settings.twilio_secret_arn, transform="json", max_age=300)
        required = ("account_sid", "auth_token", "stream_token_secret")
        if not isinstance(secret, dict) or not all(secret.get(key) for key in required):
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
