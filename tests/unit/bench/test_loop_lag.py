"""The host loop-lag probe of `bench/profile_host.py --host-loop-lag`: its lines are read back, and it
really measures a loop that a callback keeps busy."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.profile_host import describe_loop_lag, gc_seconds, loop_lag_seconds


def test_probe_lines_are_picked_out_of_the_host_log() -> None:
    log = [
        '{"level": "INFO", "message": "LOOPLAG is a word in a message"}',
        "LOOPLAG 3.5 12.0",
        "LOOPLAG 80.0 640.5",
        "LOOPLAG oops 1",
        "LOOPLAG 60.0 130.0 95.5 90.0 2",
    ]
    seconds = loop_lag_seconds(log)
    assert seconds == [(3.5, 12.0), (80.0, 640.5), (60.0, 130.0)]
    assert gc_seconds(log) == [(95.5, 90.0)]
    assert "worst second 640 ms; 2 s with a wake-up later than 50 ms" in describe_loop_lag(seconds)
    described = describe_loop_lag(seconds, gc_seconds(log))
    assert "garbage collector 95.5 CPU-ms per second, longest collection 90 ms" in described
    assert "no probe lines" in describe_loop_lag([])


@contextlib.contextmanager
def _installed_probe(name: str) -> Iterator[Any]:
    """The probe loaded as `sitecustomize` loads it (it patches the event loop and registers a
    collector callback); both are undone afterwards."""
    path = Path(__file__).resolve().parents[3] / "bench" / "loop_lag" / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    original = asyncio.BaseEventLoop.run_forever
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        asyncio.BaseEventLoop.run_forever = original  # type: ignore[method-assign]
        with contextlib.suppress(ValueError, AttributeError):
            gc.callbacks.remove(module._on_collection)


def test_the_probe_reports_a_loop_that_a_callback_blocks() -> None:
    stderr = io.StringIO()
    with _installed_probe("loop_lag_probe_under_test"):

        async def busy_then_idle() -> None:
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # noqa: ASYNC251 - on purpose: a callback that holds the loop for 300 ms
            await asyncio.sleep(1.2)

        with contextlib.redirect_stderr(stderr):
            asyncio.run(busy_then_idle())
    lines = stderr.getvalue().splitlines()
    seconds = loop_lag_seconds(lines)
    assert seconds and max(peak for _, peak in seconds) >= 250.0
    stalls = [line for line in lines if line.startswith("STALL ")]
    # The watchdog names what held the loop (on a loaded machine the scheduler may add stalls of its own).
    assert any("busy_then_idle" in stall for stall in stalls), stalls
    assert not any(thread.name == "loop-stall-watch" for thread in threading.enumerate())


def test_the_probe_counts_the_garbage_collectors_time() -> None:
    with _installed_probe("loop_lag_probe_gc") as module:
        gc.collect()
        assert module._gc["longest"] > 0.0 and module._gc["generation"] == 2
