"""`make demo`'s default path: the real Scribe and Cerebras adapters against the local fakes make a
coherent call that the bot ends with its goodbye, and the HTML report is written."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from local.demo import DEMO_SCRIPT, run_demo
from local.demo_engines import DemoEngines, choose_demo_engines, start_scripted_engines
from local.stack import LocalStack
from tests.e2e.conftest import started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
LINES = [u.text for u in DEMO_SCRIPT.utterances if u.text]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scripted(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[LocalStack, DemoEngines]]:
    engines = choose_demo_engines({}, LINES)
    assert engines.scripted
    async with contextlib.AsyncExitStack() as fakes:
        env = await start_scripted_engines(fakes, engines.caller_lines)
        async with started_stack(tmp_path_factory.mktemp("demo"), env) as stack:
            yield stack, engines


async def test_scripted_demo_is_a_coherent_call_the_bot_ends(
    scripted: tuple[LocalStack, DemoEngines], capsys: pytest.CaptureFixture[str]
) -> None:
    stack, engines = scripted
    result = await run_demo(stack, engines=engines)
    assert result.ok, result.reasons
    assert result.record is not None and result.call is not None
    turns = result.record["turns"]
    caller = [t["text"] for t in turns if t["role"] == "caller"]
    bot = [t["text"] for t in turns if t["role"] == "assistant"]
    assert caller == LINES
    assert "afternoon appointment" in " ".join(bot) and bot[-1].endswith("goodbye.")
    assert result.record["end_reason"] == "caller-goodbye"
    assert not any(e.kind == "caller_hang_up" for e in result.call.timeline)
    out = capsys.readouterr().out
    assert "engines:" in out and "does not recognise speech" in out
    report = result.report_path
    assert report is not None and report.is_file()
    text = report.read_text()
    assert "afternoon appointment" in text and 'class="bar"' in text
    recording = result.call.recording_path
    assert recording is not None and f'src="{Path(recording).name}"' in text
