"""Serve the fake ElevenLabs and Cerebras APIs on one local port (their paths do not overlap).

python -m local.fake_providers --port 8790
ELEVENLABS_BASE_URL=http://127.0.0.1:8790 CEREBRAS_BASE_URL=http://127.0.0.1:8790 ...

Faults: ``--faults "stt_commit=ok,normal_close;llm=http_500"`` at start, or later
``POST /_fake/faults`` (see `local.fake_providers.faults`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from local.fake_providers.cerebras import FakeCerebras
from local.fake_providers.elevenlabs import FakeElevenLabs
from local.fake_providers.faults import FaultSpecError, apply_faults, install_fault_control, parse_fault_spec


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.fake_providers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--elevenlabs-key", default="test-elevenlabs-key")
    parser.add_argument("--cerebras-key", default="test-cerebras-key")
    parser.add_argument("--tts-first-byte-ms", type=float, default=100.0)
    parser.add_argument("--tts-speed", type=float, default=0.0, help="multiple of real time; 0 = unpaced")
    parser.add_argument("--stt-commit-ms", type=float, default=150.0)
    parser.add_argument("--transcript", default="hello", help="what every commit transcribes")
    parser.add_argument("--llm-first-token-ms", type=float, default=150.0)
    parser.add_argument("--llm-tokens-per-second", type=float, default=1000.0)
    parser.add_argument("--faults", default="", help='e.g. "stt_commit=ok,commit_throttled;tts=http_500"')
    args = parser.parse_args()
    try:
        args.fault_schedule = parse_fault_spec(args.faults)
    except FaultSpecError as error:
        parser.error(f"--faults: {error}")
    return args


async def _serve(args: argparse.Namespace) -> None:
    eleven = FakeElevenLabs(
        api_key=args.elevenlabs_key,
        default_transcript=args.transcript,
        stt_commit_ms=args.stt_commit_ms,
        tts_first_byte_ms=args.tts_first_byte_ms,
        tts_speed=args.tts_speed,
    )
    cerebras = FakeCerebras(
        api_key=args.cerebras_key,
        first_token_ms=args.llm_first_token_ms,
        tokens_per_second=args.llm_tokens_per_second,
    )
    apply_faults(args.fault_schedule, eleven=eleven, cerebras=cerebras)
    app = web.Application()
    eleven.install(app)
    cerebras.install(app)
    install_fault_control(app, eleven=eleven, cerebras=cerebras)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    print(f"fake providers on http://{args.host}:{args.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_arguments()))


if __name__ == "__main__":
    main()
