"""`python -m local dev | seed | demo` (what `make dev`, `make seed` and `make demo` run)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys

from local.stack import ROOT, LocalStack, configure_logging
from local.storage import FAKE_AWS_ENV, create_table, seed_example_personas

log = logging.getLogger("local.stack")


async def _dev() -> int:
    stack = LocalStack.from_environment(free_ports=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        shown = stack.api_key if stack.api_key == "local-dev-api-key" else "<your LOCAL_API_KEY>"
        log.info("local stack running; send the header x-api-key: %s  (Ctrl-C stops)", shown)
        fragment = f"#key={stack.api_key}" if stack.api_key == "local-dev-api-key" else ""
        log.info("web console: %s/console/%s", stack.api_url, fragment)
        waiter = asyncio.create_task(stop.wait())
        exits: list[asyncio.Task[int]] = []
        if stack.stream_host is not None:
            exits.append(asyncio.create_task(stack.stream_host.wait()))
        done, _ = await asyncio.wait({waiter, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, *exits):
            task.cancel()
        if waiter not in done:
            log.error("the stream host exited; stopping the stack")
            return 1
        return 0
    finally:
        await stack.stop()


async def _demo() -> int:
    from local.demo import DEMO_SCRIPT, run_demo
    from local.demo_engines import choose_demo_engines, start_scripted_engines

    base = dict(os.environ)
    engines = choose_demo_engines(base, [u.text for u in DEMO_SCRIPT.utterances if u.text])
    async with contextlib.AsyncExitStack() as fakes:
        if engines.scripted:
            base.update(await start_scripted_engines(fakes, engines.caller_lines))
        stack = LocalStack.from_environment(free_ports=True, base=base)
        stack.quiet = os.environ.get("DEMO_VERBOSE", "") not in {"1", "true"}
        try:
            await stack.start()
            script = (
                dataclasses.replace(DEMO_SCRIPT, hang_up=True) if engines.offline_recogniser else DEMO_SCRIPT
            )
            result = await asyncio.wait_for(run_demo(stack, engines=engines, script=script), timeout=110)
            return 0 if result.ok else 1
        except (TimeoutError, RuntimeError) as exc:
            log.error("demo failed: %s", exc)
            return 1
        finally:
            await stack.stop()
    return 1


def _seed() -> int:
    endpoint = (
        os.environ.get("DYNAMODB_ENDPOINT") or f"http://127.0.0.1:{os.environ.get('DYNAMODB_PORT', '5005')}"
    )
    for name, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(name, value)
    table = create_table(endpoint, ROOT / "template.yaml", os.environ.get("TABLE_NAME") or "ai-phone-calls")
    seeded = seed_example_personas(table, ROOT / "examples" / "personas")
    log.info("seeded %s into %s", ", ".join(seeded), endpoint)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("command", choices=["dev", "seed", "demo"])
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "seed":
        return _seed()
    runner = _dev if args.command == "dev" else _demo
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(runner())
    return 130


if __name__ == "__main__":
    sys.exit(main())
