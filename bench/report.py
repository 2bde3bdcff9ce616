"""Turns a vs_pipecat.json into docs/performance.md and PNG plots (run with .venv-bench: matplotlib).

Kept apart from the harness so the product's virtualenv never needs matplotlib.
Usage: `.venv-bench/bin/python bench/report.py out/bench/vs_pipecat.json`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen.stats import percentile  # noqa: E402
from bench.loadgen.tables import capacity_of, format_table, format_waterfall, pooled, table_rows  # noqa: E402

TARGETS = {
    "pipeline overhead p95 (ms)": ("<=", 10.0),
    "barge-in reaction p95 (ms)": ("<=", 250.0),
    "capacity, calls on one core": (">=", 100.0),
    "RSS per call (MB)": ("<=", 1.0),
}


def _plots(report: dict, img: Path, systems: list[str]) -> list[str]:
    img.mkdir(parents=True, exist_ok=True)
    names = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in (
        (axes[0], "v2v_ms", "voice to voice (ms)"),
        (axes[1], "barge_in_ms", "barge-in reaction (ms)"),
    ):
        data = [pooled(report, "latency", s, key) or [math.nan] for s in systems]
        ax.boxplot(data, tick_labels=systems, whis=(5, 95))
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(img / "vs_pipecat_latency.png", dpi=110)
    names.append("vs_pipecat_latency.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for system in systems:
        steps = [b for b in report["capacity"] if b["system"] == system]
        xs = [b["calls"] for b in steps]
        axes[0].plot(xs, [b["cpu_ms_per_call_second"] for b in steps], marker="o", label=system)
        axes[1].plot(xs, [b["backlog_p99_bytes"] for b in steps], marker="o", label=system)
    axes[0].set_title("CPU ms per call-second (one core)")
    axes[1].set_title("inbound backlog p99 (bytes unread)")
    axes[1].axhline(2048, color="grey", linestyle="--", linewidth=1)
    for ax in axes:
        ax.set_xlabel("concurrent calls")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(img / "vs_pipecat_capacity.png", dpi=110)
    names.append("vs_pipecat_capacity.png")
    plt.close(fig)
    return names


def _target_notes(report: dict, systems: list[str]) -> list[str]:
    if "ours" not in systems:
        return ["- Our stream host was not measured in this run: " + report["missing"].get("ours", "?")]
    rows = dict(table_rows(report, systems))
    notes = []
    for label, (op, target) in TARGETS.items():
        value = rows[label][systems.index("ours")]
        met = value <= target if op == "<=" else value >= target
        if math.isnan(value):
            notes.append(f"- {label}: not measured")
        elif met:
            notes.append(f"- {label}: {value:.1f} meets the target ({op} {target:g})")
        else:
            notes.append(
                f"- {label}: {value:.1f} MISSES the target ({op} {target:g}) by {abs(value - target):.1f}"
            )
    if "pipecat" in systems:
        ours, theirs = capacity_of(report, "ours")[0], capacity_of(report, "pipecat")[0]
        if theirs:
            notes.append(f"- capacity ratio ours/pipecat: {ours / theirs:.1f}x (target >= 30x)")
    return notes


CAPACITY_HEADER = (
    "| system | N | done | v2v p95 ms (x one call) | CPU ms/call-s | core % | RSS MB/call | backlog p99 B "
    "| gaps | late/lag ms | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|"
)
KEPT_MARKER = "<!-- kept across bench runs -->"


def write(report: dict, doc: Path, img: Path) -> None:
    systems = [s for s in ("ours", "pipecat") if s in report["cold_start_s"]]
    plots = _plots(report, img, systems)
    lat = report["latencies"]
    realtime = (
        "Both systems, the fakes and the load generator ran under SCHED_FIFO (`chrt -f`), so other "
        "work on the machine could not land on their cores."
        if report["plan"].get("realtime")
        else "Normal scheduling: other work on the machine shares the cores."
    )
    capacity_lines = []
    for b in report["capacity"]:
        verdict = "; ".join(b["problems"]) or "ok"
        single = b.get("single_call_p95_ms")
        p95 = percentile(b["v2v_ms"], 95)
        growth = f" ({p95 / single:.2f}x)" if single else ""
        capacity_lines.append(
            f"| {b['system']} | {b['calls']} | {b['completed']} | {p95:.0f}{growth} | "
            f"{b['cpu_ms_per_call_second']:.1f} | "
            f"{b['cpu_ms_per_call_second'] * b['calls'] / 10:.0f} | "
            f"{b['rss_per_call_mb']:.2f} | {b['backlog_p99_bytes']:.0f} | {len(b['gaps_ms'])} | "
            f"{b['send_lateness_p99_ms']:.0f} / {b.get('loadgen_loop_lag_p99_ms', math.nan):.0f} | "
            f"{verdict} |"
        )
    text = f"""# Performance, side by side with Pipecat

Measured by `{report.get("command", "python bench/bench_vs_pipecat.py")}` (also `make bench`)
on {report["date"]},
on a machine with {report["cpus"]} cores: each system under test pinned to core 1 with `taskset -c 1`;
the load generator (the Twilio emulator's media sessions), the provider fakes and moto on core 0.
Raw numbers: `out/bench/vs_pipecat.json` after a run. The answer webhook's import time (the Lambda
cold start) is measured by `bench/bench_handlers.py`.

## Setup
- Calls: the Twilio emulator's own media session (signed handshake, 20 ms paced frames, playback at
  real time, marks, `clear`), one scripted caller per call speaking eSpeak NG audio: greeting, a
  normal turn, a turn that barges in {800} ms into the bot's reply, more normal turns.
- Fakes (same process for both systems): STT commit {lat["stt_commit_ms"]:.0f} ms, LLM first token
  {lat["llm_first_token_ms"]:.0f} ms at {lat["llm_tokens_per_second"]:.0f} tokens/s, TTS first byte
  {lat["tts_first_byte_ms"]:.0f} ms at {lat["tts_speed"]:g}x real time.
- Endpointing: {report["endpointing_ms"]} ms of silence in both (ours: the persona's
  `end_of_turn_silence_ms`; Pipecat: Silero `stop_secs` 0.2 s + `SpeechTimeoutUserTurnStopStrategy` 0.5 s).
- Pipecat bot (`bench/pipecat_bot/`): pipecat-ai 1.14.0, `TwilioFrameSerializer` (auto hang-up off:
  the emulator ends the call), `FastAPIWebsocketTransport`, Silero VAD, `ElevenLabsRealtimeSTTService`
  (manual commit), `OpenAILLMService` at the fake Cerebras, `ElevenLabsHttpTTSService`, 8 kHz pipeline.
  Differences from a stock deployment, all forced by running offline: the STT URL scheme is `ws://`
  (Pipecat hard-codes `wss://`), and the TTS fake serves `/stream/with-timestamps` (Pipecat's HTTP
  TTS endpoint; same audio, latency and pacing as the `/stream` route our adapter uses).

## Results

```
{format_table(report)}
```

```
{format_waterfall(report)}
```

The waterfall is measured the same way for both systems, from outside them, on each turn of the
one-call batches: the shared fakes note when each request reaches a milestone (STT commit received,
final sent, LLM request received, first token sent, TTS request received, first audio sent) on the
machine's monotonic clock, and the emulated phone notes the caller's last voice and the first reply
sample heard. Waits are the stretches a system spends on purpose waiting for silence or for the turn
to be confirmed; providers' time is the fakes' own latency; pipeline overhead is the rest (turning
tokens into a TTS request, and first audio to the ear), per turn. Medians of stretches need not add
up to the median voice-to-voice.

Capacity = the largest N (steps in order, each system stopping at its first failed step; all of a
step's calls start within 0.5-3 s, so their turns coincide) with every call completed, no bot audio
gap > 100 ms, inbound backlog p99 (unread bytes on the server's sockets, from a sock_diag dump) under
2 KB, voice-to-voice p95 within 1.2x the same system's p95 with one call on the same script (the
N = 1 step), and the load generator on time (late/lag: p99 lateness of the generator's 20 ms frames /
p99 oversleep of its own event loop; a step whose loop lag passes 60 ms measured the generator, so the
capacity found is then a lower bound). {realtime}

{CAPACITY_HEADER}
{chr(10).join(capacity_lines)}

{chr(10).join(f"![{p}](img/{p})" for p in plots)}

## Against the targets
{chr(10).join(_target_notes(report, systems))}

## Reading these figures
- Core 0 carries the load generator, both fakes and moto. "core %" is the system under test's
  own core (CPU ms per call-second x N / 1000 ms). If a step fails while that core is far from
  100 %, the limit was not the system's CPU: suspect core 0 (the fakes answer late, the host waits on
  them and stops reading its sockets), and read the capacity as a lower bound.
- The machine is shared with whatever else runs during the benchmark; the load generator's own loop
  lag at N=1 shows how busy core 0 already was.
- CPU per call-second falls as N grows although an idle host uses no CPU (`bench/profile_host.py
  --idle`): with more calls, one wake-up of the event loop serves several frames.
"""
    if report["missing"]:
        text += "\n## Not measured in this run\n" + "".join(
            f"- {k}: {v}\n" for k, v in report["missing"].items()
        )
    # Hand-written sections after the marker (before/after notes of past changes) survive a rerun.
    if doc.exists() and KEPT_MARKER in doc.read_text():
        text += "\n" + KEPT_MARKER + doc.read_text().split(KEPT_MARKER, 1)[1]
    doc.write_text(text)


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    write(report, ROOT / "docs" / "performance.md", ROOT / "docs" / "img")
    print(f"wrote {ROOT / 'docs' / 'performance.md'}")


if __name__ == "__main__":
    main()
