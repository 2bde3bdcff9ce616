"""What the kernel says about the process under test: CPU time, resident memory, unread socket bytes.

Read from /proc so the system under test needs no instrumentation of its own (Pipecat has none of
ours). Linux only, like the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
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


_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_DONE = 3
_NLMSG_ERROR = 2
_TCP_ESTABLISHED = 1
_NETLINK_SOCK_DIAG = 4


def _established_via_netlink() -> list[tuple[int, int]]:
    """(local port, unread bytes) of every established IPv4 TCP socket, from the kernel's sock_diag.

    One netlink dump asks only for established sockets; /proc/net/tcp instead prints every socket of
    the machine as text (TIME_WAIT included), which costs the caller milliseconds per read.
    """
    request = struct.pack(
        "=IHHII" + "BBBBI" + "HH16s16sI8s",
        72, _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0,
        socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_ESTABLISHED,
        0, 0, b"", b"", 0, b"",
    )  # fmt: skip
    found: list[tuple[int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.sendto(request, (0, 0))
        while True:
            data = nl.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR or length < 16:
                    raise OSError("sock_diag dump failed")
                # inet_diag_msg: family, state, timer, retrans, then the socket id (sport first, big-endian).
                (sport,) = struct.unpack_from("!H", data, offset + 16 + 4)
                (rqueue,) = struct.unpack_from("=I", data, offset + 16 + 4 + 48 + 4)
                found.append((sport, rqueue))
                offset += (length + 3) & ~3


def _established_via_proc() -> list[tuple[int, int]]:
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, queues_hex = parts[1], parts[3], parts[4]
            if state == "01":
                found.append((int(local.rsplit(":", 1)[1], 16), int(queues_hex.split(":")[1], 16)))
    return found


def socket_backlogs(port: int) -> list[int]:
    """Unread bytes (Recv-Q) of every established TCP socket whose local port is `port`.

    These are inbound frames the server has not read yet: the direct sign it is falling behind.
    """
    try:
        sockets = _established_via_netlink()
    except OSError:
        sockets = _established_via_proc()
    return [queued for local, queued in sockets if local == port]


@dataclass
class BacklogSampler:
    """Samples the server's socket backlogs and memory every `every` seconds while running.

    Backlogs come from one sock_diag netlink dump of established sockets; the /proc/net/tcp fallback
    makes the kernel print every TCP socket of the machine (about 11 ms of the load generator's core for
    1,200 sockets on a shared machine); the dump costs under 1 ms.
    """

    port: int
    pid: int
    every: float = 0.1
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
    # (when it woke, on the loop's monotonic clock; ms late) for every wake-up later than `stall_ms`:
    # the phones were not running then, so audio they play back-dates and gaps they see may be their own.
    stalls: list[tuple[float, float]] = field(default_factory=list)
    stall_ms: float = 30.0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(self.every)
            woke = loop.time()
            lag = (woke - before - self.every) * 1000
            self.lags_ms.append(lag)
            if lag > self.stall_ms:
                self.stalls.append((woke, lag))
