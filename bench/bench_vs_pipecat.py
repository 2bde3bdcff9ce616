"""Our stream host next to a Pipecat bot on the same emulated Twilio calls, same fakes, one core each.

Usage: `python bench/bench_vs_pipecat.py [--quick] [--only ours|pipecat] [--latency-only]
[--capacity-steps 25,50] [--pipecat-capacity-steps 3,5] [--realtime | --no-realtime] [--docs]`. Needs
`.venv-bench` for the Pipecat side (bench/setup_bench_env.sh). The full run writes
docs/performance.md and its plots unless `--no-docs`; `--quick` only prints.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script by bench/__main__.py
    sys.path.insert(0, str(ROOT))

from bench.loadgen.fakes import FakeLatencies  # noqa: E402
from bench.loadgen.harness import BenchPlan, run_bench, save  # noqa: E402
from bench.loadgen.systems import BENCH_PYTHON  # noqa: E402
from bench.loadgen.tables import format_table, format_waterfall  # noqa: E402
from bench.waterfall import stage_medians  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one small round, under 2 minutes")
    parser.add_argument("--only", choices=("ours", "pipecat"), help="run one system only")
    parser.add_argument(
        "--latency-only", action="store_true", help="voice-to-voice rounds only, no capacity steps"
    )
    parser.add_argument(
        "--capacity-steps",
        help="our host's call counts instead of the plan's (e.g. 25,50; a 1-call reference step comes "
        "first); with no latency rounds",
    )
    parser.add_argument(
        "--pipecat-capacity-steps", help="Pipecat's call counts instead of the plan's (e.g. 3,5)"
    )
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SCHED_FIFO for both systems, the fakes and the load generator (default: on when root)",
    )
    parser.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/performance.md and docs/img/ (default: on for full runs)",
    )
    args = parser.parse_args(argv)
    plan = BenchPlan.quick() if args.quick else BenchPlan.full()
    if args.only:
        plan = BenchPlan(**{**plan.__dict__, "systems": (args.only,)})
    if args.latency_only:
        plan = BenchPlan(**{**plan.__dict__, "capacity_steps": (), "pipecat_capacity_steps": ()})
    for field in ("capacity_steps", "pipecat_capacity_steps"):
        if getattr(args, field):
            steps = tuple(int(n) for n in getattr(args, field).split(","))
            plan = BenchPlan(**{**plan.__dict__, field: steps, "latency_rounds": 0})
    if args.realtime is not None:
        plan = BenchPlan(**{**plan.__dict__, "realtime": args.realtime})
    out = ROOT / "out" / "bench"
    report = asyncio.run(run_bench(plan, latencies=FakeLatencies(), log_dir=out))
    report["command"] = "python " + " ".join(["bench/bench_vs_pipecat.py", *(argv or sys.argv[1:])])
    results = save(report, out / "vs_pipecat.json")
    print()
    print(format_table(report))
    print()
    print(format_waterfall(report))
    print("\nours, milestones after the caller's last voice (p50 ms; 'heard' = voice-to-voice at the phone):")
    for calls in sorted({b["calls"] for b in report["latency"]}):
        medians = stage_medians(report, "ours", calls)
        print(f"  {calls:>3} call(s): " + ", ".join(f"{k} {v:.0f}" for k, v in medians.items()))
    print(f"\nraw results: {results}")
    write_docs = args.docs if args.docs is not None else not args.quick
    if write_docs:
        if BENCH_PYTHON.exists():
            for script in ("report.py", "waterfall.py"):
                subprocess.run([str(BENCH_PYTHON), str(ROOT / "bench" / script), str(results)], check=True)
        else:
            print("docs not written: .venv-bench (matplotlib) is missing", file=sys.stderr)
    return 1 if report["missing"] and not args.only else 0


if __name__ == "__main__":
    raise SystemExit(main())
