"""Serving an aiohttp application on a local port, the way every server of the local stack does.

One place for the start-up dance (runner, site, the port the OS picked when asked for port 0) so
the API gateway, the Twilio emulator, the webhook receiver and the provider fakes agree on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

__all__ = ["start_site"]


async def start_site(
    app: web.Application, host: str, port: int, **runner_options: Any
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port the OS picks).

    Returns the runner (``await runner.cleanup()`` stops serving) and the port actually bound.
    ``runner_options`` go to ``web.AppRunner`` (``access_log=None``, ``handle_signals``...).
    """
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp keeps the bound socket only here
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])
