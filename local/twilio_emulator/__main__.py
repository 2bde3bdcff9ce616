"""`python -m local.twilio_emulator`: the emulator on its own, for pointing any app at by hand.

Credentials come from TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN (set the same values in the app under
test; random ones are used otherwise, and the token is never printed). `--script` takes a JSON caller script:
`{"utterances": [{"text": "Hi", "pause_ms": 700}, {"text": "Wait", "barge_in_ms": 800}], "hang_up": true}`.
Twilio's own irregularities on request: `--late-status-callbacks ringing`, `--duplicate-status-callbacks`,
`--dial-outcome +15550001111=no-answer`, and Webhook Rules signing with TWILIO_WEBHOOK_SHARED_KEY
(`key_id=secret`, read from the environment so the secret is never on a command line). A per-call
schedule of faults: `--faults "ok,busy,late_callbacks+duplicate_callbacks"` or later
`POST /_emulator/faults` (`local.twilio_emulator.faults`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path

from local.twilio_emulator.caller import CallerScript, Utterance
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator
from local.twilio_emulator.faults import CallFaultError, parse_call_faults


def _script(path: Path | None) -> CallerScript | None:
    if path is None:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return CallerScript(
        tuple(Utterance(**item) for item in data["utterances"]),
        hang_up=bool(data.get("hang_up", True)),
        max_wait_ms=int(data.get("max_wait_ms", 15_000)),
    )


async def _serve(settings: EmulatorSettings, faults: list[str]) -> None:
    emulator = TwilioEmulator(settings)
    emulator.inject(*faults)
    url = await emulator.start()
    print(f"TWILIO_API_BASE_URL={url}")
    print(f"TWILIO_ACCOUNT_SID={settings.account_sid}")
    print(
        "TWILIO_AUTH_TOKEN=<as configured>"
        if os.environ.get("TWILIO_AUTH_TOKEN")
        else "TWILIO_AUTH_TOKEN=" + settings.auth_token
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.twilio_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("TWILIO_EMULATOR_PORT", "3001")))
    parser.add_argument(
        "--allow-insecure-local-streams", action="store_true", help="accept ws:// on loopback"
    )
    parser.add_argument("--answered-by", default="human", help="AMD result: human, machine_end_beep, ...")
    parser.add_argument("--script", type=Path, help="JSON caller script (default: a silent callee)")
    parser.add_argument("--recordings", type=Path, default=Path("out"), help="where call WAVs go")
    parser.add_argument(
        "--late-status-callbacks", default="", help="call events delivered after the next one, e.g. ringing"
    )
    parser.add_argument("--duplicate-status-callbacks", action="store_true", help="deliver each twice")
    parser.add_argument(
        "--dial-outcome",
        action="append",
        default=[],
        help="NUMBER=DialCallStatus (completed, no-answer, busy...)",
    )
    parser.add_argument("--faults", default="", help='what the next calls meet, e.g. "ok,busy,fax"')
    args = parser.parse_args()
    try:
        faults = parse_call_faults(args.faults)
    except CallFaultError as error:
        parser.error(f"--faults: {error}")
    outcomes = dict(item.split("=", 1) for item in args.dial_outcome if "=" in item)
    shared_key = os.environ.get("TWILIO_WEBHOOK_SHARED_KEY", "")
    key_id, _, key_secret = shared_key.partition("=")
    if shared_key and not (key_id and key_secret):
        parser.error("TWILIO_WEBHOOK_SHARED_KEY must be key_id=secret")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [twilio ] %(message)s")
    settings = EmulatorSettings(
        host=args.host,
        port=args.port,
        allow_insecure_local_streams=args.allow_insecure_local_streams,
        answered_by=args.answered_by,
        recordings_dir=args.recordings,
        default_script=_script(args.script),
        late_status_callbacks=frozenset(
            e.strip() for e in args.late_status_callbacks.split(",") if e.strip()
        ),
        duplicate_status_callbacks=args.duplicate_status_callbacks,
        dial_outcomes=outcomes,
        webhook_shared_key=(key_id, key_secret) if shared_key else None,
    )
    if os.environ.get("TWILIO_ACCOUNT_SID"):
        settings.account_sid = os.environ["TWILIO_ACCOUNT_SID"]
    if os.environ.get("TWILIO_AUTH_TOKEN"):
        settings.auth_token = os.environ["TWILIO_AUTH_TOKEN"]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, faults))


if __name__ == "__main__":
    main()
