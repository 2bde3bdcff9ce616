"""One real local stack per module: moto, the template-driven API with the real handlers, the
Twilio emulator and the stream host subprocess, on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
HAS_STREAM_HOST = (ROOT / "stream_server" / "__main__.py").exists()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    if not HAS_STREAM_HOST:
        pytest.skip("stream_server has no __main__ yet: the e2e stack cannot start the stream host")
    local = LocalStack.from_environment(free_ports=True, base={})
    local.recordings_dir = tmp_path_factory.mktemp("recordings")
    await local.start()
    try:
        yield local
    finally:
        await local.stop()
