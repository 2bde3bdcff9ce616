"""The per-stage waterfall of our replies (docs/img/turn_waterfall.png) from a saved bench report.

Usage: `.venv-bench/bin/python bench/waterfall.py REPORT.json [OUT.png] [BEFORE.json]`
(default OUT: docs/img/turn_waterfall.png; BEFORE: an earlier report whose voice-to-voice median is drawn too)
(matplotlib lives in .venv-bench). Each bar starts where the previous stage ended, at the median over
every answered turn of the latency rounds, one row per number of simultaneous calls:

- silence wait: the caller's last voice to the recogniser's commit (the final's arrival minus the
  fake's commit latency);
- STT final, LLM first token, TTS first audio: the host's own timings (stored on each reply);
- transport: to the first sample heard at the emulated phone (voice-to-voice, measured by the load
  generator from the caller's last loud sample). The host measures from its VAD's last voiced frame,
  a frame or two after that sample, so this stage is understated by that much (shown as 0 if below).

A black tick marks the end of turn being confirmed (the held reply is released then, or when its
audio is ready, whichever is later); the red line is Pipecat's voice-to-voice median in the same run.

A second plot (docs/img/vs_pipecat_waterfall.png, next to OUT) puts both systems' waterfalls side by
side, as measured from outside them on the one-call batches (the fakes' milestones and the phone:
`bench/loadgen/stages.py`): the median of each stretch, stacked in order.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen.stages import STAGES, STRETCHES  # noqa: E402
from bench.loadgen.tables import stretch_values, waterfall_rows  # noqa: E402

__all__ = ["main", "stage_medians"]

SEGMENTS = (
    ("silence wait", None, "commit"),
    ("STT final", "commit", "STT final"),
    ("LLM first token", "STT final", "LLM first token"),
    ("TTS first audio", "LLM first token", "TTS first audio"),
    ("transport", "TTS first audio", "heard"),
)


def stage_medians(report: dict[str, Any], system: str, calls: int) -> dict[str, float]:
    """Median of each milestone (ms after the caller's last voice) and of voice-to-voice at the phone."""
    rows: list[dict[str, float]] = []
    heard: list[float] = []
    for batch in report["latency"]:
        if batch["system"] == system and batch["calls"] == calls:
            rows += batch.get("stages", [])
            heard += batch["v2v_ms"]
    medians = {name: statistics.median(r[name] for r in rows) for name in STAGES} if rows else {}
    if heard:
        medians["heard"] = statistics.median(heard)
    if "STT final" in medians:
        medians["commit"] = max(0.0, medians["STT final"] - report["latencies"]["stt_commit_ms"])
    return medians


def plot_side_by_side(report: dict[str, Any], out: Path) -> bool:
    """Ours and Pipecat, one bar each: the median of every stretch, stacked in order (False: no data)."""
    import matplotlib.pyplot as plt

    systems = [s for s in ("ours", "pipecat") if waterfall_rows(report, s)]
    if not systems:
        return False
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.8 * len(systems)))
    colours = ["#9e9e9e", "#5c6bc0", "#bdbdbd", "#26a69a", "#ef5350", "#ffa726", "#8d6e63"]
    for row, system in enumerate(systems):
        left = 0.0
        for (name, kind, _, _), colour in zip(STRETCHES, colours, strict=True):
            width = max(0.0, statistics.median(stretch_values(report, system, name)))
            ax.barh(row, width, left=left, color=colour, label=f"{name} ({kind})" if row == 0 else None)
            if width >= 40:
                ax.text(left + width / 2, row, f"{width:.0f}", ha="center", va="center", fontsize=8)
            left += width
    ax.set_yticks(range(len(systems)), systems)
    ax.set_xlabel("ms after the caller's last voice (median of each stretch, one call alone on the fakes)")
    ax.set_title("Where a reply's time goes, measured at the fakes and the phone")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return True


def main(argv: list[str]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "img" / "turn_waterfall.png"
    before = json.loads(Path(argv[2]).read_text()) if len(argv) > 2 else None
    sizes = sorted({b["calls"] for b in report["latency"] if b["system"] == "ours"})
    fig, ax = plt.subplots(figsize=(9, 2.2 + 0.9 * len(sizes)))
    colours = ["#9e9e9e", "#5c6bc0", "#26a69a", "#ffa726", "#8d6e63"]
    for row, calls in enumerate(sizes):
        m = stage_medians(report, "ours", calls)
        if len(m) < len(STAGES) + 2:
            continue
        for (label, start_key, end_key), colour in zip(SEGMENTS, colours, strict=True):
            start = 0.0 if start_key is None else m[start_key]
            width = max(0.0, m[end_key] - start)
            ax.barh(row, width, left=start, color=colour, label=label if row == 0 else None)
            if width >= 40:
                ax.text(start + width / 2, row, f"{width:.0f}", ha="center", va="center", fontsize=8)
        eot = m["end of turn decided"]
        ax.plot([eot, eot], [row - 0.45, row + 0.45], color="black", linewidth=2,
                label="end of turn confirmed" if row == 0 else None)  # fmt: skip
        theirs = [v for b in report["latency"] if b["system"] == "pipecat" and b["calls"] == calls
                  for v in b["v2v_ms"]]  # fmt: skip
        if theirs:
            ax.plot([statistics.median(theirs)] * 2, [row - 0.4, row + 0.4], color="crimson",
                    label="Pipecat voice-to-voice p50" if row == 0 else None)  # fmt: skip
        earlier = stage_medians(before, "ours", calls).get("heard") if before else None
        if earlier:
            ax.plot([earlier] * 2, [row - 0.4, row + 0.4], color="dimgray", linestyle="--",
                    label="ours before, voice-to-voice p50" if row == 0 else None)  # fmt: skip
    ax.set_yticks(range(len(sizes)), [f"{n} call{'s' if n > 1 else ''}" for n in sizes])
    ax.set_xlabel("ms after the caller's last voiced audio (medians)")
    ax.set_title("Where a reply's time goes (ours)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4, fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    plot_side_by_side(report, out.with_name("vs_pipecat_waterfall.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
