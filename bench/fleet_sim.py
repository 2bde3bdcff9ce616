"""The stream host fleet's autoscaling, simulated over a synthetic day of calls.

A day of call arrivals (a quiet night, a morning peak of 2,000 concurrent calls reached over 10 minutes,
an afternoon plateau, an evening fall) meets the template's scaling policy: target tracking on the
average `ActiveCalls` per task, a CPU safety net, scale-in only of tasks with no calls (task scale-in
protection), and a hard cap of calls per task (`MAX_CALLS`: the host refuses the WebSocket handshake
with 503 beyond it, and Twilio fails that call). The load balancer hands new connections to tasks in
turn (the ALB's default round robin), so a task that is full refuses the call it was given even when
another task has room: the cap has to be well above the target for a ramp to pass without refusals.

How AWS reacts, as modelled (Application Auto Scaling target tracking with a standard-resolution
custom metric): one datapoint per minute, visible `metric_delay_s` after its minute ends; the
scale-out alarm needs 3 consecutive datapoints above the target, the scale-in alarm 15 below 90 % of
it; new capacity is ceil(tasks x metric / target); a new task takes `start_s` (Fargate provisioning,
image pull, two passing health checks) before it gets calls and is billed from its launch.

Pure and deterministic for a seed: `simulate` takes the policy, the day and a seed and returns what
happened; `bench/bench_fleet.py` prints it.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "FARGATE_ARM_GB_HOUR",
    "FARGATE_ARM_VCPU_HOUR",
    "DayResult",
    "FleetPolicy",
    "SyntheticDay",
    "simulate",
    "task_cost_per_hour",
]

# us-east-1 Fargate Linux/ARM list prices, as in the README's cost section.
FARGATE_ARM_VCPU_HOUR = 0.03238
FARGATE_ARM_GB_HOUR = 0.00356


def task_cost_per_hour(vcpu: float, memory_gb: float) -> float:
    return vcpu * FARGATE_ARM_VCPU_HOUR + memory_gb * FARGATE_ARM_GB_HOUR


@dataclass(frozen=True)
class FleetPolicy:
    """The template's parameters (CallsPerTask, TargetCallsPerTask, task size) and AWS's reaction times."""

    calls_per_task: int
    target_calls_per_task: float
    min_tasks: int = 2
    max_tasks: int = 100
    vcpu: float = 1.0
    memory_gb: float = 2.0
    cpu_ms_per_call_second: float = 8.0
    cpu_target_percent: float = 70.0
    scale_out_cooldown_s: float = 60.0
    scale_in_cooldown_s: float = 600.0
    start_s: float = 75.0
    metric_delay_s: float = 60.0
    out_datapoints: int = 3
    in_datapoints: int = 15
    # Scheduled floors (seconds from midnight, MinCapacity from then on): a known morning peak is met by
    # raising the floor before it, as a ScheduledAction on the scalable target does.
    scheduled_floor: tuple[tuple[float, int], ...] = ()

    def floor_at(self, t: float) -> int:
        floor = self.min_tasks
        for start, tasks in self.scheduled_floor:
            if t >= start:
                floor = tasks
        return floor

    @property
    def cost_per_task_hour(self) -> float:
        return task_cost_per_hour(self.vcpu, self.memory_gb)


@dataclass(frozen=True)
class SyntheticDay:
    """Concurrent calls wanted over a day (piecewise linear, seconds from midnight) and call length."""

    points: tuple[tuple[float, float], ...] = (
        (0, 20),
        (7 * 3600 + 50 * 60, 60),
        (8 * 3600, 2000),  # the morning peak: 2,000 concurrent calls reached over 10 minutes
        (12 * 3600, 2000),
        (14 * 3600, 800),
        (17 * 3600, 800),
        (20 * 3600, 50),
        (24 * 3600, 20),
    )
    mean_call_s: float = 180.0
    seconds: int = 24 * 3600

    def concurrency(self, t: float) -> float:
        pts = self.points
        for (t0, c0), (t1, c1) in itertools.pairwise(pts):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return pts[-1][1]

    def arrival_rate(self, t: float) -> float:
        """Calls per second so that concurrency follows the profile: dN/dt = rate - N / mean."""
        slope = (self.concurrency(t + 1.0) - self.concurrency(t)) / 1.0
        return max(0.0, self.concurrency(t) / self.mean_call_s + slope)


@dataclass
class _Task:
    ready_at: float
    launched_at: float
    calls: int = 0
    stopped_at: float | None = None


@dataclass
class DayResult:
    """What the day looked like: per-minute samples, refusals and the bill."""

    policy: FleetPolicy
    # One row a minute: (minute, live calls, running tasks, tasks in service).
    minutes: list[tuple[int, int, int, int]] = field(default_factory=list)
    offered: int = 0
    refused: int = 0
    call_seconds: float = 0.0
    task_seconds: float = 0.0
    max_calls_on_a_task: int = 0
    peak_tasks: int = 0

    @property
    def cost(self) -> float:
        return self.task_seconds / 3600 * self.policy.cost_per_task_hour

    @property
    def call_hours(self) -> float:
        return self.call_seconds / 3600

    @property
    def cost_per_call_hour(self) -> float:
        return self.cost / self.call_hours if self.call_hours else math.nan


def simulate(policy: FleetPolicy, day: SyntheticDay | None = None, *, seed: int = 1) -> DayResult:
    """Run the day second by second; returns the figures (deterministic for a seed)."""
    day = day or SyntheticDay()
    rng = random.Random(seed)
    result = DayResult(policy)
    tasks: list[_Task] = [_Task(ready_at=0.0, launched_at=0.0) for _ in range(policy.min_tasks)]
    ends: list[tuple[float, int]] = []  # (end time, task index)
    turn = 0
    datapoints: list[tuple[float, float, float]] = []  # (visible at, calls/task, cpu %)
    seen = 0  # datapoints visible so far (they become visible in order)
    last_out = last_in = -math.inf
    desired = policy.min_tasks  # the service's desired count; ECS stops surplus tasks once they are idle
    for second in range(day.seconds):
        now = float(second)
        while ends and ends[0][0] <= now:
            _, index = heapq.heappop(ends)
            tasks[index].calls -= 1
        live = [i for i, t in enumerate(tasks) if t.stopped_at is None and t.ready_at <= now]
        for _ in range(_poisson(rng, day.arrival_rate(now))):
            result.offered += 1
            if not live:
                result.refused += 1
                continue
            index = live[turn % len(live)]
            turn += 1
            task = tasks[index]
            if task.calls >= policy.calls_per_task:
                result.refused += 1  # the handshake gets 503; round robin does not retry elsewhere
                continue
            task.calls += 1
            result.max_calls_on_a_task = max(result.max_calls_on_a_task, task.calls)
            length = rng.expovariate(1.0 / day.mean_call_s)
            result.call_seconds += min(length, day.seconds - now)
            heapq.heappush(ends, (now + length, index))
        running = [t for t in tasks if t.stopped_at is None]
        result.task_seconds += len(running)
        result.peak_tasks = max(result.peak_tasks, len(running))
        minute_calls = sum(t.calls for t in running)
        minute_tasks = len(running)
        if second % 60 == 59:
            in_service = [t for t in running if t.ready_at <= now]
            per_task = minute_calls / max(1, len(in_service))
            cpu = per_task * policy.cpu_ms_per_call_second / 10.0 / policy.vcpu
            datapoints.append((now + policy.metric_delay_s, per_task, cpu))
            result.minutes.append((second // 60, minute_calls, minute_tasks, len(in_service)))
        while seen < len(datapoints) and datapoints[seen][0] <= now:
            seen += 1
        floor = policy.floor_at(now)
        if len(running) < floor:
            for _ in range(floor - len(running)):
                tasks.append(_Task(ready_at=now + policy.start_s, launched_at=now))
            running = [t for t in tasks if t.stopped_at is None]
        if second % 60 == 0 and seen:
            decided = _decide(policy, datapoints[:seen], len(running), now, last_out, last_in, floor)
            if decided > len(running):
                for _ in range(decided - len(running)):
                    tasks.append(_Task(ready_at=now + policy.start_s, launched_at=now))
                last_out = now
            elif decided < len(running):
                last_in = now
            desired = decided
        surplus = len(running) - max(desired, floor)
        if surplus > 0:
            # Busy tasks hold scale-in protection: only a task with no call left can be stopped.
            for task in [t for t in running if t.calls == 0][:surplus]:
                task.stopped_at = now
    return result


def _decide(
    policy: FleetPolicy,
    visible: list[tuple[float, float, float]],
    current: int,
    now: float,
    last_out: float,
    last_in: float,
    floor: int,
) -> int:
    """Desired task count from the visible datapoints (both policies; the larger scale-out wins)."""
    recent_out = visible[-policy.out_datapoints :]
    recent_in = visible[-policy.in_datapoints :]

    def wanted(pick: Callable[[tuple[float, float, float]], float], target: float) -> int:
        return math.ceil(current * pick(visible[-1]) / target - 1e-9)

    out = []
    if len(recent_out) == policy.out_datapoints:
        if all(d[1] > policy.target_calls_per_task for d in recent_out):
            out.append(wanted(lambda d: d[1], policy.target_calls_per_task))
        if all(d[2] > policy.cpu_target_percent for d in recent_out):
            out.append(wanted(lambda d: d[2], policy.cpu_target_percent))
    if out and now - last_out >= policy.scale_out_cooldown_s:
        return min(policy.max_tasks, max(out))
    if (
        len(recent_in) == policy.in_datapoints
        and all(d[1] < 0.9 * policy.target_calls_per_task for d in recent_in)
        and all(d[2] < 0.9 * policy.cpu_target_percent for d in recent_in)
        and now - last_in >= policy.scale_in_cooldown_s
        and now - last_out >= policy.scale_in_cooldown_s
    ):
        by_calls = wanted(lambda d: d[1], policy.target_calls_per_task)
        return max(floor, by_calls, 1)
    return current


def _poisson(rng: random.Random, rate: float) -> int:
    """Arrivals in one second (Knuth's method; rates here stay small)."""
    if rate <= 0:
        return 0
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
