"""The demo's HTML report: transcript, per-reply latency waterfall and the call's stereo recording.

One self-contained file (inline CSS, no script) next to the recording under `out/`, so it opens from
disk in any browser. The waterfall follows `aiphone.waterfall`, as the web console does. Pure: the
caller writes the returned text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiphone.waterfall import STAGES, total_ms, turn_waterfall

__all__ = ["render_report"]

_COLOURS = {
    "end_of_turn": "#8a94a6",
    "stt": "#7b5ea7",
    "llm_first_token": "#1f5fbf",
    "tts_first_byte": "#c76b12",
    "first_audio": "#1e7a3c",
}
_STYLE = """
body { font-family: system-ui, sans-serif; color: #1d2330; max-width: 960px; margin: 2rem auto;
  padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.engines li, .facts li { margin: 0.15rem 0; } .muted { color: #5b6577; }
ol.transcript { list-style: none; padding: 0; border: 1px solid #d9dee7; border-radius: 4px; }
ol.transcript li { padding: 0.4rem 0.6rem; border-bottom: 1px solid #d9dee7; }
ol.transcript .who { display: inline-block; width: 4rem; font-weight: 600; color: #5b6577; }
ol.transcript li.assistant .who { color: #1f5fbf; } .cut { color: #b3261e; font-size: 0.8rem; }
.row { display: grid; grid-template-columns: 4.5rem 1fr 4.5rem; gap: 0.5rem; align-items: center;
  margin: 0.3rem 0; }
.track { position: relative; height: 1.1rem; background: #f1f3f7; border-radius: 3px; }
.bar { position: absolute; top: 0; bottom: 0; border-radius: 2px; min-width: 2px; }
.total { font-family: monospace; text-align: right; } .legend span { margin-right: 1rem; font-size: 0.85rem; }
.legend i { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; border-radius: 2px; }
.ok { color: #1e7a3c; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
pre { background: #f7f8fa; border: 1px solid #d9dee7; padding: 0.6rem; overflow: auto; font-size: 0.8rem; }
"""


def _waterfall(turns: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (turn, turn_waterfall(turn.get("latency_ms") or {}))
        for turn in turns
        if turn.get("role") == "assistant" and turn.get("latency_ms")
    ]
    rows = [(turn, segments) for turn, segments in rows if segments]
    if not rows:
        return '<p class="muted">No per-turn figures were stored.</p>'
    scale = max(total_ms(segments) for _, segments in rows) or 1.0
    out = []
    for turn, segments in rows:
        bars = "".join(
            f'<div class="bar" title="{html.escape(s.label)}: {s.start_ms:.0f}-{s.end_ms:.0f} ms" '
            f'style="left:{100 * s.start_ms / scale:.2f}%;width:{100 * s.duration_ms / scale:.2f}%;'
            f'background:{_COLOURS[s.stage]}"></div>'
            for s in segments
        )
        out.append(
            f'<div class="row"><span class="muted" title="{html.escape(str(turn.get("text", "")))}">'
            f"turn {int(turn['index'])}</span>"
            f'<div class="track">{bars}</div><span class="total">{total_ms(segments):.0f} ms</span></div>'
        )
    legend = "".join(
        f'<span><i style="background:{_COLOURS[key]}"></i>{html.escape(label)}</span>'
        for key, label, _ in STAGES
    )
    return "".join(out) + f'<p class="legend">{legend}</p>'


def render_report(
    *,
    record: Mapping[str, Any],
    engines: Sequence[str],
    heard_latencies_ms: Sequence[float],
    recording_href: str | None,
    problems: Sequence[str],
) -> str:
    """The whole HTML document for one demo call."""
    call_id = html.escape(str(record.get("call_id", "")))
    turns = list(record.get("turns") or [])
    transcript = "".join(
        f'<li class="{html.escape(str(t.get("role")))}"><span class="who">'
        f"{'bot' if t.get('role') == 'assistant' else 'caller'}</span>{html.escape(str(t.get('text', '')))}"
        f"{' <span class=cut>interrupted</span>' if t.get('interrupted') else ''}</li>"
        for t in turns
    )
    verdict = (
        '<p class="ok">The call completed as the demo expects.</p>'
        if not problems
        else '<p class="bad">Problems: ' + html.escape("; ".join(problems)) + "</p>"
    )
    heard = ", ".join(f"{v:.0f} ms" for v in heard_latencies_ms) or "none"
    audio = (
        f'<audio controls preload="none" src="{html.escape(recording_href)}"></audio>'
        '<p class="muted">Stereo: the caller on the left, the bot on the right.</p>'
        if recording_href
        else '<p class="muted">No recording.</p>'
    )
    facts = "".join(
        f"<li><span class=muted>{html.escape(name)}:</span> {html.escape(str(record[name]))}</li>"
        for name in ("status", "persona_id", "to_number", "duration_seconds", "end_reason", "created_at")
        if record.get(name) not in (None, "")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>make demo - call {call_id}</title>
<style>{_STYLE}</style></head>
<body>
<h1>make demo: call {call_id}</h1>
{verdict}
<h2>Engines</h2><ul class="engines">{"".join(f"<li>{html.escape(e)}</li>" for e in engines)}</ul>
<ul class="facts">{facts}</ul>
<h2>Recording</h2>{audio}
<h2>Transcript</h2><ol class="transcript">{transcript}</ol>
<h2>Latency per bot reply</h2>
<p class="muted">Milliseconds after the caller stopped speaking, from the figures stored on each turn (its
number is its place in the transcript). A reply started on the caller's words before the end of their turn
was declared overlaps the end-of-turn wait; the greeting and a re-ask after silence answer no caller turn and
count from the moment the bot chose to speak.
Heard by the emulated phone (caller's last word to first bot audio): {heard}.</p>
{_waterfall(turns)}
<h2>Call record</h2><pre>{html.escape(json.dumps(record, indent=2, default=str))}</pre>
</body></html>
"""
