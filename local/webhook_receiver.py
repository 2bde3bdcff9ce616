"""A tiny webhook receiver for the demo and the tests: checks each signature, keeps each event.

It verifies ``X-Webhook-Signature`` exactly as the README tells a customer to (HMAC over
``"<t>.<raw body>"``, stale timestamps refused), answers 401 to a bad signature, and can be told to
fail the next requests (``fail_next``) to show retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from callcore.webhooks import SIGNATURE_HEADER, verify_signature

from local.http_site import start_site

__all__ = ["ReceivedEvent", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedEvent:
    body: dict[str, Any]
    signature_valid: bool
    answered: int
    at: float

    @property
    def type(self) -> str:
        return str(self.body.get("type"))


@dataclass
class WebhookReceiver:
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedEvent] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def fail_next(self, count: int, status: int = 503) -> None:
        self._failures.extend([status] * count)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hooks", self._hook)
        self._runner, self.port = await start_site(app, self.host, self.port, access_log=None)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        valid = verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER, ""), raw, now=time.time())
        status = 401 if not valid else (self._failures.pop(0) if self._failures else 200)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        self.received.append(ReceivedEvent(body, valid, status, time.time()))
        self._changed.set()
        return web.json_response({"ok": status == 200}, status=status)

    def types(self, *, answered: int | None = 200) -> list[str]:
        return [e.type for e in self.received if answered is None or e.answered == answered]

    async def wait_for(self, *types: str, within: float = 60.0) -> list[ReceivedEvent]:
        """Wait until every type in ``types`` was received and answered 200."""
        deadline = time.monotonic() + within
        while not set(types) <= set(self.types()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"webhooks {types} not all received; got {self.types(answered=None)}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))
        return [e for e in self.received if e.answered == 200]
