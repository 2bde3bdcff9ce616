// A reply's latency as segments in ms after the caller stopped speaking; the same rule as
// aiphone/waterfall.py (caller-side stages chain from 0; reply-side stages from the reply's start,
// reply_start_after_speech, else end_of_turn + stt). The browser test compares the two.
"use strict";

const WATERFALL_STAGES = [
  ["end_of_turn", "end-of-turn wait", "caller"],
  ["stt", "speech-to-text final", "caller"],
  ["llm_first_token", "LLM first token", "reply"],
  ["tts_first_byte", "TTS first audio", "reply"],
  ["first_audio", "first audio sent", "reply"],
];

function waterfallMs(latency, key) {
  return typeof latency[key] === "number" ? Math.max(0, latency[key]) : null;
}

function turnWaterfall(latency) {
  const segments = [];
  let callerEnd = 0;
  for (const [key, label, origin] of WATERFALL_STAGES) {
    const value = waterfallMs(latency, key);
    if (origin === "caller" && value !== null) {
      segments.push({ stage: key, label, start: callerEnd, end: callerEnd + value });
      callerEnd += value;
    }
  }
  const started = waterfallMs(latency, "reply_start_after_speech");
  const replyStart = started !== null ? started : callerEnd;
  let previous = replyStart;
  for (const [key, label, origin] of WATERFALL_STAGES) {
    const value = waterfallMs(latency, key);
    if (origin === "reply" && value !== null) {
      const end = Math.max(previous, replyStart + value);
      segments.push({ stage: key, label, start: previous, end });
      previous = end;
    }
  }
  return segments;
}

function waterfallTotal(segments) {
  return Math.max(0, ...segments.map((s) => s.end));
}

// Draws one row per bot reply into `container` (plain elements, no canvas: readable and testable).
function drawWaterfall(container, turns) {
  container.replaceChildren();
  const rows = turns
    .filter((t) => t.role === "assistant" && t.latency_ms && Object.keys(t.latency_ms).length)
    .map((t) => ({ turn: t, segments: turnWaterfall(t.latency_ms) }))
    .filter((r) => r.segments.length);
  if (!rows.length) {
    const empty = document.createElement("p");
    empty.className = "hint";
    empty.textContent = "No per-turn figures stored yet.";
    container.append(empty);
    return;
  }
  const scale = Math.max(...rows.map((r) => waterfallTotal(r.segments)), 1);
  for (const { turn, segments } of rows) {
    const row = document.createElement("div");
    row.className = "wf-row";
    row.dataset.turn = String(turn.index);
    const label = document.createElement("span");
    label.className = "wf-label";
    label.textContent = `turn ${turn.index}`;
    label.title = turn.text || "";
    const track = document.createElement("div");
    track.className = "wf-track";
    const words = [];
    for (const s of segments) {
      const bar = document.createElement("div");
      bar.className = `wf-bar wf-${s.stage}`;
      bar.style.left = `${(100 * s.start) / scale}%`;
      bar.style.width = `${(100 * (s.end - s.start)) / scale}%`;
      bar.title = `${s.label}: ${Math.round(s.start)}-${Math.round(s.end)} ms`;
      track.append(bar);
      words.push(`${s.label} ${Math.round(s.end - s.start)} ms`);
    }
    track.setAttribute("aria-label", `turn ${turn.index}: ${words.join(", ")}`);
    const total = document.createElement("span");
    total.className = "wf-total";
    total.textContent = `${Math.round(waterfallTotal(segments))} ms`;
    row.append(label, track, total);
    container.append(row);
  }
  const legend = document.createElement("div");
  legend.className = "wf-legend";
  const colours = {
    end_of_turn: "var(--eot)", stt: "var(--stt)", llm_first_token: "var(--llm)",
    tts_first_byte: "var(--tts)", first_audio: "var(--audio)",
  };
  for (const [key, label] of WATERFALL_STAGES) {
    const item = document.createElement("span");
    item.style.setProperty("--swatch", colours[key]);
    item.textContent = label;
    legend.append(item);
  }
  container.append(legend);
}
