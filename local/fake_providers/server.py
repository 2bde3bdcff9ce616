"""The lifecycle every fake shares: an aiohttp app on 127.0.0.1, started and stopped in-process."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from local.http_site import start_site

__all__ = ["FakeServer"]


class FakeServer:
    """Base class: subclasses add routes in `install`; `async with` binds a free local port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        # Told the name of each milestone of a request as it passes (the benchmark's per-stage clock).
        self.on_milestone: Callable[[str], object] | None = None

    def milestone(self, name: str) -> None:
        """A request reached `name` ("llm_request", "llm_first_token", "tts_first_audio"...)."""
        if self.on_milestone is not None:
            self.on_milestone(name)

    def install(self, app: web.Application) -> None:
        """Register this fake's routes on `app` (also used to serve several fakes on one port)."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, what the adapters take as their vendor base URL."""
        if self._bound_port is None:
            raise RuntimeError("the fake server is not running")
        return f"http://{self._host}:{self._bound_port}"

    async def start(self) -> None:
        app = web.Application()
        self.install(app)
        self._runner, self._bound_port = await start_site(
            app, self._host, self._port, handle_signals=False, shutdown_timeout=1.0
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._bound_port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
