"""Sending one webhook event and deciding what happens next (the I/O shell of ``callcore.webhooks``).

``post_signed`` makes one HTTPS POST: the URL is checked again (DNS may have changed since the call
was placed) and the connection goes to an address that check approved, never to a second DNS
answer (DNS rebinding); redirects are not followed (a redirect could point inside the network); the
body is signed with a fresh timestamp. ``attempt_delivery`` records the attempt on the call record and
returns the job to queue again, if any. A receiver that is down costs a queued message, never a
call's time: nothing here runs on a call's path.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from callcore.outcomes import WebhookJob, delivery_entry
from callcore.repository import CallRepository
from callcore.webhooks import (
    SIGNATURE_HEADER,
    Resolver,
    RetryPolicy,
    WebhookTarget,
    WebhookUrlError,
    judge_response,
    signature_header,
    webhook_target,
)

__all__ = ["DELIVERY_TIMEOUT_SECONDS", "DeliveryOutcome", "PostResult", "attempt_delivery", "post_signed"]

USER_AGENT = "ai-phone-calls-webhooks/1"
DELIVERY_TIMEOUT_SECONDS = 10.0  # one POST to a receiver; a slow one is retried like a failed one


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer (connection failed, timed out)
    error: str | None = None
    refused: bool = False  # we would not send to this URL (SSRF guard): final, not retried


_TLS = ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the host's approved addresses; the Host header and TLS name stay the host's.

    ``http.client`` follows no redirect: a 3xx is the receiver's answer, judged like any non-2xx.
    """

    def __init__(self, target: WebhookTarget, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target

    def connect(self) -> None:
        failure: OSError | None = None
        for address in self._target.addresses:
            try:
                sock = socket.create_connection((address, self._target.port), self.timeout)
            except OSError as error:
                failure = error
                continue
            if self._target.scheme == "https":
                try:
                    sock = _TLS.wrap_socket(sock, server_hostname=self._target.host)
                except OSError:
                    sock.close()
                    raise
            self.sock = sock
            return
        raise failure or OSError("no address to connect to")


def post_signed(
    url: str,
    body: bytes,
    secret: str,
    *,
    allow_loopback_http: bool,
    timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
    resolve: Resolver | None = None,
) -> PostResult:
    try:
        target = webhook_target(url, allow_loopback_http=allow_loopback_http, resolve=resolve)
    except WebhookUrlError as error:
        return PostResult(None, f"refused: {error}", refused=True)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, int(clock()), body),
    }
    connection = _PinnedConnection(target, timeout_seconds)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)  # a receiver's answer body is not ours to keep; read a little, politely
        status = int(response.status)
    except (OSError, http.client.HTTPException) as error:
        return PostResult(None, f"{type(error).__name__}: {error}"[:200])
    finally:
        connection.close()
    return PostResult(status, None if 200 <= status < 300 else f"HTTP {status}")


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str  # delivered | rejected | retrying | failed
    next_job: WebhookJob | None = None


def attempt_delivery(
    job: WebhookJob,
    *,
    repo: CallRepository,
    post: Callable[[WebhookJob], PostResult],
    policy: RetryPolicy,
    now: float,
    at: str,
) -> DeliveryOutcome:
    """One attempt: POST, record the result on the call, and say whether to try again."""
    result = post(job)
    verdict = "rejected" if result.refused else judge_response(result.status)
    if verdict != "retry":
        repo.record_delivery(
            job.call_id,
            job.event_id,
            delivery_entry(job, state=verdict, last_status=result.status, at=at, error=result.error),
        )
        return DeliveryOutcome(verdict)
    delay = policy.next_delay(job.attempts + 1, age_seconds=now - job.created_at)
    state = "failed" if delay is None else "retrying"
    repo.record_delivery(
        job.call_id,
        job.event_id,
        delivery_entry(job, state=state, last_status=result.status, at=at, error=result.error),
    )
    if delay is None:
        return DeliveryOutcome("failed")
    return DeliveryOutcome("retrying", job.after_failure(delay, now))
