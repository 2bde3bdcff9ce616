"""`aiphone`: place, list, watch and end calls, and list personas, from a terminal.

    aiphone call +14155550123 --persona appointment-reminder --var first_name=Ada --var appointment_time=Fri
    aiphone calls [--status in-progress] [--limit 20]
    aiphone show CALL_ID [--json]
    aiphone tail CALL_ID
    aiphone hangup CALL_ID
    aiphone personas [--json]

Reads AIPHONE_API_URL and AIPHONE_API_KEY (defaults: the local stack of `make dev`). A refusal prints
one line (`aiphone: <code>: <message>`) and exits 1; an unreachable API exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from aiphone.client import (
    AiPhoneClient,
    ApiError,
    ApiUnreachable,
    CallDetail,
    StatusChange,
    Turn,
)
from aiphone.waterfall import turn_waterfall

__all__ = ["main"]


def _pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"aiphone: {option} wants name=value, not {item!r}")
        out[name.strip()] = value
    return out


def _turn_line(turn: Turn) -> str:
    who = "bot" if turn.role == "assistant" else "caller"
    cut = "  [interrupted]" if turn.interrupted else ""
    return f"  {who:6}  {turn.text}{cut}"


def _event_line(event: StatusChange) -> str:
    what = event.status or ""
    detail = ", ".join(f"{k}={v}" for k, v in sorted(event.detail.items()) if v not in (None, ""))
    return f"  {event.at[11:23]:12}  {event.kind:9} {what:12} {detail}".rstrip()


def _latency_table(detail: CallDetail) -> list[str]:
    rows = [t for t in detail.turns if t.role == "assistant" and t.latency_ms]
    if not rows:
        return ["  (no per-turn figures stored)"]
    lines = [f"  {'turn':>4}  {'end-of-turn':>11}  {'stt':>6}  {'llm 1st':>7}  {'tts 1st':>7}  {'audio':>7}"]
    for turn in rows:
        ends = {s.stage: s.end_ms for s in turn_waterfall(turn.latency_ms)}
        cells = [
            turn.latency_ms.get("end_of_turn"),
            turn.latency_ms.get("stt"),
            ends.get("llm_first_token"),
            ends.get("tts_first_byte"),
            ends.get("first_audio"),
        ]
        text = [f"{c:.0f}" if c is not None else "-" for c in cells]
        lines.append(
            f"  {turn.index:>4}  {text[0]:>11}  {text[1]:>6}  {text[2]:>7}  {text[3]:>7}  {text[4]:>7}"
        )
    lines.append(
        "  (ms; llm/tts/audio counted from the moment the caller stopped speaking; for the greeting"
        " or a re-ask, from the moment the bot chose to speak)"
    )
    return lines


def _show(detail: CallDetail, out: TextIO) -> None:
    raw = detail.call.raw
    print(f"call {detail.call.call_id}  {detail.call.status}", file=out)
    for name in (
        "persona_id",
        "to_number",
        "from_number",
        "direction",
        "created_at",
        "ended_at",
        "end_reason",
    ):
        if raw.get(name) not in (None, ""):
            print(f"  {name:14} {raw[name]}", file=out)
    if raw.get("duration_seconds") is not None:
        print(f"  {'duration':14} {raw['duration_seconds']} s", file=out)
    error = raw.get("error")
    if isinstance(error, dict):
        print(f"  {'error':14} {error.get('code', '')} {error.get('message', '')}".rstrip(), file=out)
    elif raw.get("error_code") or raw.get("error_message"):
        print(f"  {'error':14} {raw.get('error_code', '')} {raw.get('error_message', '')}".strip(), file=out)
    refused = raw.get("update_error")
    if isinstance(refused, dict):
        what = f"{refused.get('update', 'update')} not done:"
        print(
            f"  {'update_error':14} {what} {refused.get('code', '')} {refused.get('message', '')}".rstrip(),
            file=out,
        )
    if raw.get("recording_url"):
        print(f"  {'recording':14} {raw['recording_url']}", file=out)
    if raw.get("variables"):
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(raw["variables"].items()))
        print(f"  {'variables':14} {pairs}", file=out)
    analysis = raw.get("analysis")
    if isinstance(analysis, dict) and analysis.get("summary"):
        print(f"  {'summary':14} {analysis['summary']}", file=out)
    cost = raw.get("cost_usd")
    if isinstance(cost, dict) and "total" in cost:
        print(f"  {'cost':14} ${cost['total']}", file=out)
    print("status history:", file=out)
    for event in detail.history:
        print(_event_line(event), file=out)
    print("transcript:", file=out)
    for turn in detail.turns:
        print(_turn_line(turn), file=out)
    if not detail.turns:
        print("  (none yet)", file=out)
    print("latency per bot reply:", file=out)
    for line in _latency_table(detail):
        print(line, file=out)


def _tail(client: AiPhoneClient, call_id: str, out: TextIO, interval: float) -> int:
    last_status: str | None = None
    for item in client.follow(call_id, interval=interval):
        if isinstance(item, Turn):
            print(_turn_line(item), file=out, flush=True)
        elif item.kind == "call" and item.status and item.status != last_status:
            last_status = item.status
            print(f"  [{item.status}]", file=out, flush=True)
    detail = client.get_call(call_id)
    print(f"call ended: {detail.call.status}", file=out)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiphone",
        description="AI phone calls from the terminal (AIPHONE_API_URL, AIPHONE_API_KEY).",
    )
    parser.add_argument("--api-url", help="the API base URL (default: AIPHONE_API_URL or the local stack)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    call = commands.add_parser("call", help="place a call")
    call.add_argument("to", help="E.164 number, e.g. +14155550123")
    call.add_argument("--persona", required=True, help="persona id")
    call.add_argument("--var", action="append", metavar="NAME=VALUE", help="prompt variable (repeatable)")
    call.add_argument("--meta", action="append", metavar="NAME=VALUE", help="metadata entry (repeatable)")
    call.add_argument("--webhook-url", help="where the call's events are POSTed")
    call.add_argument("--idempotency-key", help="repeat-safe key for this request")
    call.add_argument("--tail", action="store_true", help="then follow the transcript until the call ends")

    calls = commands.add_parser("calls", help="list your calls, newest first")
    calls.add_argument("--status", help="only calls in this status")
    calls.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    calls.add_argument("--from", dest="created_from", metavar="DATE", help="created at or after (ISO-8601)")
    calls.add_argument("--to", dest="created_to", metavar="DATE", help="created before (ISO-8601)")
    calls.add_argument("--json", action="store_true", help="print the JSON records")

    show = commands.add_parser("show", help="a call's record, status history, transcript and latencies")
    show.add_argument("call_id")
    show.add_argument("--json", action="store_true", help="print GET /calls/{id} as JSON")

    tail = commands.add_parser("tail", help="follow a call's live transcript until it ends")
    tail.add_argument("call_id")
    tail.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")

    hangup = commands.add_parser("hangup", help="end a live call")
    hangup.add_argument("call_id")

    personas = commands.add_parser("personas", help="list personas")
    personas.add_argument("--json", action="store_true", help="print the JSON personas")
    return parser


def _run(args: argparse.Namespace, client: AiPhoneClient, out: TextIO) -> int:
    if args.command == "call":
        placed = client.place_call(
            args.to,
            args.persona,
            variables=_pairs(args.var, "--var"),
            metadata=_pairs(args.meta, "--meta"),
            webhook_url=args.webhook_url,
            idempotency_key=args.idempotency_key,
        )
        print(f"{placed.call_id}  {placed.status}", file=out, flush=True)
        return _tail(client, placed.call_id, out, 1.0) if args.tail else 0
    if args.command == "calls":
        remaining = max(1, args.limit)
        shown = 0
        calls = client.iter_calls(
            status=args.status,
            page_size=min(remaining, 100),
            created_from=args.created_from,
            created_to=args.created_to,
        )
        for call in calls:
            if args.json:
                print(json.dumps(call.raw), file=out)
            else:
                print(
                    f"{call.created_at[:19]:19}  {call.call_id:36}  {call.status:11}  "
                    f"{call.to_number:16}  {call.persona_id}",
                    file=out,
                )
            shown += 1
            if shown >= remaining:
                break
        if not shown and not args.json:
            print("(no calls)", file=out)
        return 0
    if args.command == "show":
        if args.json:
            print(json.dumps(client.get_call_json(args.call_id), indent=2), file=out)
        else:
            _show(client.get_call(args.call_id), out)
        return 0
    if args.command == "tail":
        return _tail(client, args.call_id, out, args.interval)
    if args.command == "hangup":
        result = client.hangup(args.call_id)
        print(f"{args.call_id}  hang-up requested (was {result.get('status')})", file=out)
        return 0
    # personas
    for persona in client.iter_personas():
        if args.json:
            print(json.dumps(persona.raw), file=out)
        else:
            print(f"{persona.persona_id:28}  {persona.name}", file=out)
    return 0


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused, 2 unreachable or bad usage)."""
    stdout, stderr = out or sys.stdout, err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        client = AiPhoneClient(base_url=args.api_url, timeout=args.timeout)
        return _run(args, client, stdout)
    except ApiError as error:
        where = f" (field '{error.field}')" if error.field else ""
        print(f"aiphone: {error.code}: {error.message}{where}", file=stderr)
        return 1
    except ApiUnreachable as error:
        print(f"aiphone: {error} (is `make dev` running, or AIPHONE_API_URL set?)", file=stderr)
        return 2
    except ValueError as error:
        print(f"aiphone: {error}", file=stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
