"""The one way to build a Twilio REST client, so every process honours TWILIO_API_BASE_URL.

twilio 9.13 hard-codes ``https://api.twilio.com`` in each domain (``ApiBase``) and then lets the
``HttpClient`` send the fully qualified URL. The supported hook is that HTTP client: we pass a
``TwilioHttpClient`` subclass that swaps the ``https://api.twilio.com`` prefix for the configured
base URL (the local Twilio emulator, or a test fake). With the default base URL it changes nothing.
Edge/region settings are left unset, because they would rewrite the host before we see it.

Credentials: ``callcore.credentials`` (re-exported here). They live apart so the webhooks, which
only check signatures and never call Twilio, do not import the twilio HTTP stack (requests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from callcore.credentials import TwilioCredentials, twilio_credentials

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
