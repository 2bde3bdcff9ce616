"""The side-by-side table read from a saved report; no emulator imports, so the plotting venv can use it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.loadgen.stats import percentile

__all__ = ["capacity_of", "format_table", "latency_sizes", "pooled", "table_rows"]


def pooled(
    report: dict[str, Any], section: str, system: str, key: str, *, calls: int | None = None
) -> list[float]:
    """`key`'s values over every batch of `system` in `section` (only batches of `calls` calls if given)."""
    values: list[float] = []
    for batch in report[section]:
        if batch["system"] == system and (calls is None or batch["calls"] == calls):
            values += batch[key]
    return values


def latency_sizes(report: dict[str, Any]) -> list[int]:
    """The numbers of simultaneous calls the latency rounds ran, ascending."""
    return sorted({batch["calls"] for batch in report["latency"]})


def capacity_of(report: dict[str, Any], system: str) -> tuple[int, dict[str, Any] | None]:
    """Largest N that passed, and that batch (a lower bound if the next step was load-generator-bound)."""
    best: tuple[int, dict[str, Any] | None] = (0, None)
    for batch in report["capacity"]:
        if batch["system"] == system and not batch["problems"] and batch["calls"] > best[0]:
            best = (batch["calls"], batch)
    return best


def table_rows(report: dict[str, Any], systems: Sequence[str]) -> list[tuple[str, list[float]]]:
    """(label, value per system) for the side-by-side table."""
    serial = report["latencies"]["stt_commit_ms"] + report["latencies"]["llm_first_token_ms"]
    serial += report["latencies"]["tts_first_byte_ms"]
    fixed = serial + report["endpointing_ms"]
    rows: list[tuple[str, list[float]]] = []
    for label, q in (("voice-to-voice p50 (ms)", 50), ("voice-to-voice p95 (ms)", 95)):
        rows.append((label, [percentile(pooled(report, "latency", s, "v2v_ms"), q) for s in systems]))
    for calls in latency_sizes(report):
        for q in (50, 95):
            values = [percentile(pooled(report, "latency", s, "v2v_ms", calls=calls), q) for s in systems]
            rows.append((f"  v2v p{q}, {calls} call{'s' if calls > 1 else ''} (ms)", values))
    for label, q in (("pipeline overhead p50 (ms)", 50), ("pipeline overhead p95 (ms)", 95)):
        rows.append((label, [percentile(pooled(report, "latency", s, "v2v_ms"), q) - fixed for s in systems]))
    for label, q in (("barge-in reaction p50 (ms)", 50), ("barge-in reaction p95 (ms)", 95)):
        rows.append((label, [percentile(pooled(report, "latency", s, "barge_in_ms"), q) for s in systems]))
    capacities = [capacity_of(report, s) for s in systems]
    rows.append(("capacity, calls on one core", [float(c[0]) for c in capacities]))
    rows.append(
        ("CPU ms per call-second", [c[1]["cpu_ms_per_call_second"] if c[1] else math.nan for c in capacities])
    )
    rows.append(("RSS per call (MB)", [c[1]["rss_per_call_mb"] if c[1] else math.nan for c in capacities]))
    rows.append(
        ("cold start to ready (ms)", [report["cold_start_s"].get(s, math.nan) * 1000 for s in systems])
    )
    return rows


def format_table(report: dict[str, Any]) -> str:
    systems = [s for s in ("ours", "pipecat") if s in report["cold_start_s"]]
    header = f"{'figure':32}" + "".join(f"{s:>12}" for s in systems)
    if len(systems) == 2:
        header += f"{'ours/pipecat':>14}"
    lines = [header, "-" * len(header)]
    for label, values in table_rows(report, systems):
        line = f"{label:32}" + "".join(f"{v:>12.1f}" for v in values)
        if len(values) == 2:
            ratio = (
                values[0] / values[1] if values[1] not in (0, 0.0) and not math.isnan(values[1]) else math.nan
            )
            line += f"{ratio:>14.2f}"
        lines.append(line)
    if "ours-uvloop" in report["cold_start_s"]:
        calls, batch = capacity_of(report, "ours-uvloop")
        cpu = batch["cpu_ms_per_call_second"] if batch else math.nan
        lines.append(
            f"ours on uvloop (STREAM_EVENT_LOOP=uvloop): capacity {calls} calls, "
            f"{cpu:.1f} CPU-ms per call-second"
        )
    return "\n".join(lines)
