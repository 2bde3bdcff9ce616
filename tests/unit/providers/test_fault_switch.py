"""The fakes' fault-injection switch: a schedule from the command line or over HTTP."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from local.fake_providers.cerebras import FakeCerebras
from local.fake_providers.elevenlabs import FakeElevenLabs
from local.fake_providers.faults import FaultSpecError, install_fault_control, parse_fault_spec
from local.fake_providers.server import FakeServer


def test_spec_is_parsed_per_queue_in_order() -> None:
    assert parse_fault_spec("stt_commit=ok,normal_close; llm=http_500;stt_commit=drop") == {
        "stt_commit": ["ok", "normal_close", "drop"],
        "llm": ["http_500"],
    }
    assert parse_fault_spec("") == {}


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("stt_commit=explode", "unknown fault 'explode'"),
        ("dns=ok", "unknown fault queue"),
        ("llm", "queue=fault"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, why: str) -> None:
    with pytest.raises(FaultSpecError, match=why):
        parse_fault_spec(spec)


class _Both(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.eleven = FakeElevenLabs()
        self.cerebras = FakeCerebras()

    def install(self, app: web.Application) -> None:
        self.eleven.install(app)
        self.cerebras.install(app)
        install_fault_control(app, eleven=self.eleven, cerebras=self.cerebras)


async def test_control_route_schedules_faults_and_refuses_unknown_ones() -> None:
    async with _Both() as both, aiohttp.ClientSession() as http:
        url = f"{both.base_url}/_fake/faults"
        async with http.post(url, json={"stt_commit": ["commit_throttled"], "llm": ["ok", "http_429"]}) as ok:
            assert ok.status == 204
        async with http.post(url, json={"tts": ["meltdown"]}) as bad:
            assert bad.status == 400
            assert "unknown fault 'meltdown'" in (await bad.json())["message"]
    assert list(both.eleven._stt_commit_faults) == ["commit_throttled"]
    assert list(both.cerebras.config.faults) == ["ok", "http_429"]
    assert not both.eleven._tts_faults
