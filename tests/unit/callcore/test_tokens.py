from __future__ import annotations

import pytest
from callcore.tokens import InvalidStreamToken, issue_stream_token, verify_stream_token

SECRET = "s3cret"


def test_round_trip() -> None:
    token = issue_stream_token(SECRET, call_id="c1", call_sid="CA1", now=1000.0, ttl_seconds=60)
    claims = verify_stream_token(SECRET, token, call_sid="CA1", now=1059.0)
    assert (claims.call_id, claims.call_sid, claims.expires_at) == ("c1", "CA1", 1060)
    assert claims.nonce


def test_nonces_differ_per_token() -> None:
    a = issue_stream_token(SECRET, call_id="c", call_sid="CA", now=0)
    b = issue_stream_token(SECRET, call_id="c", call_sid="CA", now=0)
    assert (
        verify_stream_token(SECRET, a, call_sid="CA", now=1).nonce
        != verify_stream_token(SECRET, b, call_sid="CA", now=1).nonce
    )


@pytest.mark.parametrize(
    ("secret", "call_sid", "now", "mangle"),
    [
        ("other", "CA1", 1001, False),  # wrong key
        (SECRET, "CA2", 1001, False),  # another call
        (SECRET, "CA1", 1300, False),  # expired
        (SECRET, "CA1", 1001, True),  # tampered payload
    ],
)
def test_rejections(secret: str, call_sid: str, now: float, mangle: bool) -> None:
    token = issue_stream_token(SECRET, call_id="c1", call_sid="CA1", now=1000, ttl_seconds=300)
    if mangle:
        payload, mac = token.split(".")
        token = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    with pytest.raises(InvalidStreamToken):
        verify_stream_token(secret, token, call_sid=call_sid, now=now)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "!!!.???", "e30.AAAA"])
def test_garbage_is_malformed_not_a_crash(garbage: str) -> None:
    with pytest.raises(InvalidStreamToken):
        verify_stream_token(SECRET, garbage, call_sid="CA1", now=0)


def test_the_persona_is_a_signed_claim() -> None:
    token = issue_stream_token(SECRET, call_id="c1", call_sid="CA1", now=1000, persona_id="sales")
    assert verify_stream_token(SECRET, token, call_sid="CA1", now=1001).persona_id == "sales"
    plain = issue_stream_token(SECRET, call_id="c1", call_sid="CA1", now=1000)
    assert verify_stream_token(SECRET, plain, call_sid="CA1", now=1001).persona_id is None
