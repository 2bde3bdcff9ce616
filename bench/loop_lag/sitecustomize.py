"""Loop-lag probe for a benchmarked host process, loaded by Python at start-up (bench only).

`bench/profile_host.py --host-loop-lag` puts this folder on the host's PYTHONPATH, so the interpreter
imports it as `sitecustomize` before `python -m stream_server` runs. It wraps the event loop's
`run_forever` to start one task that sleeps 10 ms at a time and notes how late it woke; once a second it
writes `LOOPLAG <p99 ms> <max ms> <gc ms> <longest gc ms> <its generation>` to stderr (the host's log):
lateness is what every callback on that loop waited in that second (CPU work of other callbacks, the
GIL, the process not being scheduled); the gc figures are the thread CPU time the cyclic garbage
collector spent in that second (all collections, and the longest one), which stops the loop as long.
A watchdog thread also writes `STALL <ms> ran <ms> <stack>` whenever the loop has not ticked for 50 ms:
how long, how much of it the loop thread spent on the CPU (close to the first figure: its own work held
it; far below: it was not running, waiting for the core, the GIL or a blocking call), and its stack.
Nothing of the product imports this.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import traceback
from typing import Any

_TICK_S = 0.01
_STALL_MS = 50.0
_run_forever = asyncio.BaseEventLoop.run_forever
_last_tick = [time.monotonic(), time.thread_time()]
_gc = {"started": 0.0, "total": 0.0, "longest": 0.0, "generation": -1}


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc["started"] = time.thread_time()
        return
    spent = (time.thread_time() - _gc["started"]) * 1000.0
    _gc["total"] += spent
    if spent > _gc["longest"]:
        _gc["longest"], _gc["generation"] = spent, info["generation"]


def _watch(loop_thread: int, stopped: threading.Event) -> None:
    loop_clock = time.pthread_getcpuclockid(loop_thread)
    reported = ""  # "" nothing yet; "waiting": the loop was idle in select (the OS ran it late); "busy"
    while not stopped.wait(0.005):
        late = (time.monotonic() - _last_tick[0]) * 1000.0
        if late < _STALL_MS / 2:
            reported = ""
        if late <= _STALL_MS or reported == "busy":
            continue
        frame = sys._current_frames().get(loop_thread)
        stack = traceback.extract_stack(frame)[-8:] if frame is not None else []
        state = "waiting" if stack and stack[-1].name == "select" else "busy"
        if state == reported:
            continue
        # A stall that began while the loop waited in select, and goes on in a callback, is named
        # again by that callback: the first look alone would blame the wait.
        where = " <- ".join(f"{f.name}({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in stack[::-1])
        ran = (time.clock_gettime(loop_clock) - _last_tick[1]) * 1000.0
        print(f"STALL {late:.0f} ran {ran:.0f} {where}", file=sys.stderr, flush=True)
        reported = state


async def _probe() -> None:
    lags: list[float] = []
    since = time.monotonic()
    while True:
        before = time.monotonic()
        await asyncio.sleep(_TICK_S)
        now = _last_tick[0] = time.monotonic()
        _last_tick[1] = time.thread_time()
        lags.append((now - before - _TICK_S) * 1000.0)
        if now - since >= 1.0:
            lags.sort()
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(
                f"LOOPLAG {p99:.1f} {lags[-1]:.1f} "
                f"{_gc['total']:.1f} {_gc['longest']:.1f} {_gc['generation']}",
                file=sys.stderr,
                flush=True,
            )
            lags.clear()
            _gc.update(total=0.0, longest=0.0, generation=-1)
            since = now


def _run_forever_with_probe(self: asyncio.BaseEventLoop) -> Any:
    # The clock starts with this loop, not at import: the time between them is no stall of this loop.
    _last_tick[:] = [time.monotonic(), time.thread_time()]
    stopped = threading.Event()
    watch = threading.Thread(
        target=_watch, args=(threading.get_ident(), stopped), daemon=True, name="loop-stall-watch"
    )
    watch.start()
    self.call_soon(lambda: self.create_task(_probe(), name="loop-lag-probe"))
    try:
        return _run_forever(self)
    finally:
        stopped.set()
        watch.join()


gc.callbacks.append(_on_collection)
if os.environ.get("BENCH_GC_THRESHOLD"):  # an experiment's collector thresholds, e.g. "7000,10,10"
    gc.set_threshold(*(int(n) for n in os.environ["BENCH_GC_THRESHOLD"].split(",")))
asyncio.BaseEventLoop.run_forever = _run_forever_with_probe  # type: ignore[method-assign]
