"""Requests the emulator makes to the application, signed as Twilio signs them.

Every webhook is form-encoded and carries `X-Twilio-Signature`, computed by twilio's own
`RequestValidator.compute_signature` over the exact URL and the posted parameters (for GET, over
the URL with the parameters in its query string and no body parameters).

Two signing modes, as on a real account: the Auth Token with HMAC-SHA1 (the default), or a
Webhook Rule's SharedKey with HMAC-SHA256, announced by
`X-Twilio-Webhooks-Signature-Settings: key=<key id>,algorithm=HMAC_SHA256`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator

from local.twilio_emulator.errors import HTTP_RETRIEVAL_FAILURE, TwilioError

__all__ = ["Signer", "WebhookClient", "WebhookResponse", "signed_request"]


@dataclass(frozen=True)
class Signer:
    """How this account signs: the Auth Token (HMAC-SHA1), or a Webhook Rule's SharedKey (SHA-256)."""

    auth_token: str
    shared_key_id: str | None = None
    shared_key_secret: str | None = None

    def sign(self, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """The signature headers for a request to `url` carrying `params`."""
        if self.shared_key_id and self.shared_key_secret:
            signature = RequestValidator(self.shared_key_secret).compute_signature(
                url, dict(params), HMAC_SHA256
            )
            return {
                "X-Twilio-Signature": signature,
                SIGNATURE_SETTINGS_HEADER: f"key={self.shared_key_id},algorithm={HMAC_SHA256}",
            }
        return {
            "X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(
                url, dict(params), HMAC_SHA1
            )
        }


# Twilio waits 15 s in total for a webhook response.
_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=10)


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    content_type: str
    body: str


def signed_request(
    signer: Signer | str, method: str, url: str, params: Mapping[str, str]
) -> tuple[str, dict[str, str], bytes | None]:
    """Build (url, headers, body) for one webhook exactly as Twilio would send it."""
    if isinstance(signer, str):
        signer = Signer(signer)
    headers = {
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
    if method == "GET":
        separator = "&" if urlsplit(url).query else "?"
        full = f"{url}{separator}{urlencode(params)}" if params else url
        headers.update(signer.sign(full, {}))
        return full, headers, None
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=UTF-8"
    headers.update(signer.sign(url, params))
    return url, headers, urlencode(params).encode()


class WebhookClient:
    """One HTTP session for all webhooks of an emulator."""

    def __init__(self, signer: Signer | str) -> None:
        self.signer = Signer(signer) if isinstance(signer, str) else signer
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, method: str, url: str, params: Mapping[str, str]) -> WebhookResponse:
        """Deliver one webhook; raises `TwilioError` 11200 on transport failure or a 4xx/5xx."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        full, headers, body = signed_request(self.signer, method, url, params)
        try:
            async with self._session.request(method, full, headers=headers, data=body) as response:
                text = await response.text()
                result = WebhookResponse(response.status, response.headers.get("Content-Type", ""), text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TwilioError(HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: {url}: {exc!r}") from exc
        if result.status >= 400:
            raise TwilioError(
                HTTP_RETRIEVAL_FAILURE,
                f"HTTP retrieval failure: {url} answered {result.status}: {text[:200]}",
            )
        return result
