"""Sending one webhook event and deciding what happens next (the I/O shell of ``callcore.webhooks``).

``post_signed`` makes one HTTPS POST: the URL is checked again (DNS may have changed since the call
was placed), redirects are not followed (a redirect could point inside the network), and the body
is signed with a fresh timestamp. ``attempt_delivery`` records the attempt on the call record and
returns the job to queue again, if any. A receiver that is down costs a queued message, never a
call's time: nothing here runs on a call's path.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callcore.outcomes import WebhookJob, delivery_entry
from callcore.repository import CallRepository
from callcore.webhooks import (
    SIGNATURE_HEADER,
    Resolver,
    RetryPolicy,
    WebhookUrlError,
    judge_response,
    signature_header,
    validate_webhook_url,
)

__all__ = ["DELIVERY_TIMEOUT_SECONDS", "DeliveryOutcome", "PostResult", "attempt_delivery", "post_signed"]

USER_AGENT = "ai-phone-calls-webhooks/1"
DELIVERY_TIMEOUT_SECONDS = 10.0  # one POST to a receiver; a slow one is retried like a failed one


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer (connection failed, timed out)
    error: str | None = None
    refused: bool = False  # we would not send to this URL (SSRF guard): final, not retried


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx itself is the answer; judged like any other non-2xx


_opener = urllib.request.build_opener(_NoRedirects)


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
        validate_webhook_url(url, allow_loopback_http=allow_loopback_http, resolve=resolve)
    except WebhookUrlError as error:
        return PostResult(None, f"refused: {error}", refused=True)
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked just above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(secret, int(clock()), body),
        },
    )
    try:
        with _opener.open(request, timeout=timeout_seconds) as response:
            return PostResult(int(response.status))
    except urllib.error.HTTPError as error:
        return PostResult(int(error.code), f"HTTP {error.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return PostResult(None, f"{type(error).__name__}: {reason}"[:200])


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
