"""Sans-I/O replays of a call: frames and timestamps in, actions out, no sockets or tasks."""

from __future__ import annotations

from dataclasses import replace

from stream_server.audio.codec import silence_ulaw
from stream_server.conversation.actions import (
    AdoptSpeculation,
    Authenticate,
    CancelReply,
    CommitStt,
    DiscardSpeculation,
    EndCall,
    Hangup,
    PersistTurn,
    Phase,
    Send,
    SpeakReply,
    SpeakText,
    SpeculateReply,
)
from stream_server.conversation.call_state import CallConfig, CallState, is_goodbye
from stream_server.speech.pipeline import ReplyAudio
from stream_server.telephony.twilio_protocol import OutboundClear, OutboundMark, OutboundMedia
from stream_server.turn_taking.detector import TurnSettings
from tests.factories import persona
from tests.shell_frames import feed_frame
from tests.unit.stream_server.espeak_audio import speech_ulaw
from tests.unit.stream_server.replay import Replay, media, start_frame

PERSONA = persona(
    greeting="Hi there.", goodbye="Bye now.", end_of_turn_silence_ms=300, max_duration_seconds=60
)


def started() -> Replay:
    r = Replay(start=False)
    actions = r.feed(feed_frame(r.state, start_frame(), r.t))
    assert [type(a) for a in actions] == [Authenticate]
    actions = r.feed(r.state.authenticated("call-1", PERSONA, r.t))
    assert actions == [SpeakText("Hi there.", "greeting")]
    return r


def test_greeting_then_a_turn_then_a_reply() -> None:
    r = started()
    names = r.speak(["Hi there."])
    assert r.state.bot_speaking
    r.feed(r.state.on_reply_finished(r.t))
    done = r.marks(names)
    assert [type(a) for a in done] == [PersistTurn]
    assert not r.state.bot_speaking
    actions = r.say(silence_ulaw(200) + speech_ulaw("What time is it?") + silence_ulaw(400))
    assert [type(a) for a in actions].count(CommitStt) == 1
    reply = r.feed(r.state.on_transcript("What time is it?", r.t + 0.1))
    speak = [a for a in reply if isinstance(a, SpeakReply)]
    assert len(speak) == 1
    assert [m.role for m in speak[0].messages] == ["system", "assistant", "user"]
    caller = next(a.turn for a in reply if isinstance(a, PersistTurn))
    assert caller.role == "caller"
    assert set(caller.latency_ms) == {"end_of_turn", "stt", "final_after_speech", "reply_start_after_speech"}
    assert 300 <= caller.latency_ms["end_of_turn"] <= 340


def test_barge_in_clears_cancels_and_keeps_only_heard_text() -> None:
    r = started()
    r.feed(r.state.on_reply_finished(r.t))
    r.marks(r.speak(["Hi there."]))
    r.say(speech_ulaw("Tell me about opening hours.") + silence_ulaw(400))
    r.feed(r.state.on_transcript("Tell me about opening hours.", r.t))
    names = r.speak(["We open at nine on weekdays.", "On Saturdays we open at ten."])
    r.marks(names[:1])  # half of the first sentence has played
    actions = r.say(speech_ulaw("No wait, stop, I need something else."))
    kinds = [type(a) for a in actions]
    assert CancelReply in kinds
    clear = [a for a in actions if isinstance(a, Send) and isinstance(a.message, OutboundClear)]
    assert len(clear) == 1
    assert kinds.index(CancelReply) < kinds.index(Send)
    turn = [a.turn for a in actions if isinstance(a, PersistTurn)][-1]
    assert turn.role == "assistant" and turn.interrupted
    assert turn.text == "We open at..."
    assert r.state.history[-1].content == "We open at..."
    assert r.state.barge_ins == 1
    # Marks echoed after the clear are "flushed": they change nothing.
    assert r.marks(names[1:]) == []


def test_malformed_frames_are_counted_and_survived() -> None:
    r = started()
    for junk in ["{", "[]", '{"event":"media","media":{"payload":"%%"}}', '{"event":"x"}', b"\x01"]:
        assert feed_frame(r.state, junk, r.t) == []
    assert r.state.protocol_errors == 5
    assert r.state.phase is Phase.ACTIVE
    assert feed_frame(r.state, start_frame(), r.t) == []  # a second start is ignored too


def test_caller_goodbye_plays_goodbye_then_hangs_up_after_its_mark() -> None:
    r = started()
    r.feed(r.state.on_reply_finished(r.t))
    r.marks(r.speak(["Hi there."]))
    actions = r.feed(r.state.on_transcript("Okay, that's all, goodbye!", r.t))
    assert SpeakText("Bye now.", "goodbye") in actions
    names = r.speak(["Bye now."])
    r.feed(r.state.on_reply_finished(r.t))
    assert not any(isinstance(a, Hangup) for a in r.marks(names[:1]))
    assert Hangup("caller-goodbye") in r.marks(names[1:])
    end = r.state.on_hangup_done(r.t)
    assert end == [EndCall("caller-goodbye")]


def test_the_goodbye_that_answers_the_caller_stores_that_turns_waits() -> None:
    """A goodbye said because the caller said goodbye answers their turn like any reply: the
    latency waterfall of that reply needs the end-of-turn wait and the final's arrival."""
    r = started()
    r.feed(r.state.on_reply_finished(r.t))
    r.marks(r.speak(["Hi there."]))
    r.say(speech_ulaw("Thank you, goodbye.") + silence_ulaw(400))
    actions = r.feed(r.state.on_transcript("Thank you, goodbye.", r.t))
    assert SpeakText("Bye now.", "goodbye") in actions
    caller = next(a.turn for a in actions if isinstance(a, PersistTurn))
    names = r.speak(["Bye now."])
    r.feed(r.state.on_reply_finished(r.t))
    stored = [a.turn for a in r.marks(names) if isinstance(a, PersistTurn)]
    assert [t.text for t in stored] == ["Bye now."]
    assert "end_of_turn" in caller.latency_ms
    for stage in ("end_of_turn", "stt", "reply_start_after_speech"):
        assert stored[0].latency_ms[stage] == caller.latency_ms[stage], stage


def test_max_duration_and_drain_deadline() -> None:
    r = started()
    assert r.state.on_tick(r.t + 10) == []
    actions = r.state.on_tick(r.t + 61)
    assert any(isinstance(a, SpeakText) and a.kind == "goodbye" for a in actions)
    r2 = started()
    r2.state.begin_drain(r2.t + 5)
    assert r2.state.on_tick(r2.t + 1) == []
    drain = r2.state.on_tick(r2.t + 5)
    assert any(isinstance(a, SpeakText) and a.text.endswith("Goodbye.") for a in drain)


def test_stop_mid_reply_cancels_and_ends() -> None:
    r = started()
    r.speak(["Hi there."])
    actions = r.feed(feed_frame(r.state, '{"event":"stop","stop":{"callSid":"CA1"}}', r.t))
    kinds = [type(a) for a in actions]
    assert kinds[0] is CancelReply and kinds[-1] is EndCall
    turn = next(a.turn for a in actions if isinstance(a, PersistTurn))
    assert turn.interrupted and turn.text == ""
    assert r.state.phase is Phase.ENDED
    assert feed_frame(r.state, media(b"\xff" * 160), r.t) == []


def test_bad_token_rejection_ends_with_policy_close() -> None:
    r = Replay(start=False)
    feed_frame(r.state, start_frame(), r.t)
    assert r.state.rejected("bad-token", r.t) == [EndCall("bad-token", close_code=1008)]


def test_goodbye_detection() -> None:
    assert is_goodbye("Thanks, bye!")
    assert is_goodbye("ok that's all")
    assert not is_goodbye("Goodbye is a word I like to say")
    assert not is_goodbye("Can I buy a ticket?")


def test_outbound_media_precedes_its_mark() -> None:
    r = started()
    actions = r.state.on_reply_audio(ReplyAudio(0, "Hi there.", b"\x01\x02"), r.t)
    assert isinstance(actions[0], Send) and isinstance(actions[0].message, OutboundMedia)
    assert isinstance(actions[1], Send) and isinstance(actions[1].message, OutboundMark)


# --- early commit, one turn from segments, the reply on the final words ------------------------------


def _listening() -> Replay:
    """A call past its greeting, with the default 700 ms end-of-turn silence."""
    r = Replay(start=False)
    r.state = CallState(CallConfig(turn=TurnSettings()))
    r.feed(feed_frame(r.state, start_frame(), r.t))
    r.feed(r.state.authenticated("call-1", replace(PERSONA, end_of_turn_silence_ms=700), r.t))
    r.feed(r.state.on_reply_finished(r.t))
    r.marks(r.speak(["Hi there."]))
    return r


def _user_messages(r: Replay) -> list[str]:
    return [m.content for m in r.state.history if m.role == "user"]


def test_the_first_short_pause_commits_and_a_complete_final_is_answered_at_once() -> None:
    r = _listening()
    actions = r.say(speech_ulaw("What time do you open?") + silence_ulaw(220))
    assert CommitStt in [type(a) for a in actions]  # 200 ms of silence, long before the 300 ms end of turn
    started_reply = r.feed(r.state.on_transcript("What time do you open?", r.t))
    assert started_reply == []  # the next frame judges the words
    actions = r.say(silence_ulaw(40))
    speculate = [a for a in actions if isinstance(a, SpeculateReply)]
    adopt = [a for a in actions if isinstance(a, AdoptSpeculation)]
    assert len(speculate) == 1 and len(adopt) == 1 and adopt[0].speculation_id == speculate[0].speculation_id
    assert _user_messages(r) == ["What time do you open?"]


def test_a_caller_who_goes_on_gets_one_turn_and_the_early_reply_is_discarded_unheard() -> None:
    r = _listening()
    r.say(speech_ulaw("I would like to book") + silence_ulaw(220))
    r.feed(r.state.on_transcript("I would like to book", r.t))
    # "to book": incomplete, so the turn stays open well past the persona's 300 ms.
    held = r.say(silence_ulaw(900))
    assert not [a for a in held if isinstance(a, (SpeakReply, AdoptSpeculation, Send))]
    speculated = [a for a in held if isinstance(a, SpeculateReply)]
    resumed = r.say(speech_ulaw("a table for two."))
    if speculated:  # the reply started early on the first half is thrown away, never played
        assert DiscardSpeculation(speculated[0].speculation_id) in resumed
    r.say(silence_ulaw(220))
    r.feed(r.state.on_transcript("a table for two.", r.t))
    r.say(silence_ulaw(60))
    assert _user_messages(r) == ["I would like to book a table for two."]
    callers = [t.text for t in r.state.turns if t.role == "caller"]
    assert callers == ["I would like to book a table for two."]


def test_a_commit_never_answered_falls_back_to_the_best_partial() -> None:
    r = _listening()
    r.say(speech_ulaw("What time do you open?"))
    r.feed(r.state.on_partial("what time do you", r.t))
    r.say(silence_ulaw(2600))  # the recogniser never sends the final
    assert _user_messages(r) == ["what time do you"]
    assert r.state.bot_speaking
    # The final arriving after the turn moved on is dropped, never answered.
    assert r.feed(r.state.on_transcript("What time do you open?", r.t)) == []
    assert _user_messages(r) == ["what time do you"]


def test_a_commit_never_answered_and_no_partial_asks_again() -> None:
    r = _listening()
    actions = r.say(speech_ulaw("What time do you open?") + silence_ulaw(2600))
    assert SpeakText(CallConfig().reask, "reply") in actions
    assert _user_messages(r) == []


def test_a_caller_who_barges_in_pauses_at_a_comma_and_goes_on_gets_one_turn() -> None:
    """The barge-in decided in the caller's pause must not close their turn: the CI demo once split
    "Sorry, could we move it to the afternoon instead?" into two caller turns that way."""
    r = _listening()
    r.say(speech_ulaw("Hello.") + silence_ulaw(220))
    r.feed(r.state.on_partial("Hello.", r.t))  # the recogniser gives partials: barge-in waits for words
    r.feed(r.state.on_transcript("Hello.", r.t))
    r.say(silence_ulaw(60))
    names = r.speak(["Thank you.", "Can you still come in tomorrow at ten thirty in the morning?"])
    r.marks(names[:1])
    # "Sorry," over the bot, then the comma's pause: the commit goes out, the words come late.
    r.say(speech_ulaw("Sorry") + silence_ulaw(240))
    cut = r.feed(r.state.on_partial("Sorry,", r.t))
    assert CancelReply in [type(a) for a in cut]  # the words decide the barge-in, in the pause
    assert r.feed(r.state.on_transcript("Sorry,", r.t + 0.05)) == []  # the turn is still open
    r.say(speech_ulaw("could we move it to the afternoon instead?") + silence_ulaw(220))
    r.feed(r.state.on_transcript("could we move it to the afternoon instead?", r.t))
    r.say(silence_ulaw(60))
    callers = [t.text for t in r.state.turns if t.role == "caller"]
    assert callers == ["Hello.", "Sorry, could we move it to the afternoon instead?"]
    assert _user_messages(r) == ["Hello.", "Sorry, could we move it to the afternoon instead?"]
