// The browser phone (local stack only): this tab is the callee of an emulated call. The microphone
// goes to the Twilio emulator as 8 kHz mu-law (it sends it on as Media Streams frames); the bot's
// audio comes back the same way and is played here. See local/twilio_emulator/browser_phone.py.
"use strict";

(function () {
  const API_BASE = window.location.origin + window.location.pathname.replace(/\/console(\/.*)?$/, "");
  const FRAME_SAMPLES = 160; // 20 ms at 8 kHz
  let session = null;

  function linearToMulaw(sample) {
    let s = Math.round(Math.max(-1, Math.min(1, sample)) * 32767);
    const sign = s < 0 ? 0x80 : 0;
    if (sign) s = -s;
    s = Math.min(s, 32635) + 0x84;
    let exponent = 7;
    for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; exponent -= 1, mask >>= 1) { /* find the segment */ }
    const mantissa = (s >> (exponent + 3)) & 0x0f;
    return ~(sign | (exponent << 4) | mantissa) & 0xff;
  }

  function mulawToLinear(byte) {
    const u = ~byte & 0xff;
    const exponent = (u >> 4) & 0x07;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
    return ((u & 0x80) ? -magnitude : magnitude) / 32768;
  }

  // Downsamples float audio at `rate` to 8 kHz mu-law, carrying the fractional position across calls.
  class Encoder {
    constructor(rate) { this.step = rate / 8000; this.position = 0; this.pending = []; }
    push(samples) {
      for (; this.position < samples.length; this.position += this.step) {
        this.pending.push(linearToMulaw(samples[Math.floor(this.position)]));
      }
      this.position -= samples.length;
      const frames = [];
      while (this.pending.length >= FRAME_SAMPLES) frames.push(Uint8Array.from(this.pending.splice(0, FRAME_SAMPLES)));
      return frames;
    }
  }

  function setState(text) { document.getElementById("phone-state").textContent = text; }
  function setError(text) { document.getElementById("phone-error").textContent = text; }

  async function phoneUrl() {
    const response = await fetch(`${API_BASE}/_local/phone`);
    if (!response.ok) return null;
    return (await response.json()).url;
  }

  async function start(personaId, variables) {
    setError("");
    const url = await phoneUrl();
    if (!url) { setError("The browser phone needs the local stack (make dev) with its Twilio emulator."); return; }
    let microphone;
    try {
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
      });
    } catch (e) { setError(`No microphone: ${e.message}`); return; }
    const context = new AudioContext();
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    session = { socket, context, microphone, playAt: 0, processor: null, received: 0, sent: 0 };
    window.browserPhone.session = session;
    document.getElementById("phone-start").disabled = true;
    document.getElementById("phone-stop").disabled = false;
    setState("Connecting to the emulator...");
    socket.onmessage = async (message) => {
      if (typeof message.data !== "string") { play(new Uint8Array(message.data)); return; }
      const event = JSON.parse(message.data);
      if (event.event === "ready") {
        session.number = event.number;
        setState(`Your number is ${event.number}; calling it...`);
        try {
          const body = { to: event.number, persona_id: personaId };
          if (Object.keys(variables).length) body.variables = variables;
          const placed = await window.consoleApi("POST", "/calls", body);
          session.callId = placed.call_id;
          const link = document.getElementById("phone-call-link");
          link.href = `#/calls/${encodeURIComponent(placed.call_id)}`;
          link.hidden = false;
          setState("Ringing...");
        } catch (e) { setError(e.describe ? e.describe() : e.message); stop(); }
      } else if (event.event === "answered") {
        setState("In call: speak now.");
        startMicrophone();
      } else if (event.event === "ended") {
        setState(`Call ended (${event.status}).`);
        stop();
      }
    };
    socket.onclose = () => { if (session && session.socket === socket) stop(); };
  }

  function startMicrophone() {
    const { context, microphone, socket } = session;
    const source = context.createMediaStreamSource(microphone);
    const processor = context.createScriptProcessor(2048, 1, 1);
    const encoder = new Encoder(context.sampleRate);
    processor.onaudioprocess = (event) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      for (const frame of encoder.push(event.inputBuffer.getChannelData(0))) {
        socket.send(frame);
        session.sent += frame.length;
      }
    };
    source.connect(processor);
    processor.connect(context.destination); // a ScriptProcessor only runs while connected (it outputs silence)
    session.processor = processor;
  }

  function play(bytes) {
    const { context } = session;
    session.received += bytes.length;
    const buffer = context.createBuffer(1, bytes.length, 8000);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < bytes.length; i += 1) channel[i] = mulawToLinear(bytes[i]);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    session.playAt = Math.max(session.playAt, context.currentTime + 0.05);
    source.start(session.playAt);
    session.playAt += buffer.duration;
  }

  function stop() {
    if (!session) return;
    const current = session;
    session = null;
    if (current.socket.readyState === WebSocket.OPEN) {
      current.socket.send(JSON.stringify({ event: "hangup" }));
      setTimeout(() => current.socket.close(), 500);
    }
    if (current.processor) current.processor.disconnect();
    current.microphone.getTracks().forEach((track) => track.stop());
    setTimeout(() => current.context.close(), 1000);
    document.getElementById("phone-start").disabled = false;
    document.getElementById("phone-stop").disabled = true;
  }

  async function view(show, personaOptions) {
    show("phone");
    setError("");
    if (!(await phoneUrl())) setError("The browser phone needs the local stack (make dev) with its Twilio emulator.");
    await personaOptions(document.getElementById("phone-persona"));
    window.consoleVariables.offer(document.getElementById("phone-persona"), document.getElementById("phone-vars"));
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("phone-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (session) return;
      let variables;
      try { variables = window.consoleVariables.parse(document.getElementById("phone-vars").value); }
      catch (e) { setError(e.message); return; }
      start(document.getElementById("phone-persona").value, variables);
    });
    document.getElementById("phone-persona").addEventListener("change", () => {
      window.consoleVariables.offer(document.getElementById("phone-persona"), document.getElementById("phone-vars"));
    });
    document.getElementById("phone-stop").addEventListener("click", () => { setState("Hung up."); stop(); });
    // The page offers the phone only where it works.
    try { document.querySelector('a[data-nav="phone"]').hidden = !(await phoneUrl()); } catch (_) { /* hidden */ }
  });

  window.browserPhone = { view, session: null, linearToMulaw, mulawToLinear };
}());
