"""The side-by-side run: start the fakes and both systems, drive the same calls at each, collect figures.

Layout on a 2-core machine: core 1 runs the system under test (one at a time is loaded; the other
idles), core 0 runs this load generator, the fakes and moto. Batches alternate between the systems
so slow drift of the machine (thermal, page cache) lands on both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bench.loadgen.calls import bench_script, run_calls
from bench.loadgen.fakes import FakeLatencies
from bench.loadgen.figures import CallFigures, call_figures, reply_turns, trailing_silence_ms
from bench.loadgen.probes import BacklogSampler, LoopLagProbe, cpu_seconds, rss_bytes
from bench.loadgen.stages import phone_waterfall, reply_stages
from bench.loadgen.stats import percentile
from bench.loadgen.systems import AUTH_TOKEN, ROOT, OurStreamHost, PipecatBot, SystemUnderTest, wait_ready
from local.twilio_emulator.caller import CallerScript
from local.twilio_emulator.voice import render_speech

__all__ = [
    "BatchResult",
    "BenchPlan",
    "measure_batch",
    "run_bench",
    "running_fakes",
    "running_storage",
    "set_realtime",
]

GAP_LIMIT_MS = 100.0
# More than ~5 unread media frames (about 100 ms of caller audio) on one socket is a backlog.
BACKLOG_LIMIT_BYTES = 2048
# If the load generator's own loop wakes this late (p99), the step measured the generator.
LOADGEN_LATENESS_LIMIT_MS = 60.0
# At the knee, voice-to-voice p95 stays within this factor of one call's (issue 17).
P95_GROWTH_LIMIT = 1.2
ELEVENLABS_KEY = "bench-elevenlabs-key"
CEREBRAS_KEY = "bench-cerebras-key"


@dataclass(frozen=True)
class BenchPlan:
    """What one run measures. Latency: each round runs a batch of every size in `latency_calls`
    (simultaneous calls) on each system; capacity: the steps in order until one fails (our host's
    `capacity_steps`, Pipecat's `pipecat_capacity_steps`: each set of steps brackets that system's knee)."""

    latency_calls: tuple[int, ...]
    latency_rounds: int
    latency_turns: int
    capacity_steps: tuple[int, ...]
    capacity_turns: int
    systems: tuple[str, ...] = ("ours", "pipecat")
    pipecat_capacity_steps: tuple[int, ...] = ()
    # SCHED_FIFO for the systems, the fakes and the load generator (root only): other work on the
    # machine then cannot land on their cores, so a step measures the system, not the neighbours.
    realtime: bool = False

    @classmethod
    def full(cls) -> BenchPlan:
        # "ours-uvloop": our host on libuv's loop (STREAM_EVENT_LOOP=uvloop), to show what uvloop buys.
        # Steps that bracket both knees (Pipecat 3-25, ours 100-200); each system stops at its first failed
        # step, and every step's calls start together.
        return cls(
            latency_calls=(1, 10),
            latency_rounds=3,
            latency_turns=4,
            capacity_steps=(1, 25, 50, 75, 100, 125, 150, 175, 200),
            capacity_turns=3,
            systems=("ours", "ours-uvloop", "pipecat"),
            pipecat_capacity_steps=(1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50),
            realtime=os.geteuid() == 0,
        )

    @classmethod
    def quick(cls) -> BenchPlan:
        return cls((1, 3), 1, 2, (2,), 2, pipecat_capacity_steps=(2,))


@dataclass
class BatchResult:
    system: str
    calls: int
    figures: CallFigures
    cpu_seconds: float
    rss_before: int
    rss_peak: int
    backlog_samples: list[int] = field(default_factory=list)
    loop_lag_ms: list[float] = field(default_factory=list)
    loadgen_stalls: list[tuple[float, float]] = field(default_factory=list)  # see LoopLagProbe.stalls
    stages: list[dict[str, float]] = field(default_factory=list)  # ours only: see bench/loadgen/stages.py
    # The same system's p95 with one call on the same script: the knee's reference (None: not judged).
    single_call_p95_ms: float | None = None
    # Both systems, batches of one call only (the fakes' milestones cannot be told apart between calls).
    waterfall: list[dict[str, float]] = field(default_factory=list)

    @property
    def loop_lag_p99_ms(self) -> float:
        return percentile(self.loop_lag_ms, 99) if self.loop_lag_ms else 0.0

    @property
    def backlog_p99(self) -> float:
        return percentile(self.backlog_samples, 99) if self.backlog_samples else 0.0

    @property
    def loadgen_limited(self) -> bool:
        return self.loop_lag_p99_ms > LOADGEN_LATENESS_LIMIT_MS

    @property
    def problems(self) -> list[str]:
        found = []
        if self.figures.completed < self.calls:
            found.append(f"{self.calls - self.figures.completed} calls did not complete")
        if self.figures.gaps_ms:
            found.append(f"{len(self.figures.gaps_ms)} gaps > {GAP_LIMIT_MS:.0f} ms")
        if self.backlog_p99 > BACKLOG_LIMIT_BYTES:
            found.append(f"inbound backlog p99 {self.backlog_p99:.0f} B")
        if self.loadgen_limited:
            found.append(f"load generator loop lag {self.loop_lag_p99_ms:.0f} ms p99")
        if self.p95_growth > P95_GROWTH_LIMIT:
            found.append(
                f"voice-to-voice p95 {self.p95_growth:.2f}x one call's {self.single_call_p95_ms:.0f} ms"
            )
        return found

    @property
    def p95_growth(self) -> float:
        """Voice-to-voice p95 over one call's (0 when there is no reference or no turn)."""
        v2v = self.figures.voice_to_voice_ms
        if not self.single_call_p95_ms or not v2v:
            return 0.0
        return percentile(v2v, 95) / self.single_call_p95_ms

    @property
    def cpu_ms_per_call_second(self) -> float:
        seconds = self.figures.call_seconds
        return self.cpu_seconds * 1000 / seconds if seconds else math.nan

    @property
    def rss_per_call_mb(self) -> float:
        return (self.rss_peak - self.rss_before) / self.calls / 2**20

    def summary(self) -> dict[str, Any]:
        f = self.figures
        return {
            "system": self.system,
            "calls": self.calls,
            "completed": f.completed,
            "v2v_ms": f.voice_to_voice_ms,
            "barge_in_ms": f.barge_in_ms,
            "barge_in_clear_ms": f.barge_in_clear_ms,
            "gaps_ms": f.gaps_ms,
            "send_lateness_p99_ms": f.send_lateness_p99_ms,
            "loadgen_loop_lag_p99_ms": self.loop_lag_p99_ms,
            "backlog_p99_bytes": self.backlog_p99,
            "cpu_ms_per_call_second": self.cpu_ms_per_call_second,
            "rss_per_call_mb": self.rss_per_call_mb,
            "rss_before_mb": self.rss_before / 2**20,
            "single_call_p95_ms": self.single_call_p95_ms,
            "problems": self.problems,
            "errors": f.errors[:5],
            "stages": self.stages,
            "waterfall": self.waterfall,
        }


@cache
def _tail_ms(text: str) -> float:
    return trailing_silence_ms(render_speech(text))


def read_milestones(path: Path | None, start: float, end: float) -> list[tuple[float, str]]:
    """The fakes' milestones (see bench/loadgen/fakes.py) noted between `start` and `end`."""
    if path is None or not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError, TypeError):
            at, name = json.loads(line)
            if start <= float(at) <= end:
                found.append((float(at), str(name)))
    return found


async def measure_batch(
    system: SystemUnderTest,
    count: int,
    script: CallerScript,
    *,
    milestones: Path | None = None,
    ramp_seconds: float | None = None,
    single_call_p95_ms: float | None = None,
) -> BatchResult:
    """Run `count` simultaneous calls against `system` and read every figure of that batch.

    Starts are spread over `ramp_seconds` (default: a 0.5-3 s burst, so every call's turns line up).
    `single_call_p95_ms`: judge the batch's voice-to-voice p95 against it (`P95_GROWTH_LIMIT`)."""
    assert system.process is not None
    pid = system.process.pid
    for utterance in script.utterances:  # render (and cache) speech before the clock matters
        _tail_ms(utterance.text)
    # The phones' own full collections walked the generator's start-up heap (numpy, websockets, rendered
    # speech) and held every phone for 130-160 ms at 100 calls; a phone that stops back-dates the audio it
    # had and counts the rest as silence: a gap the system under test did not cause. Frozen, as the host's.
    # Frozen alone, a 66 s batch still grew a heap whose full collections took 80-130 ms: no collection runs
    # while the phones are on the line (a batch's garbage is small; it is collected right after).
    gc.collect()
    gc.freeze()
    gc.disable()
    cpu_before, rss_before = cpu_seconds(pid), rss_bytes(pid)
    sampler = BacklogSampler(port=system.port, pid=pid)
    stop = asyncio.Event()
    lag = LoopLagProbe()
    sampling = asyncio.create_task(sampler.run(stop))
    lagging = asyncio.create_task(lag.run(stop))
    try:
        results = await run_calls(
            count,
            url=system.stream_url,
            auth_token=AUTH_TOKEN,
            parameters_for=system.parameters_for,
            script=script,
            ramp_seconds=min(3.0, 0.02 * count + 0.5) if ramp_seconds is None else ramp_seconds,
        )
    finally:
        stop.set()
        await sampling
        await lagging
        gc.enable()
    cpu_used = cpu_seconds(pid) - cpu_before
    stages = await asyncio.to_thread(_stored_stages, system, [r.call_sid for r in results])
    waterfall: list[dict[str, float]] = []
    if count == 1 and milestones is not None:
        call = results[0]
        window = read_milestones(
            milestones, call.started_at, call.started_at + (call.sent_at or [0.0])[-1] + 1.0
        )
        waterfall = phone_waterfall(reply_turns(call, _tail_ms), window)
    return BatchResult(
        system=system.name,
        calls=count,
        figures=call_figures(results, _tail_ms),
        cpu_seconds=cpu_used,
        rss_before=rss_before,
        rss_peak=max(sampler.peak_rss, rss_before),
        backlog_samples=sampler.samples,
        loop_lag_ms=lag.lags_ms,
        loadgen_stalls=lag.stalls,
        stages=stages,
        waterfall=waterfall,
        single_call_p95_ms=single_call_p95_ms,
    )


def _stored_stages(system: SystemUnderTest, call_sids: list[str]) -> list[dict[str, float]]:
    """Per-stage timings of our host's replies, from the turns it stored (none for Pipecat)."""
    table = getattr(system, "table", None)
    if table is None:
        return []
    from callcore.repository import CallRepository

    repository = CallRepository(table)
    stages: list[dict[str, float]] = []
    for _ in range(20):  # the host persists turns off the audio path: give the last ones a moment
        stages = []
        complete = True
        for call_sid in call_sids:
            call_id = repository.find_call_id_by_sid(call_sid)
            history = repository.get_call_history(call_id) if call_id else None
            if history is None or history.record.ended_at is None:
                complete = False
                continue
            stages += reply_stages(history.turns)
        if complete:
            break
        time.sleep(0.25)
    return stages


@contextlib.contextmanager
def running_fakes(
    latencies: FakeLatencies, *, core: int = 0, milestones: Path | None = None, realtime: bool = False
) -> Iterator[dict[str, str]]:
    """The shared fakes in their own process; yields the provider environment for both systems.
    `milestones`: the file where they note each request's milestones (emptied first); `realtime`:
    under SCHED_FIFO priority 1 (root only)."""
    from local.storage import free_port

    if milestones is not None:
        milestones.write_text("")
    eleven_port, cerebras_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            "taskset", "-c", str(core), *(REALTIME_LAUNCHER if realtime else ()),
            sys.executable, "-m", "bench.loadgen.fakes",
            "--elevenlabs-port", str(eleven_port), "--cerebras-port", str(cerebras_port),
            "--elevenlabs-key", ELEVENLABS_KEY, "--cerebras-key", CEREBRAS_KEY,
            *(["--milestones", str(milestones)] if milestones is not None else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"fakes failed to start: {line!r}")
        yield {
            "ELEVENLABS_BASE_URL": f"http://127.0.0.1:{eleven_port}",
            "ELEVENLABS_API_KEY": ELEVENLABS_KEY,
            "CEREBRAS_BASE_URL": f"http://127.0.0.1:{cerebras_port}",
            "CEREBRAS_API_KEY": CEREBRAS_KEY,
            "CEREBRAS_MODEL": "gpt-oss-120b",
        }
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def running_storage(persona_silence_ms: int = 700, *, core: int = 0) -> Iterator[tuple[Any, dict[str, str]]]:
    """moto's DynamoDB in its own process (not a thread here: its GIL time would show up as load
    generator lag), with the template's table and the bench persona; yields (table, env)."""
    from callcore.repository import CallRepository

    from bench.loadgen.records import bench_persona
    from local.storage import FAKE_AWS_ENV, create_table, free_port

    port = free_port()
    server = [sys.executable, "-m", "bench.loadgen.storage_server"]  # moto, without whole-table copies
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *server, "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{endpoint}/moto-api/", timeout=30)
        table = create_table(endpoint, ROOT / "template.yaml", "bench-calls")
        CallRepository(table).put_persona(bench_persona(end_of_turn_silence_ms=persona_silence_ms))
        yield table, {"TABLE_NAME": "bench-calls", "DYNAMODB_ENDPOINT": endpoint, **FAKE_AWS_ENV}
    finally:
        process.terminate()
        process.wait(timeout=10)


REALTIME_LAUNCHER = ("chrt", "-f", "1")


def set_realtime(pid: int, priority: int = 1) -> None:
    """SCHED_FIFO at `priority` for every thread of a process (root only; a no-op otherwise)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setscheduler(int(task.name), os.SCHED_FIFO, os.sched_param(priority))


def our_host_available() -> bool:
    return (ROOT / "stream_server" / "__main__.py").exists()


def pipecat_available() -> bool:
    from bench.loadgen.systems import BENCH_PYTHON

    return BENCH_PYTHON.exists()


async def run_bench(
    plan: BenchPlan,
    *,
    latencies: FakeLatencies,
    log_dir: Path,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Everything in the plan; returns the raw results (JSON-ready)."""
    from local.storage import free_port

    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {0})
    log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any call
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": os.cpu_count(),
        "plan": asdict(plan),
        "latencies": asdict(latencies),
        "endpointing_ms": 700,
        "missing": {},
        "cold_start_s": {},
        "latency": [],
        "capacity": [],
    }
    with contextlib.ExitStack() as stack:
        milestones = log_dir / "fake_milestones.jsonl"
        provider_env = stack.enter_context(
            running_fakes(latencies, milestones=milestones, realtime=plan.realtime)
        )
        launcher = REALTIME_LAUNCHER if plan.realtime else ()
        if plan.realtime:
            # One step above the fakes: equal SCHED_FIFO threads do not preempt each other, and a late
            # phone would be counted against the system under test.
            set_realtime(os.getpid(), 2)
        systems: dict[str, SystemUnderTest] = {}
        ours = [name for name in plan.systems if name.startswith("ours")]
        if ours and not our_host_available():
            report["missing"]["ours"] = "stream_server has no __main__ yet"
        elif ours:
            table, storage_env = stack.enter_context(running_storage(report["endpointing_ms"]))
            for name in ours:
                event_loop = "uvloop" if name == "ours-uvloop" else "asyncio"
                systems[name] = OurStreamHost(
                    name=name, port=free_port(), core=1, log_path=log_dir / f"{name}.log",
                    provider_env={**provider_env, **storage_env, "STREAM_EVENT_LOOP": event_loop},
                    table=table, launcher=launcher,
                )  # fmt: skip
        if "pipecat" in plan.systems:
            if pipecat_available():
                systems["pipecat"] = PipecatBot(
                    name="pipecat", port=free_port(), core=1, log_path=log_dir / "pipecat.log",
                    provider_env={**provider_env, "END_OF_TURN_SILENCE_MS": str(report["endpointing_ms"])},
                    launcher=launcher,
                )  # fmt: skip
            else:
                report["missing"]["pipecat"] = ".venv-bench missing: run bench/setup_bench_env.sh"
        for name, why in report["missing"].items():
            say(f"!! {name} skipped: {why}")
        for name, system in systems.items():
            system.start()
            stack.callback(system.stop)
            report["cold_start_s"][name] = system.cold_start_s
            say(f"{name}: ready in {system.cold_start_s * 1000:.0f} ms")
            await measure_batch(system, 1, bench_script(turns=1))  # warm-up, not counted

        for round_index in range(plan.latency_rounds):
            for calls in plan.latency_calls:
                for name, system in systems.items():
                    batch = await measure_batch(
                        system, calls, bench_script(turns=plan.latency_turns), milestones=milestones
                    )
                    report["latency"].append(batch.summary())
                    say(f"latency round {round_index + 1} {name} N={calls}: {_brief(batch)}")

        script = bench_script(turns=plan.capacity_turns)
        for name, system in systems.items():
            steps = plan.pipecat_capacity_steps if name == "pipecat" else plan.capacity_steps
            # One call on the same script first: the reference every later step's p95 is judged against.
            steps = (1, *(n for n in steps if n != 1)) if steps else ()
            single: float | None = None
            for count in steps:
                batch = await measure_batch(system, count, script, single_call_p95_ms=single)
                if count == 1:
                    single = percentile(batch.figures.voice_to_voice_ms, 95)
                report["capacity"].append(batch.summary())
                say(f"capacity {name} N={count}: {_brief(batch)}")
                if batch.problems:
                    break
    return report


def _brief(batch: BatchResult) -> str:
    f = batch.figures
    return (
        f"{f.completed}/{batch.calls} done, v2v p50 {percentile(f.voice_to_voice_ms, 50):.0f} ms, "
        f"barge-in p50 {percentile(f.barge_in_ms, 50):.0f} ms, "
        f"cpu {batch.cpu_ms_per_call_second:.1f} ms/call-s, "
        f"rss {batch.rss_per_call_mb:.2f} MB/call, backlog p99 {batch.backlog_p99:.0f} B, "
        f"v2v p95 {percentile(f.voice_to_voice_ms, 95):.0f} ms"
        + (f"  PROBLEMS: {'; '.join(batch.problems)}" if batch.problems else "")
    )


def save(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=float))
    return path
