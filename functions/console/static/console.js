// The web console: a hash-routed page over the HTTP API of its own origin (see openapi.yaml).
// The API key comes from the form or `#key=...` once and lives in sessionStorage only.
"use strict";

const KEY_STORE = "aiphone.apiKey";
const LIVE = new Set(["queued", "initiated", "ringing", "in-progress"]);
const TWILIO_ERRORS = {
  "11200": "Twilio could not fetch a webhook (HTTP retrieval failure).",
  "12100": "Twilio could not parse the TwiML document.",
  "13224": "The number is not a valid phone number.",
  "21211": "The 'To' number is not a valid phone number.",
  "21215": "Geographic permissions do not allow calling this number.",
  "21217": "The phone number is not reachable.",
  "21220": "The call was no longer in progress.",
  "31920": "The media stream WebSocket handshake failed.",
  "31921": "The media stream WebSocket was closed by the stream host.",
  "31924": "The media stream sent a message Twilio could not understand.",
};

// The API's base: this page's URL without /console/... (keeps a stage such as /dev on execute-api).
const API_BASE = window.location.origin + window.location.pathname.replace(/\/console(\/.*)?$/, "");

const state = { timer: null, callCursor: null, personaCursor: null, personas: null };

function $(id) { return document.getElementById(id); }

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.field = body && body.field;
  }
  describe() { return `${this.message}${this.field ? ` (field: ${this.field})` : ""} [${this.code}]`; }
}

async function api(method, path, body) {
  const headers = { "x-api-key": apiKey(), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API_BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    if (response.status === 403 && data && data.error === "invalid_api_key") {
      sessionStorage.removeItem(KEY_STORE);
      showKeyForm("That API key was refused.");
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

window.consoleApi = api; // the browser phone places its call through the same client

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function badge(status) {
  const kind = LIVE.has(status) ? "live" : status === "completed" ? "completed" : "bad";
  return el("span", { class: `badge ${kind}`, text: status });
}

// "2026-11-30T22:43:48.238046+00:00" or "...48.238Z" -> "2026-11-30 22:43:48Z" (UTC, whole seconds).
function when(iso) { return iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "Z") : ""; }

function stopPolling() { if (state.timer) { clearTimeout(state.timer); state.timer = null; } }

function show(view) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.nav === view || (view === "call" && link.dataset.nav === "calls")
        || (view === "persona" && link.dataset.nav === "personas")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("key-label").textContent = apiKey() ? "key set" : "no key";
  $("forget-key").hidden = !apiKey();
}

function showKeyForm(message) {
  stopPolling();
  show("key");
  if (message) $("key-title").textContent = `API key - ${message}`;
  $("key-input").focus();
}

// -- calls ------------------------------------------------------------------------------------

async function loadCalls(append) {
  const status = $("calls-status").value;
  const query = new URLSearchParams({ limit: "25" });
  if (status) query.set("status", status);
  if (append && state.callCursor) query.set("cursor", state.callCursor);
  const page = await api("GET", `/calls?${query}`);
  const body = $("calls-table").tBodies[0];
  if (!append) body.replaceChildren();
  for (const call of page.calls) {
    body.append(el("tr", { "data-call": call.call_id },
      el("td", { text: when(call.created_at) }),
      el("td", { class: "mono" }, el("a", { href: `#/calls/${encodeURIComponent(call.call_id)}`, text: call.call_id })),
      el("td", {}, badge(call.status)),
      el("td", { text: call.to_number || "" }),
      el("td", { text: call.persona_id || "" })));
  }
  state.callCursor = page.next_cursor;
  $("calls-more").hidden = !page.next_cursor;
  $("calls-empty").hidden = body.rows.length > 0;
  return page.calls.some((c) => LIVE.has(c.status));
}

async function callsView() {
  show("calls");
  const tick = async () => {
    let live = false;
    try { live = await loadCalls(false); } catch (e) { if (!(e instanceof ApiError)) throw e; }
    if (live && location.hash.startsWith("#/calls") && !location.hash.startsWith("#/calls/")) {
      state.timer = setTimeout(tick, 2000);
    }
  };
  await tick();
}

function errorInWords(record) {
  const error = record.error && typeof record.error === "object" ? record.error : null;
  const code = String((error && error.code) || record.error_code || "");
  const message = (error && error.message) || record.error_message || "";
  if (!code && !message) return "";
  // The API's message already explains the codes users meet; the table covers older records.
  const words = message || TWILIO_ERRORS[code] || "The call failed.";
  const where = error && error.source ? `, reported by ${error.source}` : "";
  // A number is Twilio's error code; otherwise the code is the call's final status (busy, no-answer...).
  const what = /^\d+$/.test(code) ? `Twilio error ${code}` : code;
  return `${words}${code ? ` (${what}${where})` : ""}`;
}

// Twilio's bookkeeping fields say nothing a reader needs; the rest is shown as name=value.
const HIDDEN_DETAIL = new Set(["Timestamp", "SequenceNumber", "CallStatus"]);

function historyDetail(detail) {
  return Object.entries(detail || {})
    .filter(([k]) => !HIDDEN_DETAIL.has(k))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

function renderCall(record) {
  $("call-title").textContent = `Call ${record.call_id}`;
  $("call-status").replaceWith(Object.assign(badge(record.status), { id: "call-status" }));
  $("call-hangup").hidden = !LIVE.has(record.status);
  $("call-live").hidden = !LIVE.has(record.status);
  $("call-error").textContent = errorInWords(record);
  const facts = $("call-facts");
  facts.replaceChildren();
  const fact = (name, value) => { if (value !== undefined && value !== null && value !== "") facts.append(el("dt", { text: name }), el("dd", { text: String(value) })); };
  fact("Persona", record.persona_id);
  fact("To", record.to_number);
  fact("From", record.from_number);
  fact("Direction", record.direction);
  fact("Created", when(record.created_at));
  fact("Answered by", record.answered_by);
  fact("Duration", record.duration_seconds !== undefined ? `${record.duration_seconds} s` : "");
  fact("Ended", when(record.ended_at));
  fact("End reason", record.end_reason);
  if (record.variables) fact("Variables", Object.entries(record.variables).map(([k, v]) => `${k}=${v}`).join(", "));
  if (record.metadata && Object.keys(record.metadata).length) fact("Metadata", JSON.stringify(record.metadata));
  if (record.cost_usd && record.cost_usd.total !== undefined) fact("Cost", `$${record.cost_usd.total}`);
  if (record.usage) fact("Usage", Object.entries(record.usage).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", "));
  if (record.analysis && record.analysis.summary) fact("Summary", record.analysis.summary);
  const recording = $("call-recording");
  recording.hidden = !record.recording_url;
  if (record.recording_url) {
    const audio = recording.querySelector("audio");
    if (audio.getAttribute("src") !== record.recording_url) audio.setAttribute("src", record.recording_url);
  }
  const transcript = $("call-transcript");
  transcript.replaceChildren(...(record.turns || []).map((t) => el("li", { class: t.role },
    el("span", { class: "who", text: t.role === "assistant" ? "bot" : "caller" }),
    el("span", { class: "text", text: t.text }),
    ...(t.interrupted ? [el("span", { class: "cut", text: "interrupted" })] : []))));
  if (!(record.turns || []).length) transcript.append(el("li", { class: "hint", text: "No turns yet." }));
  $("call-history").replaceChildren(...(record.status_history || []).map((e) => el("li", {},
    el("time", { text: (e.at || "").slice(11, 23) }),
    el("span", { text: `${e.kind} ${e.status || ""} ${historyDetail(e.detail)}` }))));
  drawWaterfall($("call-waterfall"), record.turns || []);
  $("call-raw").textContent = JSON.stringify(record, null, 2);
}

async function callView(callId) {
  show("call");
  $("call-error").textContent = "";
  let endedReads = 0;
  const tick = async () => {
    try {
      const record = await api("GET", `/calls/${encodeURIComponent(callId)}`);
      renderCall(record);
      // Keep polling a little after the end: the last turns and the recording land just after it.
      endedReads = LIVE.has(record.status) ? 0 : endedReads + 1;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      $("call-error").textContent = e.describe();
      return;
    }
    if (endedReads < 4 && location.hash === `#/calls/${encodeURIComponent(callId)}`) state.timer = setTimeout(tick, 1000);
  };
  $("call-hangup").onclick = async () => {
    try { await api("POST", `/calls/${encodeURIComponent(callId)}/hangup`); }
    catch (e) { $("call-error").textContent = e.describe(); }
  };
  await tick();
}

// -- placing a call ---------------------------------------------------------------------------

async function personaOptions(select) {
  if (!state.personas) {
    state.personas = [];
    let cursor = null;
    do {
      const query = new URLSearchParams({ limit: "100" });
      if (cursor) query.set("cursor", cursor);
      const page = await api("GET", `/personas?${query}`);
      state.personas.push(...page.personas);
      cursor = page.next_cursor;
    } while (cursor);
  }
  const current = select.value;
  select.replaceChildren(...state.personas.map((p) => el("option", { value: p.persona_id, text: `${p.name} (${p.persona_id})` })));
  if (current) select.value = current;
}

function parseVariables(text) {
  const out = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Variables: "${line}" is not name=value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

// The persona texts that may hold {{name}} placeholders, and their syntax (callcore/variables.py).
const TEMPLATE_FIELDS = ["prompt", "greeting", "goodbye", "idle_prompt", "voicemail_message", "disclosure"];
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

function personaPlaceholders(personaId) {
  const persona = (state.personas || []).find((p) => p.persona_id === personaId);
  const names = new Set();
  for (const field of TEMPLATE_FIELDS) {
    for (const match of String((persona && persona[field]) || "").matchAll(PLACEHOLDER)) names.add(match[1]);
  }
  return [...names];
}

// Puts one `name=` line per placeholder of the chosen persona in the variables box, keeping the
// values already typed (and any other filled-in lines), so the form shows what the persona needs.
function offerVariables(select, textarea) {
  let typed;
  try { typed = parseVariables(textarea.value); } catch (_) { return; } // leave a half-typed line alone
  const names = personaPlaceholders(select.value);
  const extra = Object.keys(typed).filter((name) => !names.includes(name) && typed[name] !== "");
  textarea.value = [...names, ...extra].map((name) => `${name}=${typed[name] ?? ""}`).join("\n");
}
window.consoleVariables = { parse: parseVariables, offer: offerVariables };

async function newView() {
  show("new");
  $("new-error").textContent = "";
  // The browser phone's link shows only on the local stack (phone.js): so does this hint.
  $("new-local-hint").hidden = document.querySelector('a[data-nav="phone"]').hidden;
  await personaOptions($("new-persona"));
  offerVariables($("new-persona"), $("new-vars"));
}

async function placeCall(event) {
  event.preventDefault();
  $("new-error").textContent = "";
  const body = { to: $("new-to").value.trim(), persona_id: $("new-persona").value };
  try {
    const variables = parseVariables($("new-vars").value);
    if (Object.keys(variables).length) body.variables = variables;
  } catch (e) { $("new-error").textContent = e.message; return; }
  try {
    const placed = await api("POST", "/calls", body);
    location.hash = `#/calls/${encodeURIComponent(placed.call_id)}`;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    $("new-error").textContent = e.describe();
  }
}

// -- personas ---------------------------------------------------------------------------------

async function personasView(append) {
  show("personas");
  const query = new URLSearchParams({ limit: "50" });
  if (append && state.personaCursor) query.set("cursor", state.personaCursor);
  const page = await api("GET", `/personas?${query}`);
  const body = $("personas-table").tBodies[0];
  if (!append) body.replaceChildren();
  for (const p of page.personas) {
    body.append(el("tr", {},
      el("td", { class: "mono" }, el("a", { href: `#/personas/${encodeURIComponent(p.persona_id)}`, text: p.persona_id })),
      el("td", { text: p.name || "" }),
      el("td", { text: p.voice_id || "" }),
      el("td", { text: p.greeting || "" })));
  }
  state.personaCursor = page.next_cursor;
  $("personas-more").hidden = !page.next_cursor;
}

async function personaView(personaId) {
  show("persona");
  $("persona-title").textContent = `Persona ${personaId}`;
  $("persona-error").textContent = "";
  $("persona-ok").textContent = "";
  $("persona-form").dataset.persona = personaId;
  try {
    const persona = await api("GET", `/personas/${encodeURIComponent(personaId)}`);
    $("persona-json").value = JSON.stringify(persona, null, 2);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    $("persona-json").value = JSON.stringify({
      persona_id: personaId, name: "", voice_id: "", prompt: "", greeting: "",
    }, null, 2);
    $("persona-ok").textContent = "New persona: fill it in and save.";
  }
}

async function savePersona(event) {
  event.preventDefault();
  const personaId = $("persona-form").dataset.persona;
  $("persona-error").textContent = "";
  $("persona-ok").textContent = "";
  let body;
  try { body = JSON.parse($("persona-json").value); }
  catch (e) { $("persona-error").textContent = `Not valid JSON: ${e.message}`; return; }
  try {
    const saved = await api("PUT", `/personas/${encodeURIComponent(personaId)}`, body);
    $("persona-json").value = JSON.stringify(saved, null, 2);
    $("persona-ok").textContent = "Saved.";
    state.personas = null;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    $("persona-error").textContent = e.describe();
  }
}

// -- routing ----------------------------------------------------------------------------------

function takeKeyFromFragment() {
  const match = /^#key=([^&]+)/.exec(location.hash);
  if (!match) return false;
  sessionStorage.setItem(KEY_STORE, decodeURIComponent(match[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/calls`);
  return true;
}

async function route() {
  stopPolling();
  takeKeyFromFragment();
  if (!apiKey()) { showKeyForm(); return; }
  const hash = location.hash || "#/calls";
  const parts = hash.slice(2).split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "calls" && parts[1]) await callView(parts[1]);
    else if (parts[0] === "new") await newView();
    else if (parts[0] === "personas" && parts[1]) await personaView(parts[1]);
    else if (parts[0] === "personas") await personasView(false);
    else if (parts[0] === "phone" && window.browserPhone) await window.browserPhone.view(show, personaOptions);
    else await callsView();
  } catch (e) {
    if (e instanceof ApiError && e.code === "invalid_api_key") return;
    const target = document.querySelector("main > section:not([hidden]) .error") || $("call-error");
    target.textContent = e instanceof ApiError ? e.describe() : `The console failed: ${e.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key-input").value.trim());
    $("key-input").value = "";
    $("key-title").textContent = "API key";
    if (!location.hash || location.hash === "#/key") location.hash = "#/calls"; else route();
  });
  $("forget-key").addEventListener("click", () => { sessionStorage.removeItem(KEY_STORE); state.personas = null; showKeyForm(); });
  $("calls-status").addEventListener("change", () => { stopPolling(); callsView(); });
  $("calls-more").addEventListener("click", () => loadCalls(true));
  $("personas-more").addEventListener("click", () => personasView(true));
  $("new-form").addEventListener("submit", placeCall);
  $("new-persona").addEventListener("change", () => offerVariables($("new-persona"), $("new-vars")));
  $("persona-form").addEventListener("submit", savePersona);
  $("persona-new").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/personas/${encodeURIComponent($("persona-new-id").value.trim())}`;
  });
  window.addEventListener("hashchange", route);
  route();
});
