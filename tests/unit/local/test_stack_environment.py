"""`make dev` honours the environment: every variable of the README's table keeps an explicit value,
and an explicit TWILIO_API_BASE_URL sends calls to that Twilio instead of the built-in emulator."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from local.stack import LOCAL_OVERRIDES, LocalStack, uses_builtin_twilio
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator

ROOT = Path(__file__).resolve().parents[3]


def readme_variables() -> list[str]:
    """Every variable named in the first column of the README's configuration table."""
    names: list[str] = []
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        names += re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)
    return names


def explicit_value(name: str, index: int) -> str:
    """A value no default could produce (ports must stay numbers)."""
    if name == "PORT" or name.endswith("_PORT"):
        return str(41000 + index)
    return f"explicit-{name.lower()}"


def test_the_readme_table_is_found() -> None:
    names = readme_variables()
    assert {"TWILIO_API_BASE_URL", "API_PORT", "PORT", "STREAM_PUBLIC_URL", "LOCAL_API_KEY"} <= set(names)


def test_every_documented_variable_keeps_its_explicit_value() -> None:
    names = readme_variables()
    base = {name: explicit_value(name, i) for i, name in enumerate(names)}
    stack = LocalStack.from_environment(free_ports=True, base=base)
    changed = {
        name: (value, stack.env.get(name))
        for name, value in base.items()
        if stack.env.get(name) != value and name not in LOCAL_OVERRIDES
    }
    assert changed == {}
    assert not stack.builtin_twilio
    assert stack.ports.api == int(base["API_PORT"]) and stack.ports.stream == int(base["PORT"])


def test_unset_variables_get_the_local_defaults() -> None:
    stack = LocalStack.from_environment(free_ports=True, base={})
    assert stack.builtin_twilio
    assert stack.env["TWILIO_API_BASE_URL"] == f"http://127.0.0.1:{stack.ports.emulator}"
    assert stack.env["STREAM_PUBLIC_URL"] == f"ws://127.0.0.1:{stack.ports.stream}/media"
    # An empty value counts as unset, as in a shell's `VAR= make dev`.
    assert uses_builtin_twilio({"TWILIO_API_BASE_URL": ""})


async def test_an_outside_twilio_gets_the_call_and_no_emulator_starts(tmp_path: Path) -> None:
    outside = TwilioEmulator(EmulatorSettings(allow_insecure_local_streams=True))
    await outside.start()
    stack = LocalStack.from_environment(
        free_ports=True,
        base={
            "TWILIO_API_BASE_URL": outside.base_url,
            "TWILIO_ACCOUNT_SID": outside.settings.account_sid,
            "TWILIO_AUTH_TOKEN": outside.settings.auth_token,
        },
    )
    stack.with_stream_host = False
    stack.quiet = True
    stack.recordings_dir = tmp_path
    try:
        await stack.start()
        assert stack.emulator is None
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{stack.api_url}/calls",
                headers={"x-api-key": stack.api_key},
                json={
                    "to": "+14155550123",
                    "persona_id": "appointment-reminder",
                    "variables": {"first_name": "Sam", "appointment_time": "Friday at ten"},
                },
            ) as response,
        ):
            assert response.status == 202, await response.text()
        call = await outside.wait_for_any_call(within=30)
        assert call.request.to == "+14155550123"
        assert call.request.url is not None and call.request.url.startswith(stack.api_url)
    finally:
        await stack.stop()
        await outside.stop()


def test_offline_engines_get_deadlines_for_a_busy_cpu_hosted_ones_keep_the_stream_hosts() -> None:
    offline = LocalStack.from_environment(free_ports=True, base={}).env
    assert int(offline["STT_FINAL_TIMEOUT_MS"]) >= 10_000
    assert float(offline["TTS_FIRST_BYTE_TIMEOUT_SECONDS"]) >= 20
    hosted = LocalStack.from_environment(free_ports=True, base={"ELEVENLABS_API_KEY": "k"}).env
    assert "STT_FINAL_TIMEOUT_MS" not in hosted and "TTS_FIRST_BYTE_TIMEOUT_SECONDS" not in hosted
    mixed = {"ELEVENLABS_API_KEY": "k", "STT_PROVIDER": "elevenlabs", "TTS_PROVIDER": "offline"}
    env = LocalStack.from_environment(free_ports=True, base=mixed).env
    assert "STT_FINAL_TIMEOUT_MS" not in env and "TTS_FIRST_BYTE_TIMEOUT_SECONDS" in env
