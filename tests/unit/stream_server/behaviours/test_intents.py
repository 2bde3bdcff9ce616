"""Behaviours as pure objects: each returns intents and never touches CallState."""

from __future__ import annotations

from stream_server.behaviours.filler import Fillers, FillerSettings
from stream_server.behaviours.idle import CallClock
from stream_server.behaviours.intents import Close, Count, EndReason, Filler, Hold, LeaveMessage, Say
from stream_server.behaviours.voicemail import AnsweringMachine, VoicemailSettings
from tests.factories import persona

PERSONA = persona(
    idle_prompt="Still there?", idle_timeout_seconds=8, max_idle_prompts=1, max_duration_seconds=300
)


def _clock() -> CallClock:
    clock = CallClock(warning="One minute left.", warn_before_s=60.0, drain_goodbye="Closing now.")
    clock.start(0.0)
    return clock


def test_clock_prompts_once_then_says_goodbye() -> None:
    clock = _clock()
    assert clock.nudge(7.9, elapsed_s=7.9, busy=False, persona=PERSONA) == []
    assert clock.nudge(8.0, elapsed_s=8.0, busy=False, persona=PERSONA) == [
        Say("Still there?", "idle-prompt")
    ]
    assert clock.nudge(16.0, elapsed_s=16.0, busy=False, persona=PERSONA) == [Close(EndReason.IDLE)]


def test_clock_is_silent_while_someone_has_the_floor_and_warns_before_the_end() -> None:
    clock = _clock()
    assert clock.nudge(100.0, elapsed_s=100.0, busy=True, persona=PERSONA) == []
    clock.idle.caller_active(239.0)
    assert clock.nudge(240.0, elapsed_s=240.0, busy=False, persona=PERSONA) == [
        Say("One minute left.", "duration-warning")
    ]


def test_clock_deadlines_drain_before_maximum_duration() -> None:
    clock = _clock()
    assert clock.deadline(10.0, elapsed_s=10.0, persona=PERSONA) is None
    assert clock.deadline(300.0, elapsed_s=300.0, persona=PERSONA) == Close(EndReason.MAX_DURATION)
    clock.begin_drain(20.0)
    assert clock.deadline(20.0, elapsed_s=20.0, persona=PERSONA) == Close(EndReason.DRAIN, "Closing now.")


def test_machine_holds_then_leaves_the_message_or_hangs_up() -> None:
    machine = AnsweringMachine(VoicemailSettings(), started_at=0.0, message="Please call us back.")
    assert machine.on_answered_by("human", 1.0) == []
    machine = AnsweringMachine(VoicemailSettings(), started_at=0.0, message="Please call us back.")
    assert machine.on_answered_by("machine_start", 1.0) == [
        Hold(EndReason.VOICEMAIL),
        Count("AnsweringMachines"),
    ]
    assert machine.machine
    assert machine.on_answered_by("machine_end_beep", 2.0) == [LeaveMessage("Please call us back.")]
    silent = AnsweringMachine(VoicemailSettings(), started_at=0.0, message="")
    assert silent.on_answered_by("machine_end_beep", 1.0)[-1] == LeaveMessage(None)


def test_one_filler_per_late_reply_and_not_two_replies_in_a_row() -> None:
    fillers = Fillers(FillerSettings(after_s=0.9), ["Let me check.", "One moment."])
    assert fillers.consider(waited_s=0.5, reply_audio_started=False, caller_speaking=False) == []
    assert fillers.consider(waited_s=1.0, reply_audio_started=False, caller_speaking=False) == [
        Filler("Let me check."),
        Count("Fillers"),
    ]
    assert fillers.consider(waited_s=2.0, reply_audio_started=False, caller_speaking=False) == []
    fillers.reply_audio_started()
    assert fillers.consider(waited_s=1.0, reply_audio_started=False, caller_speaking=False)[0] == Filler(
        "One moment."
    )
    assert (
        Fillers(FillerSettings(), []).consider(waited_s=5.0, reply_audio_started=False, caller_speaking=False)
        == []
    )
