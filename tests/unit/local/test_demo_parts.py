"""The demo's engine choice, its scripted replies, and its HTML report."""

from __future__ import annotations

from local.demo_engines import choose_demo_engines, demo_reply
from local.demo_report import render_report


def test_scripted_engines_unless_the_environment_chooses() -> None:
    assert choose_demo_engines({}, ["hi"]).scripted
    assert choose_demo_engines({}, ["hi"]).caller_lines == ("hi",)
    offline = choose_demo_engines({"STT_PROVIDER": "offline", "LLM_PROVIDER": "offline"}, ["hi"])
    assert not offline.scripted and "PocketSphinx" in offline.description[0] and offline.offline_recogniser
    keyed = choose_demo_engines({"CEREBRAS_API_KEY": "k", "ELEVENLABS_API_KEY": "e"}, ["hi"])
    assert not keyed.scripted and "Cerebras" in keyed.description[1] and not keyed.offline_recogniser


def test_scripted_replies_follow_the_callers_words() -> None:
    def reply(text: str) -> str:
        return demo_reply([{"role": "system", "content": "x"}, {"role": "user", "content": text}])

    assert "that time" in reply("Yes, I have a moment.")
    assert "afternoon" in reply("Could we move it to the afternoon?")
    assert "again" in reply("Mumble.")


def test_report_escapes_text_and_draws_each_reply() -> None:
    record = {
        "call_id": "c1",
        "status": "completed",
        "turns": [
            {"index": 0, "role": "caller", "text": "<b>hi</b>", "latency_ms": {}},
            {
                "index": 1,
                "role": "assistant",
                "text": "hello",
                "latency_ms": {"end_of_turn": 400, "stt": 150, "llm_first_token": 200, "first_audio": 300},
            },
        ],
    }
    page = render_report(
        record=record, engines=["stt: x"], heard_latencies_ms=[812.0], recording_href="a.wav", problems=[]
    )
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    assert page.count('class="bar"') == 4 and "850 ms" in page and 'src="a.wav"' in page
    failed = render_report(
        record=record, engines=[], heard_latencies_ms=[], recording_href=None, problems=["x"]
    )
    assert "Problems: x" in failed and "No recording" in failed


def test_the_narration_shows_who_did_what_and_when() -> None:
    from local.demo import _describe
    from local.twilio_emulator.caller import TimelineEvent

    said = _describe(TimelineEvent(1.5, "caller_start", detail="Hi {there}"))
    assert said == "   1.50s  caller  > Hi {there}"
    reply = _describe(TimelineEvent(12.345, "bot_reply_start", value=812.4))
    assert reply == "  12.35s  bot     (reply audio starts 812 ms after the caller's last word)"
    assert _describe(TimelineEvent(3.0, "mark", detail="m1")) is None


def test_the_demo_story_holds_together() -> None:
    """The caller asks to move a morning appointment to the afternoon, and the scripted replies name
    no day or time of their own (they would contradict the call's variables, heard in the greeting)."""
    import re

    from local.demo import DEMO_SCRIPT, DEMO_VARIABLES
    from local.demo_engines import DEMO_REPLIES

    booked = DEMO_VARIABLES["appointment_time"].lower()
    asked = " ".join(u.text for u in DEMO_SCRIPT.utterances).lower()
    assert "afternoon" in asked and "morning" in booked and "afternoon" not in booked
    when = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|tomorrow|today|morning|\d|o'clock)\b")
    for _, reply in DEMO_REPLIES:
        assert not when.search(reply.lower()), reply
