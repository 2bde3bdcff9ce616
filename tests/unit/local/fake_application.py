"""A tiny application that Twilio (the emulator) talks to: an answer/status HTTP server and a
Media Streams WebSocket server. It checks every signature with twilio's RequestValidator and
lets each test script what the WebSocket side does."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm
from twilio.twiml.voice_response import VoiceResponse
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from local.http_site import start_site

StreamScript = Callable[[ServerConnection, dict[str, Any], "FakeApplication"], Awaitable[None]]


@dataclass
class FakeApplication:
    auth_token: str
    stream_script: StreamScript | None = None
    answer_body: str | None = None  # overrides the generated TwiML
    stream_path: str = "/media"
    handshake_status: int | None = None  # answer the WS handshake with this HTTP status
    callbacks: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    inbound: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    handshake_signature_ok: bool | None = None
    # TwiML answered per webhook kind: a document, or a function of the posted parameters.
    replies: dict[str, str | Callable[[dict[str, str]], str]] = field(default_factory=dict)
    shared_keys: dict[str, str] = field(default_factory=dict)  # Webhook Rule key id -> secret
    http_url: str = ""
    ws_url: str = ""
    _runner: web.AppRunner | None = None
    _ws_server: Server | None = None

    def twiml(self, **parameters: str) -> str:
        response = VoiceResponse()
        stream = response.connect().stream(url=self.ws_url)
        for name, value in parameters.items():
            stream.parameter(name=name, value=value)
        return str(response)

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.text()
        params = dict(parse_qsl(body, keep_blank_values=True))
        url = f"{self.http_url}{request.path}"
        valid = self._signed(request.headers, url, params)
        kind = request.match_info["kind"]
        self.callbacks.append((kind, params, valid))
        if not valid:
            return web.Response(status=403)
        if kind in self.replies:
            reply = self.replies[kind]
            text = reply if isinstance(reply, str) else reply(params)
            return web.Response(text=text, content_type="application/xml")
        if kind == "answer":
            text = (
                self.answer_body if self.answer_body is not None else self.twiml(call_id="c-1", token="t&<>")
            )
            return web.Response(text=text, content_type="application/xml")
        return web.Response(status=204)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.handshake_status is not None:
            return connection.respond(self.handshake_status, "no\n")
        self.handshake_signature_ok = self._signed(request.headers, self.ws_url, {})
        if not self.handshake_signature_ok:
            return connection.respond(403, "bad signature\n")
        return None

    def _signed(self, headers: Any, url: str, params: dict[str, str]) -> bool:
        settings = headers.get(SIGNATURE_SETTINGS_HEADER, "")
        secret = self.auth_token
        if settings:
            key = dict(part.split("=", 1) for part in settings.split(",") if "=" in part).get("key", "")
            secret = self.shared_keys.get(key, "")
        validator = RequestValidator(secret)
        return bool(
            validator.validate(
                url, params, headers.get("X-Twilio-Signature", ""), get_signature_algorithm(settings)
            )
        )

    async def _handler(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        start: dict[str, Any] = {}
        reader_done = asyncio.Event()
        started = asyncio.Event()

        async def read() -> None:
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    self.inbound.append((loop.time(), message))
                    if message["event"] == "start":
                        start.update(message)
                        started.set()
            finally:
                reader_done.set()

        reader = asyncio.create_task(read())
        await started.wait()
        if self.stream_script is not None:
            await self.stream_script(ws, start, self)
        else:
            await reader_done.wait()
        reader.cancel()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/twilio/{kind}", self._webhook)
        self._runner, port = await start_site(app, "127.0.0.1", 0, access_log=None)
        self.http_url = f"http://127.0.0.1:{port}"
        self._ws_server = await serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request, compression=None
        )
        ws_port = next(iter(self._ws_server.sockets)).getsockname()[1]
        self.ws_url = f"ws://127.0.0.1:{ws_port}{self.stream_path}"

    async def stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    def events(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.inbound if m["event"] == name]


def media(stream_sid: str, audio: bytes) -> str:
    payload = base64.b64encode(audio).decode()
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
