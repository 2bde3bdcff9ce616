"""Outgoing webhooks: URL rules (SSRF guard), signatures, what is retried and for how long."""

from __future__ import annotations

import json
import socket

import pytest
from callcore.delivery import post_signed
from callcore.webhooks import (
    RetryPolicy,
    WebhookUrlError,
    event_body,
    is_public_address,
    judge_response,
    sign,
    signature_header,
    validate_webhook_url,
    verify_signature,
    webhook_target,
)

PUBLIC = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


def _resolver(addresses: list[str]):  # type: ignore[no-untyped-def]
    return lambda host, port: addresses


def test_https_to_a_public_host_is_accepted() -> None:
    url = "https://hooks.example.com/calls?source=ai"
    assert validate_webhook_url(url, allow_loopback_http=False, resolve=_resolver(PUBLIC)) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://token@hooks.example.com/x", "credentials"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://hooks.example.com/a b", "spaces"),
        ("", "non-empty"),
        (42, "non-empty"),
        ("https://" + "a" * 2100 + ".com", "at most"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: object, words: str) -> None:
    with pytest.raises(WebhookUrlError) as refused:
        validate_webhook_url(url, allow_loopback_http=False, resolve=_resolver(PUBLIC))
    assert words in str(refused.value) and "webhook_url" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # the instance metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "224.0.0.1",
    ],
)
def test_ssrf_guard_refuses_internal_addresses(address: str) -> None:
    assert not is_public_address(address)
    with pytest.raises(WebhookUrlError, match="private, loopback or link-local"):
        validate_webhook_url(
            "https://sneaky.example.com/x", allow_loopback_http=False, resolve=_resolver([PUBLIC[0], address])
        )


def test_loopback_http_only_locally() -> None:
    local = "http://127.0.0.1:9000/hooks"
    assert validate_webhook_url(local, allow_loopback_http=True) == local
    assert validate_webhook_url("http://localhost:9000/h", allow_loopback_http=True)
    with pytest.raises(WebhookUrlError):
        validate_webhook_url(local, allow_loopback_http=False)
    with pytest.raises(WebhookUrlError, match="https"):
        validate_webhook_url("http://10.0.0.1/h", allow_loopback_http=True)


def test_unresolvable_host_is_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(WebhookUrlError, match="does not resolve"):
        validate_webhook_url("https://nowhere.invalid/x", allow_loopback_http=False, resolve=fail)


def test_signature_round_trip_and_its_failures() -> None:
    body = event_body(
        "evt_1", "call.ended", "2026-11-30T12:00:00.000Z", {"call_id": "c1", "status": "completed"}
    )
    assert json.loads(body)["call"]["call_id"] == "c1"
    header = signature_header("s3cret", 1_800_000_000, body)
    assert header == f"t=1800000000,v1={sign('s3cret', 1_800_000_000, body)}"
    assert verify_signature("s3cret", header, body, now=1_800_000_010)
    assert not verify_signature("other", header, body, now=1_800_000_010)
    assert not verify_signature("s3cret", header, body + b" ", now=1_800_000_010)
    assert not verify_signature("s3cret", header, body, now=1_800_000_000 + 301)  # stale
    assert not verify_signature("s3cret", "v1=abc", body, now=1_800_000_000)
    # The signed message is "<t>.<raw body>", as documented.
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1800000000." + body, hashlib.sha256).hexdigest()
    assert header.endswith(expected)


def test_unknown_event_type_is_a_bug() -> None:
    with pytest.raises(ValueError):
        event_body("evt", "call.exploded", "now", {})


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (None, "retry"),
        (500, "retry"),
        (503, "retry"),
        (408, "retry"),
        (429, "retry"),
        (400, "rejected"),
        (401, "rejected"),
        (404, "rejected"),
        (410, "rejected"),
        (302, "rejected"),
    ],
)
def test_what_is_retried(status: int | None, verdict: str) -> None:
    assert judge_response(status) == verdict


def test_backoff_keeps_trying_for_about_a_day_then_stops() -> None:
    policy = RetryPolicy()
    age, attempts, delays = 0.0, 0, []
    while (delay := policy.next_delay(attempts + 1, age_seconds=age)) is not None:
        delays.append(delay)
        age += delay
        attempts += 1
    assert delays[:4] == [30.0, 60.0, 120.0, 240.0]
    assert max(delays) == 3600.0
    assert 20 * 3600 < age <= 24 * 3600 and 20 < attempts < 40


def test_a_delivery_connects_only_to_the_addresses_the_guard_approved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a name public when checked and internal a moment later gets no second lookup."""
    answers = iter([["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"], ["169.254.169.254"]])
    looked_up: list[str] = []
    connected: list[tuple[str, int]] = []

    def rebinding(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return next(answers)

    def no_network(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        connected.append(address)
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    result = post_signed(
        "https://hooks.example.com/x?a=1", b"{}", "s" * 32, allow_loopback_http=False, resolve=rebinding
    )
    assert looked_up == ["hooks.example.com"]
    # Every approved address is tried, IPv4 first (Lambda may have no IPv6 route), and nothing else.
    assert connected == [("93.184.215.14", 443), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443)]
    assert result.status is None and result.error and "ConnectionRefusedError" in result.error
    assert not result.refused  # a network failure is retried, unlike a refused URL


def test_the_target_keeps_the_host_port_and_path() -> None:
    target = webhook_target(
        "https://hooks.example.com:8443/calls/in?source=ai",
        allow_loopback_http=False,
        resolve=_resolver(PUBLIC),
    )
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/calls/in?source=ai",
    )
    local = webhook_target("http://127.0.0.1:9000", allow_loopback_http=True)
    assert (local.port, local.path, local.addresses) == (9000, "/", ("127.0.0.1",))
