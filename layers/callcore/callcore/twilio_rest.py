"""The one way to build a Twilio REST client, so every process honours TWILIO_API_BASE_URL.

twilio 9.13 hard-codes ``https://api.twilio.com`` in each domain (``ApiBase``) and then lets the
``HttpClient`` send the fully qualified URL. The supported hook is that HTTP client: we pass a
``TwilioHttpClient`` subclass that swaps the ``https://api.twilio.com`` prefix for the configured
base URL (the local Twilio emulator, or a test fake). With the default base URL it changes nothing.
Edge/region settings are left unset, because they would rewrite the host before we see it.

Credentials come from Secrets Manager (``TWILIO_SECRET_ARN``: JSON ``{"account_sid", "auth_token"}``,
cached by Powertools for 300 s) when set, else from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

if TYPE_CHECKING:
    from twilio.rest import Client

    from callcore.settings import Settings

__all__ = [
    "TWILIO_DEFAULT_BASE_URL",
    "RebasedTwilioHttpClient",
    "TwilioCredentials",
    "twilio_client",
    "twilio_credentials",
]

TWILIO_DEFAULT_BASE_URL = "https://api.twilio.com"


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


class RebasedTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """A TwilioHttpClient that sends api.twilio.com requests to another base URL."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, max_retries: int = 1) -> None:
        super().__init__(timeout=timeout, max_retries=max_retries)
        self.base_url = base_url.rstrip("/")

    def rebase(self, url: str) -> str:
        if self.base_url != TWILIO_DEFAULT_BASE_URL and url.startswith(TWILIO_DEFAULT_BASE_URL + "/"):
            return self.base_url + url[len(TWILIO_DEFAULT_BASE_URL) :]
        return url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


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


def twilio_client(
    settings: Settings, *, credentials: TwilioCredentials | None = None, timeout: float = 10.0
) -> Client:
    """A ``twilio.rest.Client`` whose requests go to TWILIO_API_BASE_URL."""
    from twilio.rest import Client

    creds = credentials or twilio_credentials(settings)
    return Client(
        creds.account_sid,
        creds.auth_token,
        http_client=RebasedTwilioHttpClient(settings.twilio_api_base_url, timeout=timeout),
    )
