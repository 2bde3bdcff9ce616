"""The side-by-side table read from a saved report; no emulator imports, so the plotting venv can use it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.loadgen.stages import STRETCHES, stretch_totals
from bench.loadgen.stats import percentile

__all__ = [
    "capacity_of",
    "format_table",
    "format_waterfall",
    "latency_sizes",
    "pooled",
    "stretch_values",
    "table_rows",
    "waterfall_rows",
]


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


def waterfall_rows(report: dict[str, Any], system: str) -> list[dict[str, float]]:
    """Every measured turn of `system` alone on the fakes (see bench/loadgen/stages.py)."""
    return [
        row for batch in report["latency"] if batch["system"] == system for row in batch.get("waterfall", [])
    ]


def stretch_values(report: dict[str, Any], system: str, stretch: str) -> list[float]:
    """One stretch of the waterfall (a name from STRETCHES, or a kind: wait, provider, own) per turn."""
    values = []
    for row in waterfall_rows(report, system):
        kinds = stretch_totals(row)
        if stretch in kinds:
            values.append(kinds[stretch])
            continue
        for name, _, start, end in STRETCHES:
            if name == stretch:
                values.append(row[end] - (row[start] if start is not None else 0.0))
    return values


def table_rows(report: dict[str, Any], systems: Sequence[str]) -> list[tuple[str, list[float]]]:
    """(label, value per system) for the side-by-side table."""
    rows: list[tuple[str, list[float]]] = []
    for label, q in (("voice-to-voice p50 (ms)", 50), ("voice-to-voice p95 (ms)", 95)):
        rows.append((label, [percentile(pooled(report, "latency", s, "v2v_ms"), q) for s in systems]))
    for calls in latency_sizes(report):
        for q in (50, 95):
            values = [percentile(pooled(report, "latency", s, "v2v_ms", calls=calls), q) for s in systems]
            rows.append((f"  v2v p{q}, {calls} call{'s' if calls > 1 else ''} (ms)", values))
    # Measured per turn (one call alone on the fakes): voice-to-voice minus the providers' own time and
    # the deliberate waits for silence; what is left is the system's processing and transport.
    for label, q in (("pipeline overhead p50 (ms)", 50), ("pipeline overhead p95 (ms)", 95)):
        rows.append((label, [percentile(stretch_values(report, s, "own"), q) for s in systems]))
    for label, kind in (
        ("  waiting for silence p50 (ms)", "wait"),
        ("  providers' time p50 (ms)", "provider"),
    ):
        rows.append((label, [percentile(stretch_values(report, s, kind), 50) for s in systems]))
    for label, q in (("barge-in reaction p50 (ms)", 50), ("barge-in reaction p95 (ms)", 95)):
        rows.append((label, [percentile(pooled(report, "latency", s, "barge_in_ms"), q) for s in systems]))
    for label, q in (("  onset to clear p50 (ms)", 50), ("  onset to clear p95 (ms)", 95)):
        rows.append(
            (label, [percentile(pooled(report, "latency", s, "barge_in_clear_ms"), q) for s in systems])
        )
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


def format_waterfall(report: dict[str, Any]) -> str:
    """Each system's waterfall side by side: p50 of every stretch, ms, one call alone on the fakes."""
    systems = [s for s in ("ours", "pipecat") if waterfall_rows(report, s)]
    if not systems:
        return "no waterfall: no batch of one call had the fakes' milestones"
    counts = ", ".join(f"{s} {len(waterfall_rows(report, s))}" for s in systems)
    lines = [
        f"where a reply's time goes, p50 per stretch, ms (turns: {counts}; one call alone on the fakes)",
        f"{'stretch':22}{'kind':>10}" + "".join(f"{s:>10}" for s in systems),
    ]
    for name, kind, _, _ in STRETCHES:
        values = [percentile(stretch_values(report, s, name), 50) for s in systems]
        lines.append(f"{name:22}{kind:>10}" + "".join(f"{v:>10.0f}" for v in values))
    for kind in ("wait", "provider", "own"):
        values = [percentile(stretch_values(report, s, kind), 50) for s in systems]
        lines.append(f"{'all ' + kind:22}{'':>10}" + "".join(f"{v:>10.0f}" for v in values))
    heard = [percentile([row["heard"] for row in waterfall_rows(report, s)], 50) for s in systems]
    lines.append(f"{'voice-to-voice':22}{'':>10}" + "".join(f"{v:>10.0f}" for v in heard))
    return "\n".join(lines)
