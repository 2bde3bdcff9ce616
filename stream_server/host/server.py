"""The WebSocket server Twilio Media Streams connects to, plus its plain-HTTP probes.

``process_request`` answers before any upgrade: ``/healthz`` (alive), ``/readyz`` (503 while
draining or full, so the load balancer sends new calls elsewhere), 404 for unknown paths, and on
the media path it checks ``x-twilio-signature`` over the exact public ``wss://`` URL with empty
params; a bad or missing signature gets 403 and never a WebSocket.

Slots: a socket that passed the handshake signature is only *pending* (the signature is the same
for every call, so it proves little); it takes one of MAX_CALLS slots once its ``start`` carried a
valid, unused stream token, and is closed (1008, with a log line saying why) if that has not
happened within STREAM_AUTH_DEADLINE_SECONDS. Pending sockets are capped (PENDING_PER_SLOT x
MAX_CALLS), so idle sockets can neither hold call slots nor pile up. WebSocket pings are untouched.

Drain (SIGTERM): readiness turns 503, the listener closes, live calls carry on until they end or
the drain deadline, when each says a short goodbye and hangs up through the REST API. A call is
never dropped with a bare close.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from callcore.credentials import TwilioCredentials
from callcore.settings import Settings, is_loopback_host
from callcore.signatures import is_valid_stream_handshake
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from stream_server.services import CallServices
from stream_server.session import CallSession

__all__ = ["MAX_MESSAGE_BYTES", "PENDING_PER_SLOT", "StreamServer"]

log = logging.getLogger("stream_server.host.server")

MAX_MESSAGE_BYTES = 64 * 1024
"""Twilio frames are ~0.3 KiB; anything near this limit is not Twilio."""


PENDING_PER_SLOT = 4
"""Sockets that may wait for their ``start`` at once, per call slot (they hold no slot)."""


def unsafe_secrets(core: Settings) -> str | None:
    """Why this host must not take calls with its secrets (placeholder, empty, too short), or None.

    Only a loopback STREAM_PUBLIC_URL (the local stack) may run with development secrets: anywhere
    else a known auth token lets anyone pass the handshake and a known key lets anyone mint tokens.
    """
    if is_loopback_host(urlsplit(core.stream_public_url).hostname):
        return None
    return TwilioCredentials(
        core.twilio_account_sid, core.twilio_auth_token, core.stream_token_secret
    ).weakness()


class StreamServer:
    """Owns the listener and the set of live calls of this process."""

    def __init__(
        self,
        services: CallServices,
        *,
        on_active_change: Callable[[int], None] | None = None,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.sessions: set[CallSession] = set()
        self.pending: set[CallSession] = set()
        self.draining = False
        self._on_active_change = on_active_change
        self._server: Server | None = None
        self.port: int | None = None

    # -- HTTP before the upgrade --------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        if unsafe_secrets(self.settings.core) is not None:
            return False
        return not self.draining and len(self.sessions) < self.settings.max_calls

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            if self.ready:
                return connection.respond(http.HTTPStatus.OK, "ready\n")
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining or full\n")
        if path != self.settings.media_path:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        core = self.settings.core
        if unsafe_secrets(core) is not None:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "not configured\n")
        if not is_valid_stream_handshake(
            core.twilio_auth_token,
            core.stream_public_url,
            request.headers.get("x-twilio-signature", ""),
            signature_settings=request.headers.get("x-twilio-webhooks-signature-settings"),
            shared_keys=core.twilio_webhook_shared_keys,
        ):
            log.warning("media handshake refused: bad or missing x-twilio-signature")
            return connection.respond(http.HTTPStatus.FORBIDDEN, "forbidden\n")
        if not self.ready or len(self.pending) >= PENDING_PER_SLOT * self.settings.max_calls:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining or full\n")
        return None

    # -- calls --------------------------------------------------------------------------------------

    async def handle(self, connection: ServerConnection) -> None:
        session = CallSession(self.services, connection)
        self.pending.add(session)
        if self.draining:
            session.begin_drain(self.services.clock() + self.settings.drain_deadline_seconds)
        admission = asyncio.create_task(self._admit(session), name="admit")
        try:
            await session.run()
        finally:
            admission.cancel()
            self.pending.discard(session)
            if session in self.sessions:
                self.sessions.discard(session)
                self._active_changed()

    async def _admit(self, session: CallSession) -> None:
        """Count the call once it has authenticated; close it if it does not in time."""
        deadline = self.settings.auth_deadline_seconds
        try:
            await asyncio.wait_for(session.authenticated.wait(), deadline)
        except TimeoutError:
            await session.close_unauthenticated(deadline)
            return
        self.pending.discard(session)
        self.sessions.add(session)
        self._active_changed()

    def _active_changed(self) -> None:
        # ActiveCalls reaches CloudWatch once, through ActiveCallsPublisher (PutMetricData): an EMF
        # copy here made the autoscaler's average count every change as an extra sample.
        count = len(self.sessions)
        if self._on_active_change is not None:
            self._on_active_change(count)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        problem = unsafe_secrets(self.settings.core)
        if problem:
            log.error("not ready, refusing calls: %s (set the secret, then restart)", problem)
        self._server = await serve(
            self.handle,
            self.settings.bind_host,
            self.settings.port,
            process_request=self.process_request,
            compression=None,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=64,
            server_header=None,
        )
        sockets = self._server.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info(
            "stream host listening on %s:%s%s", self.settings.bind_host, self.port, self.settings.media_path
        )

    async def drain(self) -> None:
        """Stop taking calls, let live ones finish (goodbye at the deadline), then return."""
        if self.draining:
            return
        self.draining = True
        deadline = self.services.clock() + self.settings.drain_deadline_seconds
        log.info(
            "draining: %d live calls, deadline in %.0fs",
            len(self.sessions),
            self.settings.drain_deadline_seconds,
        )
        for session in list(self.sessions | self.pending):
            session.begin_drain(deadline)
        server = self._server
        if server is None:
            return
        # close_connections=False: closing a Media Streams socket would hang up the caller.
        server.close(close_connections=False)
        grace = self.settings.drain_deadline_seconds + 30.0
        try:
            await asyncio.wait_for(server.wait_closed(), grace)
        except TimeoutError:
            log.error("calls still open %.0fs after drain began; closing them", grace)
            server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 10.0)

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        await stop.wait()
        await self.drain()
