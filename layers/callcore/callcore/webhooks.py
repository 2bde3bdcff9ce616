"""Outgoing webhooks to the customer's system: URL rules, event bodies, signatures, retry policy.

A call (or a campaign) may carry ``webhook_url``. Its events (``call.started``, ``call.ended``,
``call.analyzed``, ``call.failed``) are POSTed as JSON::

    {"id": EVENT_ID, "type": TYPE, "created_at": ISO-8601, "call": <the record as GET /calls returns it>}

with ``X-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The
timestamp is signed with the body, so a receiver can refuse replays older than a few minutes.

Delivery is at least once: a network failure, a 5xx, 408 or 429 is retried with exponential backoff
for about a day; any other 4xx is the receiver's final word and is not retried. Everything here is
pure except ``resolve_addresses`` (DNS), kept apart so the SSRF guard can be tested without DNS.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from callcore.settings import is_loopback_host

__all__ = [
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "DeliveryVerdict",
    "RetryPolicy",
    "WebhookTarget",
    "WebhookUrlError",
    "event_body",
    "is_public_address",
    "judge_response",
    "new_event_id",
    "resolve_addresses",
    "sign",
    "signature_header",
    "validate_webhook_url",
    "verify_signature",
    "webhook_target",
]

EVENT_TYPES = ("call.started", "call.ended", "call.analyzed", "call.failed")
SIGNATURE_HEADER = "X-Webhook-Signature"
MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], Iterable[str]]


class WebhookUrlError(ValueError):
    """A ``webhook_url`` we will not send to; the message says why."""


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local (incl. the 169.254.169.254 metadata service),
    multicast, reserved and unspecified addresses, and for IPv4 hidden inside IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            return is_public_address(str(mapped))
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclass(frozen=True)
class WebhookTarget:
    """Where one delivery goes: the URL's parts and the addresses the guard approved for it.

    The sender connects to ``addresses`` (never to a second DNS answer), so a name that resolves to
    a public address when checked and to an internal one a moment later (DNS rebinding) gains nothing.
    """

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def validate_webhook_url(url: object, *, allow_loopback_http: bool, resolve: Resolver | None = None) -> str:
    """Check a ``webhook_url`` and return it unchanged (see ``webhook_target``)."""
    webhook_target(url, allow_loopback_http=allow_loopback_http, resolve=resolve)
    return str(url)


def webhook_target(
    url: object, *, allow_loopback_http: bool, resolve: Resolver | None = None
) -> WebhookTarget:
    """Check a ``webhook_url`` and say where to connect for it.

    In AWS (``allow_loopback_http=False``) only ``https`` to a host whose every address is public is
    accepted: no private, loopback or link-local target (the SSRF guard). Locally, ``http`` to a
    loopback host is accepted too, for a receiver on this machine. Credentials in the URL are always
    refused (they would be stored on the record and logged).
    """
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlError("'webhook_url' must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"'webhook_url' must be at most {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise WebhookUrlError("'webhook_url' must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlError("'webhook_url' is not a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlError("'webhook_url' must not carry credentials (user:password@)")
    host = parts.hostname
    if not host:
        raise WebhookUrlError("'webhook_url' has no host")
    if parts.fragment:
        raise WebhookUrlError("'webhook_url' must not have a #fragment")
    loopback = is_loopback_host(host)
    scheme = parts.scheme
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if scheme == "https" else 80
    if scheme in ("http", "https") and allow_loopback_http and loopback:
        return WebhookTarget(scheme, host, port or default_port, path, (host,))
    if scheme != "https":
        allowed = "https (or http to a loopback host locally)" if allow_loopback_http else "https"
        raise WebhookUrlError(f"'webhook_url' must use {allowed}")
    try:
        addresses = list((resolve or resolve_addresses)(host, port or 443))
    except (OSError, UnicodeError):
        raise WebhookUrlError(f"'webhook_url' host {host!r} does not resolve") from None
    if not addresses:
        raise WebhookUrlError(f"'webhook_url' host {host!r} does not resolve")
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked:
        raise WebhookUrlError(
            f"'webhook_url' host {host!r} resolves to a private, loopback or link-local address"
        )
    # IPv4 first: a Lambda function outside a dual-stack VPC has no IPv6 route.
    ordered = sorted(addresses, key=lambda a: (":" in a, a))
    return WebhookTarget(scheme, host, port or 443, path, tuple(ordered))


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def event_body(event_id: str, event_type: str, created_at: str, call: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON with a stable key order."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    payload = {"id": event_id, "type": event_type, "created_at": created_at, "call": dict(call)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float, tolerance_seconds: int = 300
) -> bool:
    """What a receiver does: parse ``t`` and ``v1``, refuse stale ``t``, compare in constant time."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


DeliveryVerdict = Literal["delivered", "retry", "rejected"]


def judge_response(status: int | None) -> DeliveryVerdict:
    """2xx delivered; no answer, 5xx, 408 and 429 retried; any other status is final."""
    if status is None or status >= 500 or status in (408, 429):
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    return "rejected"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff (first delay, doubling, capped) until ``max_age_seconds`` after the event."""

    first_delay_seconds: float = 30.0
    max_delay_seconds: float = 3600.0
    max_age_seconds: float = 24 * 3600.0

    def next_delay(self, attempts: int, *, age_seconds: float) -> float | None:
        """Seconds to wait after ``attempts`` failed tries, or None once the day is spent."""
        delay = float(min(self.first_delay_seconds * 2 ** max(attempts - 1, 0), self.max_delay_seconds))
        if age_seconds + delay > self.max_age_seconds:
            return None
        return delay
