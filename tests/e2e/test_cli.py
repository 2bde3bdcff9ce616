"""The `aiphone` CLI and its client against the real local stack (API, emulator, stream host)."""

from __future__ import annotations

import asyncio
import io
import os
import time

import pytest

from aiphone.cli import main
from aiphone.client import AiPhoneClient
from local.stack import LocalStack
from local.twilio_emulator.caller import CallerScript, Utterance

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


async def _aiphone(stack: LocalStack, *args: str) -> tuple[int, str, str]:
    """Run the CLI in a worker thread (it is synchronous) against the stack."""
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        # Generous: the first request to each function imports it (a cold start) on a busy machine.
        return main(["--api-url", stack.api_url, "--timeout", "120", *args], out=out, err=err)

    previous = os.environ.get("AIPHONE_API_KEY")
    os.environ["AIPHONE_API_KEY"] = stack.api_key
    try:
        code = await asyncio.to_thread(run)
    finally:
        if previous is None:
            os.environ.pop("AIPHONE_API_KEY", None)
        else:
            os.environ["AIPHONE_API_KEY"] = previous
    return code, out.getvalue(), err.getvalue()


async def _wait_for_status(client: AiPhoneClient, call_id: str, wanted: set[str]) -> str:
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = (await asyncio.to_thread(client.get_call, call_id)).call.status
        if status in wanted:
            return status
        await asyncio.sleep(0.3)
    raise AssertionError(f"call {call_id} stayed {status!r}, wanted one of {wanted}")


async def test_call_with_tail_then_calls_and_show(stack: LocalStack) -> None:
    assert stack.emulator is not None
    stack.emulator.scripts["+14155550170"] = CallerScript(
        (Utterance("Yes, that works for me.", pause_ms=500), Utterance("Thank you, goodbye.", pause_ms=500)),
        hang_up=True,
        max_wait_ms=15_000,
    )
    code, out, err = await _aiphone(
        stack,
        "call",
        "+14155550170",
        "--persona",
        "appointment-reminder",
        "--var",
        "first_name=Ada",
        "--var",
        "appointment_time=Friday at ten",
        "--tail",
    )
    assert code == 0, err
    call_id = out.split()[0]
    assert "  bot" in out and "call ended: completed" in out, out
    code, listed, _ = await _aiphone(stack, "calls", "--limit", "5")
    assert code == 0 and call_id in listed.splitlines()[0]
    code, none, _ = await _aiphone(stack, "calls", "--from", "2000-01-01", "--to", "2000-01-02")
    assert code == 0 and none.strip() == "(no calls)"
    # `aiphone tail` of a call that has ended: its whole transcript, in order, then the end.
    code, tailed, _ = await _aiphone(stack, "tail", call_id, "--interval", "0.2")
    assert code == 0 and tailed.splitlines()[-1] == "call ended: completed"
    assert tailed.index("[in-progress]") < tailed.index("  bot") < tailed.index("[completed]")
    code, shown, _ = await _aiphone(stack, "show", call_id)
    assert code == 0
    assert f"call {call_id}  completed" in shown
    assert "transcript:" in shown and "latency per bot reply:" in shown and "end-of-turn" in shown


async def test_hangup_ends_a_live_call_and_then_refuses(stack: LocalStack) -> None:
    client = AiPhoneClient(stack.api_url, stack.api_key, timeout=120)
    placed = await asyncio.to_thread(
        client.place_call,
        "+14155550171",
        "appointment-reminder",
        variables={"first_name": "Ada", "appointment_time": "Friday at ten"},
    )  # silent callee
    await _wait_for_status(client, placed.call_id, {"in-progress"})
    code, out, err = await _aiphone(stack, "hangup", placed.call_id)
    assert code == 0 and "hang-up requested" in out, err
    assert await _wait_for_status(client, placed.call_id, {"completed", "canceled"}) == "completed"
    code, out, err = await _aiphone(stack, "hangup", placed.call_id)
    assert code == 1 and err.startswith("aiphone: call_ended:") and err.count("\n") == 1


async def test_errors_are_one_line_and_non_zero(stack: LocalStack) -> None:
    code, _, err = await _aiphone(stack, "call", "12345", "--persona", "appointment-reminder")
    assert code == 1 and err.startswith("aiphone: ") and err.count("\n") == 1
    code, _, err = await _aiphone(stack, "calls", "--status", "sideways")
    assert code == 1 and "(field 'status')" in err
    code, _, err = await _aiphone(stack, "show", "no-such-call")
    assert code == 1 and "call_not_found" in err
    out, err_io = io.StringIO(), io.StringIO()
    unreachable = await asyncio.to_thread(
        main, ["--api-url", "http://127.0.0.1:9", "calls"], out=out, err=err_io
    )
    assert unreachable == 2 and "cannot reach" in err_io.getvalue()


async def test_personas_lists_the_seeded_ones(stack: LocalStack) -> None:
    code, out, _ = await _aiphone(stack, "personas")
    assert code == 0 and "appointment-reminder" in out
