"""Barge-in over the bot (what the call measures and sends), and the audio clock behind its figures."""

from __future__ import annotations

from stream_server.audio.codec import FRAME_BYTES, silence_ulaw, split_frames
from stream_server.conversation.actions import CancelReply, RecordMetric, Send
from stream_server.conversation.call_state import CallConfig
from stream_server.speech.pipeline import ReplyAudio
from stream_server.telephony.twilio_protocol import OutboundClear
from stream_server.turn_taking.detector import TurnSettings
from tests.corpus.simulator import trimmed_speech
from tests.shell_frames import feed_frame
from tests.unit.stream_server.espeak_audio import speech_ulaw
from tests.unit.stream_server.replay import Replay, media


def _reactions(replay: Replay) -> list[float]:
    return [a.value for a in replay.actions if isinstance(a, RecordMetric) and a.name == "BargeInReaction"]


def test_barge_in_reaction_is_measured_on_the_audio_clock_after_a_burst_of_late_frames() -> None:
    # The socket stalled (a slow token check, a busy host): 3 s of caller audio arrive at one instant,
    # so the audio clock runs 3 s ahead of the session's clock from then on.
    r = Replay()
    r.speak(["Hi there, thanks for calling, how can I help you today?"])
    for frame in split_frames(silence_ulaw(3000), FRAME_BYTES):
        r.feed(feed_frame(r.state, media(frame), r.t))
    assert r.state.bot_speaking
    r.say(speech_ulaw("No wait, stop, I need something else."))
    reactions = _reactions(r)
    assert len(reactions) == 1
    # No partials in this call: the barge-in is decided on voice alone, barge_in_ms into the speech.
    assert 200.0 <= reactions[0] <= 400.0, reactions


def test_barge_in_reaction_runs_from_the_first_word_when_a_comma_pause_follows_it() -> None:
    # "Sorry, [pause] actually...": the cut comes when the caller resumes; its reaction counts from
    # "Sorry", not from the run of speech after the pause. (No echo check: this bot's "audio" is a
    # constant byte, nothing like a voice coming back.)
    r = Replay(config=CallConfig(turn=TurnSettings(end_of_turn_silence_ms=300, echo_suppression=False)))
    r.speak(["Hi there, thanks for calling, how can I help you today?"] * 3)
    r.feed(r.state.on_partial("I", r.t))  # the recogniser gives partials: barge-in waits for words
    first = trimmed_speech("Sorry")
    r.say(first + silence_ulaw(140) + trimmed_speech("actually make that three people please"))
    reactions = _reactions(r)
    assert len(reactions) == 1
    assert reactions[0] >= len(first) / 8 + 100, reactions


def test_a_barge_in_sends_clear_even_when_the_reply_is_made_slower_than_it_plays() -> None:
    # Every chunk sent so far has played (its mark came back) and the next is still being made:
    # no mark is outstanding at the barge-in, yet the reply is not over.
    r = Replay()
    r.marks(r.speak(["Hi there, thanks for calling, how can I help you today?"]))
    assert r.state.voice.ledger.outstanding == 0 and r.state.bot_speaking
    actions = r.say(speech_ulaw("No wait, stop, I need something else."))
    kinds = [type(a) for a in actions]
    clears = [a for a in actions if isinstance(a, Send) and isinstance(a.message, OutboundClear)]
    assert CancelReply in kinds and len(clears) == 1
    assert kinds.index(CancelReply) < actions.index(clears[0])
    # The cancelled reply's next chunk, already on its way from the TTS, is never sent.
    late = ReplyAudio(1, "How can I help?", b"\x55" * 400)
    assert r.state.on_reply_audio(late, r.t) == []


def test_a_caller_turn_after_a_burst_of_late_frames_is_stamped_on_the_sessions_clock() -> None:
    r = Replay()
    r.play(["Hi there."])
    for frame in split_frames(silence_ulaw(3000), FRAME_BYTES):  # 3 s of audio at one instant
        r.feed(feed_frame(r.state, media(frame), r.t))
    said_from = r.t
    r.say(trimmed_speech("What time do you open?") + silence_ulaw(600))
    r.feed(r.state.on_transcript("What time do you open?", r.t))
    caller = next(t for t in r.state.turns if t.role == "caller")
    wall = r.state.epoch_offset
    assert said_from + wall <= caller.started_at < caller.ended_at <= r.t + wall, (caller, said_from, r.t)
