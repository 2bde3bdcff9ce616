"""The fleet simulation's mechanics on small hand-made days (fast: minutes, not a whole day)."""

from __future__ import annotations

import pytest

from bench.fleet_sim import FleetPolicy, SyntheticDay, simulate, task_cost_per_hour

# Two hours: flat 50 calls, a jump to 400 over 10 minutes at 00:30, flat to the end.
RAMP = SyntheticDay(points=((0, 50), (1800, 50), (2400, 400), (7200, 400)), mean_call_s=120.0, seconds=7200)


def test_task_cost_is_the_fargate_arm_list_price() -> None:
    assert task_cost_per_hour(1, 2) == pytest.approx(0.03238 + 2 * 0.00356)


def test_the_day_profile_is_interpolated_and_arrivals_follow_its_slope() -> None:
    assert RAMP.concurrency(2100) == pytest.approx(225.0)
    assert RAMP.arrival_rate(100) == pytest.approx(50 / 120)
    assert RAMP.arrival_rate(2100) == pytest.approx(225 / 120 + 350 / 600, rel=1e-3)


def test_ample_floor_refuses_nothing_and_bills_every_task_second() -> None:
    result = simulate(FleetPolicy(calls_per_task=100, target_calls_per_task=70, min_tasks=8), RAMP)
    assert result.offered > 1000
    assert result.refused == 0
    assert result.task_seconds >= 8 * 7200
    assert result.cost == pytest.approx(result.task_seconds / 3600 * task_cost_per_hour(1, 2))


def test_a_fast_ramp_outruns_target_tracking_from_a_small_floor() -> None:
    result = simulate(FleetPolicy(calls_per_task=100, target_calls_per_task=70, min_tasks=1), RAMP)
    assert result.refused > 0
    assert result.max_calls_on_a_task == 100  # the cap is what refused them
    assert result.peak_tasks > 1  # and the policy did scale out, only too late


def test_a_scheduled_floor_before_the_ramp_removes_the_refusals() -> None:
    policy = FleetPolicy(
        calls_per_task=100, target_calls_per_task=70, min_tasks=1, scheduled_floor=((1200, 7), (7000, 1))
    )
    assert simulate(policy, RAMP).refused == 0


def test_the_fleet_shrinks_after_the_peak_without_refusing_calls() -> None:
    fall = SyntheticDay(points=((0, 300), (600, 300), (900, 10), (7200, 10)), mean_call_s=300.0, seconds=7200)
    policy = FleetPolicy(
        calls_per_task=100, target_calls_per_task=50, min_tasks=1, scheduled_floor=((0, 6), (900, 1))
    )
    result = simulate(policy, fall)
    assert result.refused == 0
    last_minute_tasks = result.minutes[-1][2]
    assert 1 <= last_minute_tasks < 6
