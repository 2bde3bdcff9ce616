"""ECS task scale-in protection, held while this task carries live calls.

Closing a Twilio Media Streams socket hangs up the call, so a task with live calls must not be picked for
scale-in or replaced by a deployment. ECS offers a per-task switch for exactly that, through the agent
endpoint that Fargate exposes to the container as ``ECS_AGENT_URI``. Protection is taken when the first call
starts, renewed before it expires while calls go on, and released when the last call ends, so an idle task
can still be scaled in.

The decision is a pure function of the live-call count and the clock (:class:`ProtectionPolicy`); the
HTTP call is the thin shell around it (:class:`TaskProtection`). Outside ECS (no ``ECS_AGENT_URI``) the
shell does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

__all__ = ["ProtectionPolicy", "ProtectionRequest", "TaskProtection"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtectionRequest:
    """What to ask the ECS agent for: enable (with an expiry) or disable protection."""

    enabled: bool
    expires_in_minutes: int | None = None


class ProtectionPolicy:
    """Decides when to take, renew and release protection.

    Args:
        expires_in_minutes: lifetime asked of ECS (1-2880). A crashed process thus cannot pin a task forever.
        renew_after_seconds: renew when protection is older than this while calls go on; well under the
            expiry so one failed renewal does not drop protection mid-call.
    """

    def __init__(self, *, expires_in_minutes: int = 60, renew_after_seconds: float = 1200.0) -> None:
        if not 1 <= expires_in_minutes <= 2880:
            raise ValueError("expires_in_minutes must be within 1-2880 (ECS limit)")
        if renew_after_seconds >= expires_in_minutes * 60:
            raise ValueError("renew_after_seconds must be shorter than the protection lifetime")
        self.expires_in_minutes = expires_in_minutes
        self.renew_after_seconds = renew_after_seconds
        self._protected_since: float | None = None

    @property
    def protected(self) -> bool:
        return self._protected_since is not None

    def decide(self, active_calls: int, now: float) -> ProtectionRequest | None:
        """Return the request to send now, or None when the current state already fits."""
        if active_calls > 0:
            since = self._protected_since
            if since is None or now - since >= self.renew_after_seconds:
                return ProtectionRequest(True, self.expires_in_minutes)
            return None
        return ProtectionRequest(False) if self._protected_since is not None else None

    def confirmed(self, request: ProtectionRequest, now: float) -> None:
        """Record that ECS accepted ``request``."""
        self._protected_since = now if request.enabled else None


class TaskProtection:
    """Applies :class:`ProtectionPolicy` decisions through the ECS agent endpoint.

    Failures are logged and retried at the next update: losing protection is a risk to live calls, but an
    exception here must never touch them.
    """

    def __init__(
        self,
        agent_uri: str | None,
        policy: ProtectionPolicy | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._agent_uri = agent_uri.rstrip("/") if agent_uri else None
        self.policy = policy or ProtectionPolicy()
        self._client = client
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._agent_uri is not None

    async def update(self, active_calls: int) -> None:
        """Bring protection in line with ``active_calls``; call on every change and periodically."""
        if self._agent_uri is None:
            return
        # Serialised: two calls ending together must not race a stale "enable" past a "disable".
        async with self._lock:
            now = asyncio.get_running_loop().time()
            request = self.policy.decide(active_calls, now)
            if request is None:
                return
            if await self._send(request):
                self.policy.confirmed(request, now)

    async def _send(self, request: ProtectionRequest) -> bool:
        body: dict[str, object] = {"ProtectionEnabled": request.enabled}
        if request.enabled:
            body["ExpiresInMinutes"] = request.expires_in_minutes
        url = f"{self._agent_uri}/task-protection/v1/state"
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.put(url, json=body)
            payload = response.json() if response.content else {}
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("task protection request failed", extra={"error": repr(exc)})
            return False
        finally:
            if self._client is None:
                await client.aclose()
        if response.status_code != 200 or "failure" in payload or "error" in payload:
            log.warning(
                "ECS refused task protection",
                extra={
                    "status": response.status_code,
                    "detail": payload.get("failure") or payload.get("error"),
                },
            )
            return False
        log.info("task protection %s", "enabled" if request.enabled else "released")
        return True

    # -- background follower: the server only says "the count changed" --------------------------------

    def start(self, count: Callable[[], int], *, check_every: float = 60.0) -> None:
        """Follow ``count()`` from now on: on every change, and every ``check_every`` s for renewals."""
        if self._agent_uri is not None and self._task is None:
            self._task = asyncio.create_task(self._follow(count, check_every), name="task-protection")

    def notify_changed(self) -> None:
        self._changed.set()

    async def stop(self) -> None:
        """Stop following and release protection: a stopped process must not pin its task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.update(0)

    async def _follow(self, count: Callable[[], int], check_every: float) -> None:
        while True:
            self._changed.clear()
            await self.update(count())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), check_every)
