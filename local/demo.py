"""`make demo`: one complete emulated call through the real local stack, narrated as it happens.

It places the call exactly as a user would (`POST /calls` with the local API key), lets the
emulator ring, answer and play a three-turn caller (the second turn interrupts the bot, the third
says goodbye and waits for the bot to end the call), then reads the result back through
`GET /calls/{id}`. It succeeds only if the call completed, the record holds its turns, and (with
the scripted engines of `local.demo_engines`) every caller line was understood and the bot said
goodbye and hung up itself. The call carries per-call `variables` (heard in the greeting) and a
`webhook_url` served by a small receiver here, which checks each event's signature; the record then
shows the analysis, usage, cost and webhook deliveries, and the demo also needs the signed
`call.analyzed` event. It writes an HTML report next to the recording; the exit status says
whether it succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from local.demo_engines import DemoEngines
from local.demo_report import render_report
from local.stack import LocalStack
from local.twilio_emulator.call import EmulatedCall
from local.twilio_emulator.caller import CallerScript, TimelineEvent, Utterance, voice_to_voice_ms
from local.twilio_emulator.voice import render_speech, trailing_silence_ms
from local.webhook_receiver import WebhookReceiver

__all__ = ["DEMO_SCRIPT", "DemoResult", "run_demo"]

log = logging.getLogger("local.demo")

DEMO_TO = "+14155550123"
DEMO_PERSONA = "appointment-reminder"
DEMO_VARIABLES = {"first_name": "Alex", "appointment_time": "Thursday at nine thirty in the morning"}
DEMO_SCRIPT = CallerScript(
    (
        Utterance("Yes, I have a moment.", pause_ms=600),
        Utterance("Sorry, could we move it to the afternoon instead?", barge_in_ms=900),
        Utterance("Thank you, goodbye.", pause_ms=600),
    ),
    hang_up=False,  # the bot recognises the goodbye, says its own and ends the call
    max_wait_ms=20_000,
)


@dataclass
class DemoResult:
    ok: bool
    reasons: list[str]
    record: dict[str, Any] | None
    call: EmulatedCall | None
    report_path: Path | None = None


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _say(text: str) -> None:
    print(text, flush=True)


# The narration line for each timeline event worth showing ({detail}: its text, {value}: its ms).
_NARRATION = {
    "caller_start": "caller  > {detail}",
    "barge_in": "caller  (talks over the bot: barge-in)",
    "greeting_start": "bot     (greeting audio starts, {value:.0f} ms after answer)",
    "bot_reply_start": "bot     (reply audio starts {value:.0f} ms after the caller's last word)",
    "clear": "stream  clear: bot audio flushed",
    "caller_hang_up": "caller  hangs up",
    "protocol_error": "stream  31924 protocol error: {detail}",
}


def _speech_tail_ms(line: str) -> float:
    """The silence at the end of the caller's rendered line (not speech; see voice_to_voice_ms)."""
    return trailing_silence_ms(render_speech(line))


def _describe(event: TimelineEvent) -> str | None:
    """``  12.34s  who  what`` for an event of the call's timeline; None for the ones not narrated."""
    line = _NARRATION.get(event.kind)
    if line is None:
        return None
    return f"{event.at:7.2f}s  " + line.format(detail=event.detail, value=event.value)


async def _api(session: aiohttp.ClientSession, stack: LocalStack, method: str, path: str, **kw: Any) -> Any:
    headers = {"x-api-key": stack.api_key, **kw.pop("headers", {})}
    async with session.request(method, f"{stack.api_url}{path}", headers=headers, **kw) as response:
        body = await response.json(content_type=None)
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}: {body}")
        return body


async def _narrate(
    stack: LocalStack, session: aiohttp.ClientSession, call_id: str, call: EmulatedCall
) -> None:
    """Print the caller's side from the emulator and the bot's turns from the API as they land."""
    shown_events = 0
    shown_turns = 0
    last_line = ""
    while True:
        finished = call.finished.is_set()
        timeline = call.media.caller.timeline if call.media and call.media.caller else []
        for event in timeline[shown_events:]:
            if event.kind == "caller_stop":
                last_line = event.detail
            elif event.kind == "bot_reply_start" and event.value is not None and last_line:
                # Counted from the caller's last word, not from the end of the line's audio.
                event = replace(event, value=event.value + _speech_tail_ms(last_line))
                last_line = ""
            line = _describe(event)
            if line:
                _say(line)
        shown_events = len(timeline)
        try:
            record = await _api(session, stack, "GET", f"/calls/{call_id}")
        except RuntimeError:
            record = {}
        turns = record.get("turns") or []
        for turn in turns[shown_turns:]:
            who = "bot" if turn.get("role") == "assistant" else "stt"
            cut = "  [interrupted]" if turn.get("interrupted") else ""
            _say(f"          {who:7} : {turn.get('text', '')}{cut}")
        shown_turns = len(turns)
        if finished:
            return
        await asyncio.sleep(0.4)


def _check(
    record: dict[str, Any] | None,
    call: EmulatedCall,
    script: CallerScript,
    engines: DemoEngines | None,
) -> list[str]:
    reasons = []
    if call.status != "completed":
        reasons.append(f"the emulated call ended {call.status!r}, not 'completed'")
    if call.errors:
        reasons.append("Twilio errors: " + ", ".join(str(e) for e in call.errors))
    if not script.hang_up:
        ended_by = call.stream_outcome.ended_by if call.stream_outcome else None
        if ended_by not in {"call_ended", "server_closed"}:
            reasons.append(f"the bot did not end the call (the stream ended by {ended_by!r})")
    if record is None:
        return [*reasons, "no call record"]
    if record.get("status") != "completed":
        reasons.append(f"call record status is {record.get('status')!r}, not 'completed'")
    turns = record.get("turns") or []
    roles = [t.get("role") for t in turns]
    if "caller" not in roles or "assistant" not in roles:
        reasons.append(f"call record turns are incomplete: {roles}")
    if engines is not None and engines.scripted:
        heard = " ".join(str(t.get("text", "")) for t in turns if t.get("role") == "caller").lower()
        missed = [line for line in engines.caller_lines if _words(line) - _words(heard)]
        if missed:
            reasons.append(f"caller lines not understood: {missed}")
        bot = [str(t.get("text", "")) for t in turns if t.get("role") == "assistant"]
        if not bot or "goodbye" not in bot[-1].lower():
            reasons.append(f"the bot's last words were not a goodbye: {bot[-1:]}")
    return reasons


def _check_outcomes(record: dict[str, Any] | None, hooks: WebhookReceiver) -> list[str]:
    """Variables were spoken, never braces; the signed events and the analysed record arrived."""
    reasons = []
    spoken = [t.get("text", "") for t in (record or {}).get("turns") or [] if t.get("role") == "assistant"]
    if any("{{" in text for text in spoken):
        reasons.append("a placeholder was spoken")
    if any(not event.signature_valid for event in hooks.received):
        reasons.append("a webhook arrived with a bad signature")
    missing = {"call.started", "call.ended", "call.analyzed"} - set(hooks.types())
    if missing:
        reasons.append(f"webhooks not received: {sorted(missing)}")
    if record is not None and not record.get("analysis"):
        reasons.append("the record has no analysis")
    return reasons


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split() if w.strip(".,!?")}


async def _final_record(
    session: aiohttp.ClientSession, stack: LocalStack, call_id: str
) -> dict[str, Any] | None:
    """The record once the status callback and the stream host have both written (bounded wait)."""
    record: dict[str, Any] | None = None
    for _ in range(80):
        record = await _api(session, stack, "GET", f"/calls/{call_id}")
        if record.get("status") == "completed" and record.get("turns"):
            return record
        await asyncio.sleep(0.25)
    return record


async def run_demo(
    stack: LocalStack,
    *,
    persona_id: str = DEMO_PERSONA,
    to: str = DEMO_TO,
    script: CallerScript = DEMO_SCRIPT,
    engines: DemoEngines | None = None,
) -> DemoResult:
    """Place the demo call on a started stack and report on it."""
    assert stack.emulator is not None
    stack.emulator.scripts[to] = script
    started = time.monotonic()
    if engines is not None:
        _say("engines:")
        for line in engines.description:
            _say(f"  {line}")
    receiver = WebhookReceiver(stack.env.get("WEBHOOK_SIGNING_SECRET", ""))
    async with receiver as hooks, aiohttp.ClientSession() as session:
        placed = await _api(
            session,
            stack,
            "POST",
            "/calls",
            json={
                "to": to,
                "persona_id": persona_id,
                "metadata": {"source": "make demo"},
                "variables": DEMO_VARIABLES,
                "webhook_url": hooks.url,
            },
            headers={"Idempotency-Key": f"demo-{time.time_ns()}"},
        )
        call_id = placed["call_id"]
        _say(f"\nPOST /calls -> {placed['status']}  call_id={call_id}  persona={persona_id}\n")
        call = await stack.emulator.wait_for_any_call(within=20)
        await asyncio.wait_for(_narrate(stack, session, call_id, call), timeout=100)
        record = await _final_record(session, stack, call_id)
        with contextlib.suppress(TimeoutError):  # what is missing is reported by _check_outcomes
            await hooks.wait_for("call.started", "call.ended", "call.analyzed", within=30)
        for _ in range(20):  # the worker records a delivery just after the receiver answered it
            record = await _api(session, stack, "GET", f"/calls/{call_id}")
            if len(record.get("webhook_deliveries") or []) >= len(hooks.types()):
                break
            await asyncio.sleep(0.25)
    reasons = _check(record, call, script, engines) + _check_outcomes(record, hooks)
    latencies = voice_to_voice_ms(call.timeline, _speech_tail_ms)
    _say("\n--- per-turn latency (caller's last word -> first bot audio heard) ---")
    for index, value in enumerate(latencies, start=1):
        _say(f"  turn {index}: {value:.0f} ms")
    if not latencies:
        _say("  (no bot reply was heard after a caller turn)")
    _say("\n--- webhooks received at " + hooks.url + " (X-Webhook-Signature checked) ---")
    for event in hooks.received:
        valid = "valid" if event.signature_valid else "INVALID"
        _say(f"  {event.type:14} answered {event.answered}  signature {valid}  id {event.body.get('id')}")
    _say("\n--- call record: GET /calls/" + call_id + " ---")
    _say(json.dumps(record, indent=2, default=str))
    if call.recording_path:
        _say(f"\nrecording (caller left, bot right): {_relative(call.recording_path)}")
    report_path = None
    if record is not None:
        report_path = stack.recordings_dir / f"demo-{call_id}.html"
        recording = call.recording_path
        href = recording.name if recording and recording.parent == report_path.parent else None
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(
            render_report(
                record=record,
                engines=engines.description if engines else (),
                heard_latencies_ms=latencies,
                recording_href=href,
                problems=reasons,
            ),
            encoding="utf-8",
        )
        _say(f"report (transcript, latency waterfall, recording): {_relative(report_path)}")
    _say(
        f"\ntotal {time.monotonic() - started:.1f} s; "
        + ("OK" if not reasons else "FAILED: " + "; ".join(reasons))
    )
    return DemoResult(ok=not reasons, reasons=reasons, record=record, call=call, report_path=report_path)
