"""Where the stream host's CPU goes under load: N emulated calls, the host sampled by py-spy.

Usage: `python bench/profile_host.py [--calls 25] [--turns 2] [--rate 250] [--no-profile] [--nice -10]
[--event-loop uvloop|asyncio] [--ramp SECONDS] [--host-loop-lag] [--realtime] [--idle SECONDS]
[--no-reference]`

The host runs alone on core 1 (`taskset`), the load generator, fakes and moto on core 0, exactly as in
`bench/bench_vs_pipecat.py`. CPU figures are the kernel's (utime + stime of each process from /proc),
not wall-clock time, so a busy machine stretches the run but not the figures much. py-spy samples the
host from core 0, and its stacks are sorted into stages by the deepest frame that names one (`STAGES`);
C code (numpy, webrtcvad, the json scanner, socket calls) counts toward the Python frame that called it.
py-spy's idle detection misses threads parked in a queue or a blocking read, so stacks ending in a wait
(`IDLE_LEAVES`) are counted apart as waiting, not as work. Not part of `make bench`: it needs py-spy
(requirements-dev.txt) and ptrace rights over the host process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen.calls import bench_script  # noqa: E402
from bench.loadgen.figures import GapDetail  # noqa: E402
from bench.loadgen.harness import (  # noqa: E402
    REALTIME_LAUNCHER,
    measure_batch,
    running_fakes,
    running_storage,
    set_realtime,
)
from bench.loadgen.probes import cpu_seconds  # noqa: E402
from bench.loadgen.stats import percentile  # noqa: E402
from bench.loadgen.systems import PRODUCT_PYTHON, OurStreamHost  # noqa: E402

# (stage, pattern over one py-spy frame "function (file:line)"); the deepest matching frame decides.
STAGES: tuple[tuple[str, str], ...] = (
    ("logging", r"\(logging/|observability\.py"),
    ("JSON decode", r"\(json/decoder\.py|json/__init__\.py:\d+\)$|^loads \(|orjson"),
    ("JSON encode", r"\(json/encoder\.py|^dumps \("),
    ("base64", r"\(base64\.py"),
    ("mu-law decode", r"ulaw_to_pcm16|pcm16_to_ulaw"),
    ("VAD (energy gate + WebRTC)", r"is_speech|frame_dbfs"),
    ("echo correlation", r"echo\.py"),
    ("recogniser socket (Scribe adapter)", r"stt_elevenlabs\.py|transcript_feed\.py"),
    (
        "TTS/LLM stream (httpx, pipeline)",
        r"httpx|httpcore|h11|pipeline\.py|tts_elevenlabs|llm_cerebras|openai|cerebras|sentences\.py|"
        r"text_normalization|held_reply",
    ),
    ("websockets framing", r"websockets/"),
    ("twilio frame parse/encode", r"twilio_protocol\.py"),
    (
        "call state + turn-taking",
        r"call_state\.py|detector\.py|playback\.py|interruption\.py|speculation\.py|backchannel\.py|"
        r"end_of_turn\.py|idle\.py|keypad\.py|voicemail\.py|filler\.py|[(/]tools\.py|codec\.py",
    ),
    ("session shell (actions)", r"session\.py|server\.py"),
    ("asyncio event loop + tasks", r"asyncio/|uvloop"),
    ("storage threads (boto3)", r"boto|botocore|urllib3|concurrent/futures|threading\.py"),
)
# Leaf frames that are waits, not work: the loop's epoll, idle pool threads, a boto3 read waiting for moto.
IDLE_LEAVES = re.compile(
    r"^(EpollSelector\.select \(selectors|_worker \(concurrent/futures/thread\.py|"
    r"SocketIO\.readinto \(socket|Condition\.wait \(threading|Event\.wait \(threading|"
    r"QueueListener\.dequeue \(logging)"
)
WAITING = "(waiting: epoll, idle threads)"
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in STAGES)


def stage_of(stack: str) -> str:
    """The stage one collapsed py-spy stack belongs to (frames root first, separated by ';')."""
    frames = stack.split(";")
    if IDLE_LEAVES.search(frames[-1]):
        return WAITING
    for frame in reversed(frames):
        for name, pattern in _COMPILED:
            if pattern.search(frame):
                return name
    return "other"


def stage_breakdown(collapsed: Iterable[str]) -> Counter[str]:
    """Samples per stage from py-spy's raw (collapsed) output lines: `frame;frame;... count`."""
    totals: Counter[str] = Counter()
    for line in collapsed:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            totals[stage_of(stack)] += int(count)
    return totals


def top_frames(collapsed: Iterable[str], limit: int = 25) -> list[tuple[str, int]]:
    """The leaf frames with the most samples (self time)."""
    leaves: Counter[str] = Counter()
    for line in collapsed:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            leaves[stack.split(";")[-1]] += int(count)
    return leaves.most_common(limit)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _user_system(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds of a process (utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _gc_timer(pauses: list[tuple[float, float]]) -> Callable[[str, dict[str, Any]], None]:
    """A `gc.callbacks` entry noting (end, ms) of every collection of this process longer than 20 ms."""
    started = [0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if phase == "start":
            started[0] = now
        elif (now - started[0]) * 1000 > 20:
            pauses.append((now, (now - started[0]) * 1000))

    return timer


async def _idle_cpu_seconds(pid: int, seconds: float) -> float:
    """CPU seconds the host spends over `seconds` with no call on it: its fixed cost, timers and all."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(pid) - before


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def profile(args: argparse.Namespace) -> int:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    out = ROOT / "out" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    extra_env = {"STREAM_EVENT_LOOP": args.event_loop, **dict(kv.split("=", 1) for kv in args.env)}
    if args.host_loop_lag:
        extra_env["PYTHONPATH"] = str(ROOT / "bench" / "loop_lag")  # its sitecustomize.py: the probe
    with contextlib.ExitStack() as stack:
        provider_env: dict[str, str] = stack.enter_context(running_fakes_with_pid())
        fakes_pid = int(provider_env.pop("_FAKES_PID"))
        table, storage_env = stack.enter_context(running_storage(700))
        host = OurStreamHost(
            name="ours", port=_free_port(), core=1, log_path=out / "profile_host.log",
            provider_env={**provider_env, **storage_env, **extra_env}, table=table,
            launcher=REALTIME_LAUNCHER if args.realtime else (),
            python=Path(args.host_python) if args.host_python else PRODUCT_PYTHON,
        )  # fmt: skip
        host.start()
        stack.callback(host.stop)
        assert host.process is not None
        others: list[OurStreamHost] = []
        if args.baseline:
            # The same calls at a second host from another source tree, on the same core at the same
            # time: both see the same machine, so their CPU per call-second compare fairly.
            other = OurStreamHost(
                name="baseline", port=_free_port(), core=1, log_path=out / "profile_baseline.log",
                provider_env={
                    **provider_env, **storage_env, "STREAM_EVENT_LOOP": args.baseline_event_loop,
                    **dict(kv.split("=", 1) for kv in args.baseline_env),
                },
                table=table, source=ROOT / args.baseline,
            )  # fmt: skip
            other.start()
            stack.callback(other.stop)
            others.append(other)
        if args.nice:
            # A shared machine: lift the host, the generator and the fakes above other work (root only).
            hosts_pids = [h.process.pid for h in (host, *others) if h.process is not None]
            for pid in (*hosts_pids, os.getpid(), fakes_pid):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, args.nice)
        if args.realtime:
            # The host runs under chrt; the generator and the fakes (every thread) get the same policy, so
            # other work that lands on core 0 cannot make the phones late either.
            # The generator one step above the fakes: equal SCHED_FIFO threads do not preempt each other.
            set_realtime(fakes_pid, 1)
            set_realtime(os.getpid(), 2)
        for system in (host, *others):
            await measure_batch(system, 1, bench_script(turns=1))  # warm-up, not counted
        idle_cpu = await _idle_cpu_seconds(host.process.pid, args.idle)
        single_p95: float | None = None
        if args.reference:
            # One call on the same script: the batch's p95 is judged against it, as in bench_vs_pipecat.
            single = await measure_batch(host, 1, bench_script(turns=args.turns))
            single_p95 = percentile(single.figures.voice_to_voice_ms, 95)
        spy: subprocess.Popen[bytes] | None = None
        raw = out / "profile_host.collapsed"
        if args.profile:
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
            if py_spy is None:
                print("py-spy not found: pip install -r requirements-dev.txt", file=sys.stderr)
                return 2
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured batch
                ["taskset", "-c", "0", py_spy, "record", "--pid", str(host.process.pid), "--format", "raw",
                 "--rate", str(args.rate), "--output", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
        gc_pauses: list[tuple[float, float]] = []  # the generator's own long collections (none frozen)
        gc.callbacks.append(_gc_timer(gc_pauses))
        load_before = _load()
        own0, fakes0 = _own_cpu(), cpu_seconds(fakes_pid)
        user0, system0 = _user_system(host.process.pid)
        log_offset = host.log_path.stat().st_size
        wall0 = time.perf_counter()
        batch, *other_batches = await asyncio.gather(
            *(
                measure_batch(
                    system,
                    args.calls,
                    bench_script(turns=args.turns),
                    ramp_seconds=args.ramp,
                    single_call_p95_ms=single_p95 if system is host else None,
                )
                for system in (host, *others)
            )
        )
        wall = time.perf_counter() - wall0
        own, fakes = _own_cpu() - own0, cpu_seconds(fakes_pid) - fakes0
        user1, system1 = _user_system(host.process.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        gap_lines = await asyncio.to_thread(
            describe_gaps, host, batch.figures.gap_details, batch.loadgen_stalls
        )
    figures = batch.figures
    call_s = figures.call_seconds
    print(f"command: python bench/profile_host.py {' '.join(sys.argv[1:])}  (host loop: {args.event_loop})")
    print(f"load average before/after: {load_before} / {_load()}  ({os.cpu_count()} cores)")
    ramp = "the default burst" if args.ramp is None else f"{args.ramp:g} s"
    print(
        f"{args.calls} calls, {figures.completed} completed, {call_s:.0f} call-seconds in {wall:.0f} s "
        f"(starts spread over {ramp}; mean call {call_s / max(1, figures.completed):.0f} s); "
        f"problems: {'; '.join(batch.problems) or 'none'}"
    )
    print(
        f"host CPU {batch.cpu_seconds:.2f} s = {batch.cpu_ms_per_call_second:.2f} CPU-ms per call-second; "
        f"RSS {batch.rss_per_call_mb:.2f} MB per call; "
        f"user {user1 - user0:.2f} s, kernel {system1 - system0:.2f} s"
    )
    print(
        f"load generator CPU {own:.2f} s ({own * 1000 / call_s:.2f} ms per call-second), "
        f"fakes CPU {fakes:.2f} s ({fakes * 1000 / call_s:.2f} ms per call-second); "
        f"generator loop lag p99 {batch.loop_lag_p99_ms:.1f} ms, "
        f"max {max(batch.loop_lag_ms, default=0):.0f} ms "
        f"({len(batch.loadgen_stalls)} wake-ups later than 30 ms; its collections over 20 ms: "
        f"{', '.join(f'{ms:.0f}' for _, ms in gc_pauses) or 'none'})"
    )
    if args.idle:
        print(
            f"idle host (no call, after the warm-up call): {idle_cpu * 1000 / args.idle:.2f} CPU-ms "
            f"per second over {args.idle:g} s"
        )
    v2v = figures.voice_to_voice_ms
    print(
        f"voice-to-voice p50 {percentile(v2v, 50):.0f} ms p95 {percentile(v2v, 95):.0f} ms"
        + (f" ({batch.p95_growth:.2f}x one call's p95 of {single_p95:.0f} ms)" if single_p95 else "")
    )
    if figures.gap_details:
        print(f"audio gaps over 100 ms ({len(figures.gap_details)}), with the host's turns around each:")
        for line in gap_lines:
            print("  " + line)
    if args.host_loop_lag:
        with host.log_path.open("rb") as log:
            log.seek(log_offset)
            lines = log.read().decode(errors="replace").splitlines()
        print(describe_loop_lag(loop_lag_seconds(lines), gc_seconds(lines)))
    for base in other_batches:
        print(
            f"baseline {args.baseline} (loop {args.baseline_event_loop}), same calls at the same time: "
            f"{base.figures.completed} completed, {base.cpu_ms_per_call_second:.2f} CPU-ms per call-second, "
            f"RSS {base.rss_per_call_mb:.2f} MB per call, voice-to-voice p50 "
            f"{percentile(base.figures.voice_to_voice_ms, 50):.0f} ms; "
            f"problems: {'; '.join(base.problems) or 'none'}"
        )
    if args.profile and raw.exists():
        lines = raw.read_text().splitlines()
        stages = stage_breakdown(lines)
        waiting = stages.pop(WAITING, 0)
        total = sum(stages.values())
        per_call_s = batch.cpu_ms_per_call_second
        print(
            f"\npy-spy: {total} busy samples at {args.rate} Hz ({waiting} more were waits); "
            "stages by deepest frame (share x CPU-ms/call-s):"
        )
        print(f"{'stage':40} {'share':>7} {'ms/call-s':>10}")
        for name, samples in stages.most_common():
            share = samples / total
            print(f"{name:40} {share * 100:6.1f}% {share * per_call_s:10.2f}")
        print("\nleaf frames (self time):")
        busy = [line for line in lines if not IDLE_LEAVES.search(line.rpartition(" ")[0].split(";")[-1])]
        for frame, samples in top_frames(busy):
            print(f"{samples * 100 / total:6.1f}%  {frame}")
        print(f"\nraw stacks: {raw}")
    return 0


def describe_gaps(
    host: OurStreamHost, gaps: Iterable[GapDetail], loadgen_stalls: Iterable[tuple[float, float]] = ()
) -> list[str]:
    """Each gap, then the turns the host stored for that call within 3 s of it, on the phone's stream
    clock (the host stores wall-clock times; both processes share this machine's clocks), with the
    reply's stage timings (`latency_ms`, ms after the reply started or after the caller's last voice),
    and any stall of the load generator's own loop around it (the phones were not running then)."""
    from callcore.repository import CallRepository

    repository = CallRepository(host.table)
    wall_offset = time.time() - time.monotonic()
    lines = []
    for gap in gaps:
        lines.append(gap.describe())
        lines += [f"    phone {line}" for line in gap.nearby]
        for woke, late_ms in loadgen_stalls:
            at = woke - gap.phone_started_at
            if gap.start_s - 0.5 <= at <= gap.start_s + gap.gap_ms / 1000 + 0.5:
                lines.append(f"    load generator's loop held up {at - late_ms / 1000:.2f} to {at:.2f} s")
        call_id = repository.find_call_id_by_sid(gap.call_sid)
        history = repository.get_call_history(call_id) if call_id else None
        for turn in history.turns if history is not None else ():
            start = turn.started_at - wall_offset - gap.phone_started_at
            end = turn.ended_at - wall_offset - gap.phone_started_at
            if end < gap.start_s - 3 or start > gap.start_s + 3:
                continue
            timings = sorted(turn.latency_ms.items(), key=lambda kv: kv[1])
            stages = ", ".join(f"{k} {v:.0f}" for k, v in timings)
            lines.append(
                f"    {turn.role:9} {start:7.2f}-{end:7.2f} s{' (interrupted)' if turn.interrupted else ''}: "
                f"{turn.text[:60]!r} [{stages}]"
            )
    return lines


def loop_lag_seconds(lines: Iterable[str]) -> list[tuple[float, float]]:
    """(p99, max) in ms of each second the host's loop-lag probe reported (`bench/loop_lag/`)."""
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) in (3, 6) and fields[0] == "LOOPLAG":
            with contextlib.suppress(ValueError):
                found.append((float(fields[1]), float(fields[2])))
    return found


def gc_seconds(lines: Iterable[str]) -> list[tuple[float, float]]:
    """(all collections, the longest) in CPU ms of each second the probe reported."""
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) == 6 and fields[0] == "LOOPLAG":
            with contextlib.suppress(ValueError):
                found.append((float(fields[3]), float(fields[4])))
    return found


def describe_loop_lag(
    seconds: list[tuple[float, float]], gc: list[tuple[float, float]] | None = None, limit_ms: float = 50.0
) -> str:
    if not seconds:
        return "host loop lag: no probe lines (asyncio loop only; uvloop is not probed)"
    worst = max(peak for _, peak in seconds)
    over = sum(1 for _, peak in seconds if peak > limit_ms)
    median_p99 = percentile([p99 for p99, _ in seconds], 50)
    text = (
        f"host loop lag over {len(seconds)} s: median second p99 {median_p99:.1f} ms, "
        f"worst second {worst:.0f} ms; {over} s with a wake-up later than {limit_ms:.0f} ms"
    )
    if gc:
        total = sum(spent for spent, _ in gc)
        text += (
            f"; garbage collector {total / len(gc):.1f} CPU-ms per second, "
            f"longest collection {max(longest for _, longest in gc):.0f} ms"
        )
    return text


@contextlib.contextmanager
def running_fakes_with_pid() -> Iterator[dict[str, str]]:
    """`running_fakes`, plus the fakes' pid (so their CPU can be reported next to the generator's)."""
    from bench.loadgen.fakes import FakeLatencies

    before = set(_children())
    with running_fakes(FakeLatencies()) as env:
        new = [pid for pid in _children() if pid not in before]
        yield {**env, "_FAKES_PID": str(new[0])}


def _children() -> list[int]:
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:
                    pids.append(int(entry.name))
    return pids


def _free_port() -> int:
    from local.storage import free_port

    return free_port()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--nice", type=int, default=0, help="nice value of the benchmark's processes, e.g. -10"
    )
    parser.add_argument(
        "--event-loop", choices=("uvloop", "asyncio"), default="asyncio", help="STREAM_EVENT_LOOP"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        help="spread the call starts over this many seconds (default: a 0.5-3 s burst; turns line up)",
    )
    parser.add_argument(
        "--host-loop-lag",
        action="store_true",
        help="load bench/loop_lag/sitecustomize.py into the host and report its event loop's lateness",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the host, the load generator and the fakes under SCHED_FIFO (priority 1, root only): on a "
        "machine whose other work lands on their cores, this measures the host as if the core were its own "
        "(as a Fargate vCPU is)",
    )
    parser.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first run one call on the same script; the batch fails if its p95 passes 1.2x that call's",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="first measure the host's CPU over this many seconds with no call",
    )
    parser.add_argument(
        "--host-python",
        help="the host's interpreter (default .venv's), e.g. a Python 3.13 venv with stream_server's "
        "requirements",
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the host (repeatable)")
    parser.add_argument("--baseline-env", action="append", default=[], help="KEY=VALUE for the baseline host")
    parser.add_argument("--baseline", help="also run a host from this source tree, side by side")
    parser.add_argument("--baseline-event-loop", choices=("uvloop", "asyncio"), default="asyncio")
    return asyncio.run(profile(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
