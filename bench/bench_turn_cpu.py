"""CPU per reply: what one LLM reply and one spoken sentence cost the stream host, through the real
adapters (Cerebras SDK, ElevenLabs SDK, both over httpx) against the bench's provider fakes.

Usage: `python bench/bench_turn_cpu.py [--replies 30]`

The fakes run in their own process on core 0 at the published latencies (`bench/loadgen/fakes.py`:
LLM tokens one per chunk at 1,000 tokens a second, TTS audio written 100 ms at a time at twice real
time); this process runs on core 1 and counts only its own CPU (`resource.getrusage`: user and
kernel). The history is a realistic mid-call one (a system prompt, six exchanges) with the three tools
every reply offers.

Why it exists: when many calls' turns end together (the capacity benchmark starts its calls in a
burst, so their turns line up), each of them needs this much CPU at the same moment, and that, more
than the per-frame cost, is what moves voice-to-voice p95 at the knee. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen.fakes import FakeLatencies  # noqa: E402
from bench.loadgen.harness import running_fakes  # noqa: E402
from stream_server.behaviours.tools import END_CALL, OPT_OUT, TRANSFER_CALL  # noqa: E402
from stream_server.providers import build_providers  # noqa: E402
from stream_server.providers.base import ChatMessage  # noqa: E402
from stream_server.providers.config import DEFAULT_CEREBRAS_MODEL, ProviderSettings  # noqa: E402
from stream_server.providers.llm_cerebras import CerebrasLanguageModel  # noqa: E402

SENTENCE = "Your appointment is on Tuesday at ten in the morning."
VOICE = "21m00Tcm4TlvDq8NMQCf"


def mid_call_history() -> list[ChatMessage]:
    history = [
        ChatMessage("system", "You are Ava, calling for the Elm Street clinic about appointments. " * 8)
    ]
    for _ in range(6):
        history += [
            ChatMessage("user", "Could you tell me when my appointment is, please?"),
            ChatMessage("assistant", SENTENCE + " Is there anything else?"),
        ]
    return [*history, ChatMessage("user", "Great, thank you very much for your help.")]


async def _cpu_per_run(run: Callable[[], Awaitable[int]], count: int) -> tuple[float, float, float, float]:
    """(user ms, kernel ms, items, wall ms) per run, after three warm-up runs."""
    for _ in range(3):
        await run()
    before, started, items = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), 0
    for _ in range(count):
        items += await run()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - started
    return (
        1000 * (after.ru_utime - before.ru_utime) / count,
        1000 * (after.ru_stime - before.ru_stime) / count,
        items / count,
        1000 * wall / count,
    )


async def _main(count: int) -> int:
    with running_fakes(FakeLatencies(), core=0) as provider_env:
        os.environ.update(provider_env)
        os.environ.update(STT_PROVIDER="elevenlabs", LLM_PROVIDER="cerebras", TTS_PROVIDER="elevenlabs")
        providers = build_providers(ProviderSettings.from_env())
        history = mid_call_history()

        llm = providers.llm
        assert isinstance(llm, CerebrasLanguageModel)

        async def reply() -> int:
            stream = llm.stream_with_tools(
                history, model=DEFAULT_CEREBRAS_MODEL, tools=(END_CALL, OPT_OUT, TRANSFER_CALL)
            )
            return sum([1 async for _ in stream])

        async def sentence() -> int:
            return sum([1 async for _ in providers.tts.synthesize(SENTENCE, voice_id=VOICE, language="en")])

        try:
            print(f"{count} runs each, after 3 warm-up runs; this process on core 1, the fakes on core 0")
            for name, run, unit in (("LLM reply", reply, "chunks"), ("TTS sentence", sentence, "reads")):
                user, kernel, items, wall = await _cpu_per_run(run, count)
                print(
                    f"{name:>12}: {user + kernel:6.2f} CPU-ms each (user {user:.2f}, kernel {kernel:.2f}); "
                    f"{items:.0f} {unit}, {(user + kernel) / max(items, 1):.3f} CPU-ms per {unit[:-1]}; "
                    f"{wall:.0f} ms wall each"
                )
        finally:
            await providers.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replies", type=int, default=30, help="measured runs of each")
    parser.add_argument("--quick", action="store_true", help="3 runs of each: a smoke check")
    args = parser.parse_args(argv)
    if args.quick:
        args.replies = 3
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})
    return asyncio.run(_main(args.replies))


if __name__ == "__main__":
    raise SystemExit(main())
