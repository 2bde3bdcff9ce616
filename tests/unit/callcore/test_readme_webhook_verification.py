"""The README's webhook verification snippet, run as a customer would run it, on real deliveries.

The snippet is read from README.md (so the document cannot drift from what works), and each
delivery is a real signed POST by ``callcore.delivery.post_signed`` to a small HTTP server on this
machine: the snippet must accept what we send, and refuse a stale timestamp, a changed body, a
wrong secret and a malformed header (by returning False, never by raising).
"""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from callcore.delivery import post_signed
from callcore.webhooks import SIGNATURE_HEADER, event_body

README = Path(__file__).resolve().parents[3] / "README.md"
SECRET = "whsec-test-" + "k" * 32
Verify = Callable[..., bool]


def _readme_snippet() -> str:
    text = README.read_text()
    section = text[text.index("### Webhooks to your system") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: the webhook section has no python verification snippet"
    return match.group(1)


@pytest.fixture(scope="module")
def verify() -> Verify:
    namespace: dict[str, Any] = {}
    exec(compile(_readme_snippet(), "README.md", "exec"), namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A plain HTTP server that keeps each request's signature header and raw body."""
    received: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.headers.get(SIGNATURE_HEADER, ""), raw))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


def _deliver(url: str, received: list[tuple[str, bytes]], *, sent_at: float) -> tuple[str, bytes]:
    body = event_body(
        "evt_1", "call.ended", "2026-11-30T12:00:00.000Z", {"call_id": "c1", "status": "completed"}
    )
    result = post_signed(url, body, SECRET, allow_loopback_http=True, clock=lambda: sent_at)
    assert result.status == 200, result
    header, raw = received[-1]
    assert raw == body and header.startswith("t=")
    return header, raw


def test_the_readme_snippet_accepts_a_real_delivery(
    verify: Verify, receiver: tuple[str, list[tuple[str, bytes]]]
) -> None:
    header, raw = _deliver(*receiver, sent_at=time.time())
    assert verify(SECRET, header, raw) is True


def test_the_readme_snippet_refuses_a_stale_timestamp(
    verify: Verify, receiver: tuple[str, list[tuple[str, bytes]]]
) -> None:
    header, raw = _deliver(*receiver, sent_at=time.time() - 600)  # signed correctly, ten minutes ago
    assert verify(SECRET, header, raw) is False
    assert verify(SECRET, header, raw, tolerance_s=3600) is True  # only the age made it fail


def test_the_readme_snippet_refuses_forgeries_and_malformed_headers(
    verify: Verify, receiver: tuple[str, list[tuple[str, bytes]]]
) -> None:
    header, raw = _deliver(*receiver, sent_at=time.time())
    assert verify(SECRET, header, raw.replace(b"completed", b"failed")) is False
    assert verify("another-secret", header, raw) is False
    t = header.split(",")[0]
    for bad in ("", "garbage", "t=abc,v1=00", t, f"{t},v1=", "v1=" + "0" * 64):
        assert verify(SECRET, bad, raw) is False, bad
