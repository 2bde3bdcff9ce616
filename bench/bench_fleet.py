"""Fleet sizing: the autoscaling policy against a synthetic day (bench/fleet_sim.py), printed.

Usage: `python bench/bench_fleet.py [--quick] [--calls-per-task 60] [--cpu-ms 8] [--vcpu 1] [--memory-gb 2]
[--max-tasks 70]`

For the task's hard cap (`CallsPerTask`, from the measured knee with headroom: docs/performance.md) it
prints (1) today's template policy, (2) target tracking alone at several targets, and (3) the cheapest
policy found with no refused call: the target and the scheduled floor before the morning peak. For
each: calls refused, peak tasks, and cost per call-hour. Then the tasks over the morning of that policy.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fleet_sim import DayResult, FleetPolicy, SyntheticDay, simulate  # noqa: E402

PEAK_FLOOR_FROM = 7 * 3600 + 30 * 60  # 07:30, half an hour before the peak
PEAK_FLOOR_UNTIL = 12 * 3600
FLOOR_MARGIN = 1.1  # the floor used is 10 % above the least one that refused no call on every seed


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _line(label: str, result: DayResult, seeds_refused: list[int] | None = None) -> str:
    refused = f"{result.refused}" if seeds_refused is None else "/".join(str(r) for r in seeds_refused)
    return (
        f"{label:44} refused {refused:>12}  peak tasks {result.peak_tasks:3d}  "
        f"busiest task {result.max_calls_on_a_task:3d} calls  ${result.cost:7.2f}/day  "
        f"${result.cost_per_call_hour:.4f}/call-hour"
    )


def _with_floor(policy: FleetPolicy, floor: int) -> FleetPolicy:
    schedule = ((PEAK_FLOOR_FROM, floor), (PEAK_FLOOR_UNTIL, policy.min_tasks)) if floor else ()
    return replace(policy, scheduled_floor=schedule)


def cheapest_clean(
    base: FleetPolicy, day: SyntheticDay, targets: list[float], seeds: list[int]
) -> FleetPolicy | None:
    """The cheapest (target, scheduled floor) with no refused call on any of these seeds, floor + 10 %."""

    def refuses(policy: FleetPolicy) -> bool:
        return any(simulate(policy, day, seed=seed).refused for seed in seeds)

    peak = max(c for _, c in day.points)
    best: tuple[float, FleetPolicy] | None = None
    for target in targets:
        policy = replace(base, target_calls_per_task=target)
        low = 0
        high = math.ceil(peak / (0.9 * target)) + 2
        if refuses(_with_floor(policy, high)):
            continue
        while low < high:  # the smallest floor with no refusal (more floor never refuses more)
            mid = (low + high) // 2
            if refuses(_with_floor(policy, mid)):
                low = mid + 1
            else:
                high = mid
        candidate = _with_floor(policy, math.ceil(high * FLOOR_MARGIN))
        cost = simulate(candidate, day, seed=seeds[0]).cost
        if best is None or cost < best[0]:
            best = (cost, candidate)
    return best[1] if best else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer targets and seeds")
    parser.add_argument("--calls-per-task", type=int, default=60, help="hard cap per task (the template's)")
    parser.add_argument("--cpu-ms", type=float, default=8.0, help="host CPU-ms per call-second at the cap")
    parser.add_argument("--vcpu", type=float, default=1.0)
    parser.add_argument("--memory-gb", type=float, default=2.0)
    parser.add_argument("--max-tasks", type=int, default=70, help="StreamMaxTasks")
    args = parser.parse_args(argv)
    day = SyntheticDay()
    seeds = [1] if args.quick else [1, 2, 3]
    cap = args.calls_per_task
    base = FleetPolicy(
        calls_per_task=cap,
        target_calls_per_task=cap / 2,
        vcpu=args.vcpu,
        memory_gb=args.memory_gb,
        cpu_ms_per_call_second=args.cpu_ms,
        max_tasks=args.max_tasks,
    )
    print(
        f"synthetic day: {day.points[1][1]:.0f} -> {day.points[2][1]:.0f} concurrent calls from 07:50 to "
        f"08:00, plateau to 12:00, {day.mean_call_s:.0f} s mean call; task {args.vcpu:g} vCPU / "
        f"{args.memory_gb:g} GB at ${base.cost_per_task_hour:.5f}/h; cap {cap} calls per task; "
        f"min tasks {base.min_tasks}"
    )
    # The template's sizing before the fifth pass of issue 17 (knee 75, cap 60, target 36, ceiling 70),
    # with no scheduled floor: what a deployment that never set StreamPeakMinTasks would see.
    template = FleetPolicy(
        calls_per_task=60, target_calls_per_task=36, cpu_ms_per_call_second=8.0, max_tasks=70
    )
    print(_line("before: cap 60, target 36, max 70", simulate(template, day)))
    fractions = [0.5] if args.quick else [0.5, 0.6, 0.7, 0.8]
    for fraction in fractions:
        policy = replace(base, target_calls_per_task=round(cap * fraction))
        print(_line(f"target tracking alone, target {policy.target_calls_per_task:g}", simulate(policy, day)))
    chosen = cheapest_clean(base, day, [round(cap * f) for f in fractions], seeds)
    if chosen is None:
        print("no policy in the grid refuses no call")
        return 1
    runs = [simulate(chosen, day, seed=s) for s in seeds]
    floor = chosen.scheduled_floor[0][1] if chosen.scheduled_floor else chosen.min_tasks
    label = f"chosen: target {chosen.target_calls_per_task:g}, floor {floor} 07:30-12:00"
    print(_line(label, runs[0], [r.refused for r in runs]) + f"  (seeds {seeds})")
    print(f"\ntasks over the morning ({label}):")
    print(f"{'time':>5} {'calls':>6} {'tasks':>6} {'in service':>11}")
    for minute, calls, tasks, in_service in runs[0].minutes:
        if (7 * 60 + 20 <= minute <= 8 * 60 + 30 and minute % 5 == 0) or minute % 120 == 0:
            print(f"{_clock(minute):>5} {calls:6d} {tasks:6d} {in_service:11d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
