"""What the kernel says about the process under test: CPU time, resident memory, unread socket bytes.

Read from /proc so the system under test needs no instrumentation of its own (Pipecat has none of
ours). Linux only, like the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field

__all__ = ["BacklogSampler", "LoopLagProbe", "cpu_seconds", "rss_bytes", "socket_backlogs"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as handle:
        # The command name may contain spaces; fields resume after its closing parenthesis.
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE


def socket_backlogs(port: int) -> list[int]:
    """Unread bytes (Recv-Q) of every established TCP socket whose local port is `port`.

    These are inbound frames the server has not read yet: the direct sign it is falling behind.
    """
    queues = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, queues_hex = parts[1], parts[3], parts[4]
            if state != "01" or int(local.rsplit(":", 1)[1], 16) != port:
                continue
            queues.append(int(queues_hex.split(":")[1], 16))
    return queues


@dataclass
class BacklogSampler:
    """Samples the server's socket backlogs and memory every `every` seconds while running.

    Reading /proc/net/tcp makes the kernel print every TCP socket of the machine (about 11 ms of the
    load generator's core for 1,200 sockets on a shared machine), so it is read four times a second,
    not ten: a backlog that matters lasts longer than that.
    """

    port: int
    pid: int
    every: float = 0.25
    samples: list[int] = field(default_factory=list)
    peak_rss: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.samples.extend(socket_backlogs(self.port))
            try:
                self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
            except OSError:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)


@dataclass
class LoopLagProbe:
    """How late the load generator's own event loop wakes up (ms), sampled every `every` seconds.

    Send lateness alone cannot tell a slow generator from a server that stopped reading (flow
    control makes the sender wait); oversleep of an idle timer on the generator's loop can.
    """

    every: float = 0.01
    lags_ms: list[float] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(self.every)
            self.lags_ms.append((loop.time() - before - self.every) * 1000)
