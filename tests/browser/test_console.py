"""The web console in a real browser (Debian's chromium driven through chromium-driver by Selenium)
against the real local stack: enter the key, place a call from the page, watch the bot's greeting
arrive in the live transcript, find the latency waterfall, see the call in the list, and get the
API's validation message when a persona is saved with a bad field. Screenshots go to out/.

Nothing is downloaded: the browser is the system's (`.ci/run` installs `chromium` and
`chromium-driver` with apt-get). Without them the tests skip, unless REQUIRE_BROWSER=1 (CI) makes
that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from aiphone.client import AiPhoneClient
from local.stack import LocalStack
from local.twilio_emulator.caller import CallerScript, Utterance

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TO = "+14155550190"
T = TypeVar("T")


def _browser_or_skip() -> tuple[str, str]:
    if CHROMIUM and CHROMEDRIVER:
        return CHROMIUM, CHROMEDRIVER
    message = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _microphone_file(folder: Path) -> Path:
    """What the fake microphone plays, looped by Chromium: 3 s of quiet (the bot greets), a line
    of speech, then 5 s of quiet (the bot answers)."""
    import wave

    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Yes, I have a moment."], check=True)
    with wave.open(str(speech)) as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    quiet = b"\x00" * params.sampwidth * params.nchannels * params.framerate
    path = folder / "microphone.wav"
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(quiet * 3 + frames + quiet * 5)
    return path


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    binary, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-test-chromium-")
    microphone = _microphone_file(Path(profile))
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    local = LocalStack.from_environment(free_ports=True, base={})
    local.recordings_dir = tmp_path_factory.mktemp("recordings")
    await local.start()
    assert local.emulator is not None
    # The callee listens to the greeting, then says goodbye and hangs up.
    local.emulator.scripts[TO] = CallerScript(
        (Utterance("Thank you, goodbye.", pause_ms=500),), hang_up=True, max_wait_ms=20_000
    )
    try:
        yield local
    finally:
        await local.stop()


async def _until(check: Callable[[], T | None], what: str, within: float = 90.0) -> T:
    """Poll ``check`` (run in a thread: Selenium blocks) until it returns something truthy."""
    import asyncio

    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await asyncio.to_thread(check)
        except Exception as error:  # a stale element while the page re-renders: look again
            last_error = error
            value = None
        if value:
            return value
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error!r})")


async def _run(action: Callable[[], T]) -> T:
    import asyncio

    return await asyncio.to_thread(action)


def _shot(browser: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


async def test_place_a_call_and_watch_it_live(stack: LocalStack, driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # The key is asked for once, through the form.
    await _run(lambda: driver.get(f"{stack.api_url}/console/"))
    form = await _until(lambda: driver.find_element(By.ID, "key-form").is_displayed(), "the key form")
    assert form

    def enter_key() -> None:
        driver.find_element(By.ID, "key-input").send_keys(stack.api_key)
        driver.find_element(By.CSS_SELECTOR, "#key-form button").click()

    await _run(enter_key)
    await _until(lambda: driver.find_element(By.ID, "view-calls").is_displayed(), "the calls page")
    assert await _run(lambda: driver.execute_script("return sessionStorage.getItem('aiphone.apiKey')")) == (
        stack.api_key
    )

    # Place a call from the page.
    await _run(lambda: driver.find_element(By.CSS_SELECTOR, 'a[data-nav="new"]').click())
    await _until(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, "#new-persona option")) > 0, "the persona choices"
    )

    # On the local stack the page says what the emulated callee does.
    hint = await _until(
        lambda: (h := driver.find_element(By.ID, "new-local-hint")).is_displayed() and h, "hint"
    )
    assert "says nothing" in await _run(lambda: hint.text)
    # The chosen persona's {{placeholders}} are offered as name= lines to fill in.
    persona = await _run(lambda: Select(driver.find_element(By.ID, "new-persona")))
    await _run(lambda: persona.select_by_value("appointment-reminder"))
    offered = await _run(lambda: driver.find_element(By.ID, "new-vars").get_attribute("value"))
    assert sorted(offered.splitlines()) == ["appointment_time=", "first_name="]

    def place() -> None:
        persona.select_by_value("receptionist")  # no {{variables}} to fill: the empty lines go
        assert driver.find_element(By.ID, "new-vars").get_attribute("value") == ""
        driver.find_element(By.ID, "new-to").send_keys(TO)
        driver.find_element(By.CSS_SELECTOR, "#new-form button").click()

    await _run(place)
    await _until(lambda: "#/calls/" in driver.current_url, "the call page")

    # The bot's greeting shows up in the live transcript while the call runs.
    greeting = "Hello, you've reached Northwind Books, this is Sam"
    await _until(
        lambda: greeting in driver.find_element(By.ID, "call-transcript").text,
        "the greeting in the transcript",
    )
    await _until(
        lambda: driver.find_element(By.ID, "call-status").text == "completed", "the call to complete", 120
    )
    rows = await _until(
        lambda: driver.find_elements(By.CSS_SELECTOR, "#call-waterfall .wf-row .wf-bar"), "the waterfall"
    )
    assert rows
    history = await _run(lambda: driver.find_element(By.ID, "call-history").text)
    assert "in-progress" in history and "completed" in history
    # The receptionist records its calls: the player gets the recording and it plays.
    assert stack.emulator is not None
    src = await _until(
        lambda: driver.find_element(By.CSS_SELECTOR, "#call-recording audio").get_attribute("src"),
        "the recording player",
    )
    assert src.startswith(f"{stack.emulator.base_url}/2010-04-01/Accounts/")
    seconds = await _until(
        lambda: driver.execute_script(
            "const a = document.querySelector('#call-recording audio');"
            "if (a.readyState === 0) { a.preload = 'auto'; a.load(); }"
            "return a.duration > 0 && a.duration;"
        ),
        "the recording to load in the page",
    )
    assert seconds > 1
    await _run(lambda: _shot(driver, "call"))

    # The call is in the list, with its status.
    call_id = (await _run(lambda: driver.current_url)).rsplit("/", 1)[1]
    await _run(lambda: driver.find_element(By.CSS_SELECTOR, 'a[data-nav="calls"]').click())
    row = await _until(
        lambda: driver.find_elements(By.CSS_SELECTOR, f'#calls-table tr[data-call="{call_id}"]'),
        "the call row",
    )
    assert "completed" in await _run(lambda: row[0].text)
    await _run(lambda: _shot(driver, "calls"))


async def test_a_failed_call_says_why_in_words(stack: LocalStack, driver: Any) -> None:
    """The call page tells the reader what went wrong, from the record's error."""
    from selenium.webdriver.common.by import By

    assert stack.emulator is not None
    stack.emulator.lines["+14155550191"] = "busy"
    client = AiPhoneClient(stack.api_url, stack.api_key, timeout=60)
    placed = await _run(lambda: client.place_call("+14155550191", "receptionist"))
    await _run(lambda: driver.get(f"{stack.api_url}/console/#key={stack.api_key}"))
    await _until(lambda: "#/calls" in driver.current_url, "the console")
    await _run(lambda: driver.get(f"{stack.api_url}/console/#/calls/{placed.call_id}"))
    said = await _until(lambda: driver.find_element(By.ID, "call-error").text, "the error in words")
    assert said == "The line was busy: the callee is busy (SIP 486 Busy Here). (busy, reported by call)"
    assert await _run(lambda: driver.find_element(By.ID, "call-status").text) == "busy"


async def test_persona_editor_shows_the_apis_validation_message(stack: LocalStack, driver: Any) -> None:
    from selenium.webdriver.common.by import By

    # A key in the URL fragment is taken and removed from the address bar.
    await _run(lambda: driver.get(f"{stack.api_url}/console/#key={stack.api_key}"))
    await _until(lambda: "#/calls" in driver.current_url, "the fragment key to be taken")
    assert "key=" not in await _run(lambda: driver.current_url)
    await _run(lambda: driver.get(f"{stack.api_url}/console/#/personas/appointment-reminder"))
    editor = await _until(
        lambda: (e := driver.find_element(By.ID, "persona-json")).get_attribute("value") and e, "the persona"
    )

    def break_language() -> None:
        value = editor.get_attribute("value").replace('"language": "en"', '"language": "not a language"')
        driver.execute_script("arguments[0].value = arguments[1];", editor, value)
        driver.find_element(By.CSS_SELECTOR, "#persona-form button[type=submit]").click()

    await _run(break_language)
    message = await _until(lambda: driver.find_element(By.ID, "persona-error").text, "the validation message")
    assert "language" in message
    await _run(lambda: _shot(driver, "persona-error"))


async def test_browser_phone_talks_to_the_bot(stack: LocalStack, driver: Any) -> None:
    """The page's microphone (Chromium's fake device playing a WAV) reaches the call as the callee's
    voice, and the bot's greeting comes back to the page; hanging up in the page ends the call."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert stack.emulator is not None
    await _run(lambda: driver.get(f"{stack.api_url}/console/#key={stack.api_key}"))
    await _until(lambda: "#/calls" in driver.current_url, "the console")
    link = await _until(
        lambda: (a := driver.find_element(By.CSS_SELECTOR, 'a[data-nav="phone"]')).is_displayed() and a,
        "the browser phone link (local stack only)",
    )
    await _run(link.click)
    await _until(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, "#phone-persona option")) > 0, "the personas"
    )

    def call_me() -> None:
        Select(driver.find_element(By.ID, "phone-persona")).select_by_value("appointment-reminder")
        variables = driver.find_element(By.ID, "phone-vars")
        assert sorted(variables.get_attribute("value").splitlines()) == ["appointment_time=", "first_name="]
        variables.clear()
        variables.send_keys("first_name=Ada\nappointment_time=Friday at ten")
        driver.find_element(By.ID, "phone-start").click()

    await _run(call_me)
    await _until(
        lambda: "In call" in driver.find_element(By.ID, "phone-state").text, "the call to be answered"
    )
    # A second of the bot's greeting played in the page, a second of microphone audio sent.
    await _until(
        lambda: driver.execute_script("const s = window.browserPhone.session; return s && s.received > 8000"),
        "the greeting's audio in the page",
    )
    await _until(
        lambda: driver.execute_script("const s = window.browserPhone.session; return s && s.sent > 8000"),
        "microphone audio sent",
    )
    number = await _run(lambda: driver.execute_script("return window.browserPhone.session.number"))
    call_id = await _run(lambda: driver.execute_script("return window.browserPhone.session.callId"))
    placed = await _run(lambda: AiPhoneClient(stack.api_url, stack.api_key, timeout=60).get_call(call_id))
    assert placed.call.raw["variables"] == {"first_name": "Ada", "appointment_time": "Friday at ten"}
    call = next(c for c in stack.emulator.calls.values() if c.request.to == number)
    assert call.media is not None and call.media.caller is not None
    spoken = await _until(
        lambda: call.media is not None and getattr(call.media.caller, "voiced_frames", 0) > 25,
        "the microphone's speech in the call's inbound frames",
    )
    assert spoken, number
    await _run(lambda: _shot(driver, "browser-phone"))
    await _run(lambda: driver.find_element(By.ID, "phone-stop").click())
    await _until(lambda: call.finished.is_set(), "the call to end")
    assert call.stream_outcome is not None and call.stream_outcome.ended_by == "caller_hung_up"
    assert call.status == "completed"


async def test_the_pages_waterfall_follows_aiphone_waterfall(stack: LocalStack, driver: Any) -> None:
    """waterfall.js and aiphone/waterfall.py draw the same segments from the same stored figures."""
    from aiphone.waterfall import turn_waterfall
    from tests.unit.aiphone.test_waterfall import CASES

    await _run(lambda: driver.get(f"{stack.api_url}/console/#key={stack.api_key}"))
    await _until(lambda: driver.execute_script("return typeof turnWaterfall === 'function'"), "waterfall.js")
    for name, latency in CASES.items():
        drawn = await _run(
            lambda latency=latency: driver.execute_script("return turnWaterfall(arguments[0])", latency)
        )
        expected = [
            {"stage": s.stage, "label": s.label, "start": s.start_ms, "end": s.end_ms}
            for s in turn_waterfall(latency)
        ]
        assert _same(drawn, expected), (name, drawn, expected)


def _same(drawn: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    return len(drawn) == len(expected) and all(
        d["stage"] == e["stage"]
        and d["label"] == e["label"]
        and abs(d["start"] - e["start"]) < 1e-6
        and abs(d["end"] - e["end"]) < 1e-6
        for d, e in zip(drawn, expected, strict=True)
    )
