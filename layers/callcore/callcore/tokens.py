"""Short-lived signed tokens that tie a Media Stream to the call we answered.

The answer webhook puts a token in a ``<Parameter>``; the stream host checks it against the
``start`` message's ``callSid`` before doing any work, then burns its nonce in DynamoDB so a
leaked token cannot be replayed. Pure functions: the clock is an argument.

Format: ``base64url(json claims) "." base64url(HMAC-SHA256(secret, json claims))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

__all__ = ["InvalidStreamToken", "StreamClaims", "issue_stream_token", "verify_stream_token"]


class InvalidStreamToken(ValueError):
    """The token is malformed, forged, expired or for another call."""


@dataclass(frozen=True)
class StreamClaims:
    call_id: str
    call_sid: str
    expires_at: int
    nonce: str
    # The persona the answer webhook chose; the stream host uses it, never an unsigned parameter.
    persona_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()


def issue_stream_token(
    secret: str,
    *,
    call_id: str,
    call_sid: str,
    now: float,
    ttl_seconds: int = 300,
    nonce: str | None = None,
    persona_id: str | None = None,
) -> str:
    """Sign call id, call SID, persona, expiry and a fresh nonce. ``nonce`` is injectable for tests."""
    if not secret:
        raise ValueError("stream token secret must not be empty")
    claims = {
        "c": call_id,
        "s": call_sid,
        "e": int(now) + ttl_seconds,
        "n": nonce or secrets.token_urlsafe(12),
    }
    if persona_id is not None:
        claims["p"] = persona_id
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify_stream_token(secret: str, token: str, *, call_sid: str, now: float) -> StreamClaims:
    """Return the claims if the token is ours, unexpired and issued for ``call_sid``."""
    try:
        payload_text, mac_text = token.split(".")
        payload = _unb64(payload_text)
        mac = _unb64(mac_text)
    except (ValueError, binascii.Error, AttributeError):
        raise InvalidStreamToken("malformed stream token") from None
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidStreamToken("bad stream token signature")
    try:
        raw = json.loads(payload)
        claims = StreamClaims(
            call_id=str(raw["c"]),
            call_sid=str(raw["s"]),
            expires_at=int(raw["e"]),
            nonce=str(raw["n"]),
            persona_id=str(raw["p"]) if raw.get("p") is not None else None,
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidStreamToken("malformed stream token claims") from None
    if now >= claims.expires_at:
        raise InvalidStreamToken("stream token expired")
    if not hmac.compare_digest(claims.call_sid.encode(), call_sid.encode()):
        raise InvalidStreamToken("stream token was issued for another call")
    return claims
