"""Loop-lag probe for a benchmarked host process, loaded by Python at start-up (bench only).

`bench/profile_host.py --host-loop-lag` puts this folder on the host's PYTHONPATH, so the interpreter
imports it as `sitecustomize` before `python -m stream_server` runs. It wraps the event loop's
`run_forever` to start one task that sleeps 10 ms at a time and notes how late it woke; once a second it
writes `LOOPLAG <p99 ms> <max ms>` to stderr (the host's log). Lateness is what every callback on that
loop waited in that second: CPU work of other callbacks, the GIL, or the process not being scheduled.
Nothing of the product imports this.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

_TICK_S = 0.01
_run_forever = asyncio.BaseEventLoop.run_forever


async def _probe() -> None:
    lags: list[float] = []
    since = time.monotonic()
    while True:
        before = time.monotonic()
        await asyncio.sleep(_TICK_S)
        lags.append((time.monotonic() - before - _TICK_S) * 1000.0)
        if time.monotonic() - since >= 1.0:
            lags.sort()
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(f"LOOPLAG {p99:.1f} {lags[-1]:.1f}", file=sys.stderr, flush=True)
            lags.clear()
            since = time.monotonic()


def _run_forever_with_probe(self: asyncio.BaseEventLoop) -> Any:
    self.call_soon(lambda: self.create_task(_probe(), name="loop-lag-probe"))
    return _run_forever(self)


asyncio.BaseEventLoop.run_forever = _run_forever_with_probe  # type: ignore[method-assign]
