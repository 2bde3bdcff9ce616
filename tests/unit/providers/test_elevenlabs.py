"""The ElevenLabs adapters against a local server speaking the real STT WebSocket and TTS HTTP."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from elevenlabs.core.parse_error import ParsingError

from local.fake_providers.elevenlabs import FakeElevenLabs, voiced_tone
from stream_server.providers.base import ProviderError, SttSession, Transcript
from stream_server.providers.stt_elevenlabs import (
    ElevenLabsSpeechToText,
    ScribeTimings,
    SttFailure,
    parse_scribe_message,
    realtime_url,
)
from stream_server.providers.tts_elevenlabs import ElevenLabsTextToSpeech
from tests.transcribe import transcribe

KEY = "test-elevenlabs-key"
VOICE = "EXAVITQu4vr4xnSDxMaL"
WAIT = 20.0


def stt(fake: FakeElevenLabs, key: str = KEY) -> ElevenLabsSpeechToText:
    return ElevenLabsSpeechToText(api_key=key, base_url=fake.base_url)


def tts(fake: FakeElevenLabs, key: str = KEY, **kwargs: float) -> ElevenLabsTextToSpeech:
    return ElevenLabsTextToSpeech(api_key=key, base_url=fake.base_url, **kwargs)  # type: ignore[arg-type]


# --- pure parts ----------------------------------------------------------------------------------


def test_realtime_url_derives_scheme_and_keeps_a_base_path() -> None:
    url = realtime_url(
        "https://api.eu.residency.elevenlabs.io/", model_id="scribe_v2_realtime", language="en"
    )
    assert url.startswith("wss://api.eu.residency.elevenlabs.io/v1/speech-to-text/realtime?")
    assert "audio_format=ulaw_8000" in url and "commit_strategy=manual" in url and "language_code=en" in url
    local = realtime_url("http://127.0.0.1:9/proxy", model_id="m", language="fr")
    assert local.startswith("ws://127.0.0.1:9/proxy/v1/speech-to-text/realtime?model_id=m&")


def test_parse_scribe_messages() -> None:
    assert parse_scribe_message('{"message_type":"partial_transcript","text":"hel"}') == Transcript(
        "hel", False
    )
    assert parse_scribe_message('{"message_type":"committed_transcript","text":"hello"}') == Transcript(
        "hello", True
    )
    assert parse_scribe_message('{"message_type":"session_started","session_id":"x"}') is None
    assert parse_scribe_message('{"message_type":"commit_throttled"}') == SttFailure(
        "commit_throttled", "commit_throttled"
    )
    failure = parse_scribe_message('{"message_type":"quota_exceeded","error":"no credits"}')
    assert failure == SttFailure("quota_exceeded", "no credits")
    assert isinstance(parse_scribe_message("not json"), SttFailure)
    assert parse_scribe_message('{"message_type":"insufficient_audio_activity","error":"x"}') == SttFailure(
        "insufficient_audio_activity", "x"
    )
    assert parse_scribe_message('{"message_type":"final_transcript","text":"hi"}') is None


# --- speech to text ------------------------------------------------------------------------------


async def test_stt_streams_audio_and_surfaces_partial_then_final() -> None:
    audio = voiced_tone(1050)  # ten 100 ms batches and a 50 ms tail
    async with FakeElevenLabs(api_key=KEY, stt_partial_every_ms=200, stt_commit_ms=50) as fake:
        fake.say_next("I would like to book a table for two")
        async with stt(fake).session(language="en") as session:
            received = await transcribe(session, audio, within=WAIT)
    (record,) = fake.stt_sessions
    assert bytes(record.audio) == audio
    assert record.headers["xi-api-key"] == KEY
    assert record.query["audio_format"] == "ulaw_8000"
    assert record.query["commit_strategy"] == "manual"
    assert record.query["language_code"] == "en"
    assert record.commits == 1
    assert record.messages[0]["sample_rate"] == 8000
    # 20 ms frames go out 100 ms (800 bytes) at a time; at the commit the tail goes first, then
    # the commit itself with empty audio, exactly as the SDK's `commit()` sends it.
    assert base64.b64decode(record.messages[0]["audio_base_64"]) == audio[:800]
    assert len(record.messages) == len(audio) // 800 + 2
    tail, commit = record.messages[-2:]
    assert tail["commit"] is False and base64.b64decode(tail["audio_base_64"]) == audio[-400:]
    assert commit == {
        "message_type": "input_audio_chunk",
        "audio_base_64": "",
        "commit": True,
        "sample_rate": 8000,
    }
    assert received[-1] == Transcript("I would like to book a table for two", True)
    partials = [t for t in received if not t.final]
    assert partials and all(not t.final for t in received[:-1])
    assert "I would like to book a table for two".startswith(partials[0].text)


async def test_stt_two_turns_keep_their_order() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=30) as fake:
        fake.say_next("first turn", "second turn")
        async with stt(fake).session(language="en") as session:
            for _ in range(2):
                await session.send_audio(voiced_tone(200))
                await session.commit()
            finals: list[str] = []

            async def two_finals() -> None:
                async for transcript in session.transcripts():
                    if transcript.final:
                        finals.append(transcript.text)
                        if len(finals) == 2:
                            return

            await asyncio.wait_for(two_finals(), WAIT)
    assert finals == ["first turn", "second turn"]


async def test_stt_wrong_key_is_a_provider_error() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        with pytest.raises(ProviderError, match="401"):
            async with stt(fake, key="wrong").session(language="en"):
                pass


async def test_stt_error_message_ends_the_session_with_provider_error() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_stt("quota_exceeded")
        async with stt(fake).session(language="en") as session:
            with pytest.raises(ProviderError, match="quota_exceeded"):
                await asyncio.wait_for(anext(session.transcripts()), WAIT)
            with pytest.raises(ProviderError):
                await session.send_audio(b"\xff" * 160)


async def test_stt_socket_that_keeps_dropping_is_a_provider_error() -> None:
    timings = ScribeTimings(reconnect_backoff_s=(0.0, 0.05, 0.1))
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_stt(*["drop_after_start"] * 4)
        adapter = ElevenLabsSpeechToText(api_key=KEY, base_url=fake.base_url, timings=timings)
        async with adapter.session(language="en") as session:
            with pytest.raises(ProviderError, match="3 reconnects failed"):
                await asyncio.wait_for(anext(session.transcripts()), WAIT)
    assert len(fake.stt_sessions) == 4


async def test_stt_a_few_seconds_of_dropped_sockets_are_ridden_out_and_the_turn_is_heard() -> None:
    # Four sockets in a row dropped (a deploy, a network blip): the default back-off spans ~2 s.
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20) as fake:
        fake.inject_stt(*["drop_after_start"] * 4)
        fake.say_next("are you still there")
        async with stt(fake).session(language="en") as session:
            for _ in range(200):  # wait until the fifth socket is open
                if len(fake.stt_sessions) == 5:
                    break
                await asyncio.sleep(0.05)
            await turn(session)
            assert await finals(session, 1) == ["are you still there"]
    assert len(fake.stt_sessions) == 5


async def test_stt_unreachable_server_is_a_provider_error() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        base_url = fake.base_url
    adapter = ElevenLabsSpeechToText(api_key=KEY, base_url=base_url, open_timeout_seconds=5)
    with pytest.raises(ProviderError, match="cannot connect"):
        async with adapter.session(language="en"):
            pass


# --- text to speech ------------------------------------------------------------------------------


async def test_tts_streams_mulaw_in_small_chunks_with_the_right_request() -> None:
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=20) as fake:
        adapter = tts(fake, chunk_bytes=320)
        chunks = [c async for c in adapter.synthesize("Hello there, caller.", voice_id=VOICE, language="en")]
    (request,) = fake.tts_requests
    assert request.voice_id == VOICE
    assert request.query["output_format"] == "ulaw_8000"
    assert request.headers["xi-api-key"] == KEY
    assert request.body["text"] == "Hello there, caller."
    assert request.body["model_id"] == "eleven_flash_v2_5"
    audio = b"".join(chunks)
    assert audio == voiced_tone(60 * len("Hello there, caller."))
    assert len(chunks) > 3 and max(len(c) for c in chunks) <= 320


async def test_tts_hands_over_audio_as_it_arrives_by_default() -> None:
    # The fake writes 100 ms (800 bytes) at a time, paced: read as it arrives, each write comes out
    # whole (one media message and one mark downstream), not cut into 40 ms reads.
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=20, tts_chunk_ms=100) as fake:
        stream = tts(fake).synthesize("Hello there, caller.", voice_id=VOICE, language="en")
        chunks = [c async for c in stream]
    audio = b"".join(chunks)
    assert audio == voiced_tone(60 * len("Hello there, caller."))
    assert len(chunks) <= -(-len(audio) // 800)
    assert max(len(c) for c in chunks) >= 800


async def test_tts_wrong_key_and_server_error_are_provider_errors() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        with pytest.raises(ProviderError, match="401"):
            _ = [c async for c in tts(fake, key="wrong").synthesize("Hi", voice_id=VOICE, language="en")]
        fake.inject_tts("http_500", "http_500")  # the first is retried once, the second is final
        with pytest.raises(ProviderError, match="500"):
            _ = [
                c async for c in tts(fake, retry_delay_s=0.01).synthesize("Hi", voice_id=VOICE, language="en")
            ]
    assert len(fake.tts_requests) == 2  # (the 401 is refused before it is recorded)


@pytest.mark.parametrize("busy", ["http_429", "http_500"])
async def test_tts_busy_answer_before_any_audio_is_retried_once_and_the_sentence_is_spoken(busy: Any) -> None:
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=1) as fake:
        fake.inject_tts(busy)
        audio = [
            c
            async for c in tts(fake, retry_delay_s=0.01).synthesize(
                "Hi there.", voice_id=VOICE, language="en"
            )
        ]
    assert b"".join(audio) == voiced_tone(60 * len("Hi there.")) and len(fake.tts_requests) == 2


async def test_tts_drop_mid_stream_is_a_provider_error_after_some_audio() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_tts("drop_mid_stream")
        received: list[bytes] = []
        with pytest.raises(ProviderError):
            async for chunk in tts(fake).synthesize(
                "A longer sentence to cut.", voice_id=VOICE, language="en"
            ):
                received.append(chunk)
    assert received and len(fake.tts_requests) == 1  # audio was already playing: never said twice


async def test_tts_stall_is_bounded_by_the_timeout() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_tts("stall")
        adapter = tts(fake, timeout_seconds=0.5)

        async def drain() -> None:
            _ = [c async for c in adapter.synthesize("Hi", voice_id=VOICE, language="en")]

        with pytest.raises(ProviderError, match="Timeout"):
            await asyncio.wait_for(drain(), WAIT)


async def test_tts_blank_text_makes_no_request() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        assert [c async for c in tts(fake).synthesize("  ", voice_id=VOICE, language="en")] == []
    assert fake.tts_requests == []


# --- Scribe conformance: closes, errors, throttling, auto-commit (issue 16, fixes 2, 3, 4, 8) ------


def fast(**overrides: float) -> ScribeTimings:
    return ScribeTimings(**overrides)  # type: ignore[arg-type]


async def turn(session: SttSession, *, ms: int = 400) -> None:
    """One caller turn: audio in 20 ms frames, then the commit our VAD would send."""
    audio = voiced_tone(ms)
    for offset in range(0, len(audio), 160):
        await session.send_audio(audio[offset : offset + 160])
    await session.commit()


async def finals(session: SttSession, count: int) -> list[str]:
    out: list[str] = []

    async def collect() -> None:
        async for transcript in session.transcripts():
            if transcript.final:
                out.append(transcript.text)
                if len(out) == count:
                    return

    await asyncio.wait_for(collect(), WAIT)
    return out


async def test_stt_bad_query_is_accepted_then_refused_with_invalid_request_and_no_retry() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        adapter = ElevenLabsSpeechToText(api_key=KEY, base_url=fake.base_url, model_id="scribe_v9")
        async with adapter.session(language="en") as session:
            with pytest.raises(ProviderError, match="invalid_request"):
                await asyncio.wait_for(anext(session.transcripts()), WAIT)
    (record,) = fake.stt_sessions  # accepted as a socket, answered, closed normally; not retried
    assert record.sent[0]["message_type"] == "invalid_request" and record.close_code == 1000


async def test_stt_region_tagged_language_goes_out_as_its_iso_639_base() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20) as fake:
        fake.say_next("bom dia")
        async with stt(fake).session(language="pt-BR") as session:
            await turn(session)
            assert await finals(session, 1) == ["bom dia"]
    assert fake.stt_sessions[0].query["language_code"] == "pt"


@pytest.mark.parametrize("close", ["normal_close", "going_away", "drop"])
async def test_stt_server_close_after_a_commit_reconnects_and_the_turn_is_still_answered(close: Any) -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20) as fake:
        fake.say_next("first turn", "second turn")
        fake.inject_stt_commit(close)
        async with stt(fake).session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == ["first turn"]
            await turn(session)
            assert await finals(session, 1) == ["second turn"]
    first, second = fake.stt_sessions
    assert first.commits == 1 and second.commits == 2
    # The lost turn's audio was replayed on the new socket before its commit.
    assert len(second.audio) >= len(voiced_tone(400)) * 2


async def test_stt_normal_close_after_a_transcript_leaves_the_call_listening() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20) as fake:
        fake.say_next("one", "two")
        fake.inject_stt_commit("transcript_then_close")
        async with stt(fake).session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == ["one"]
            await turn(session)
            assert await finals(session, 1) == ["two"]
    assert len(fake.stt_sessions) == 2


@pytest.mark.parametrize("error", ["session_time_limit_exceeded", "transcriber_error"])
async def test_stt_error_then_close_reconnects_and_replays_the_turn(error: Any) -> None:
    # No partials: the words can only come from the turn replayed on a new socket, not from the
    # late-final fallback (which would give the last partial, here nothing).
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20, stt_partial_every_ms=0) as fake:
        fake.say_next("still here")
        fake.inject_stt_commit(error)
        async with stt(fake).session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == ["still here"]
    first, second = fake.stt_sessions
    assert first.sent[-1]["message_type"] == error and first.close_code == 1000
    assert second.commits == 1 and len(second.audio) >= len(voiced_tone(400))


async def test_stt_idle_close_is_survived_and_the_next_turn_is_heard() -> None:
    # Scribe closes a session that hears nothing for a while (~10-15 s reported by others; our
    # audio normally never stops, but a stalled media stream would stop it).
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20, stt_idle_close_s=0.3) as fake:
        fake.say_next("hello again")
        async with stt(fake).session(language="en") as session:
            for _ in range(100):  # wait until the server has closed the idle socket
                if fake.stt_sessions[0].close_code is not None:
                    break
                await asyncio.sleep(0.05)
            await turn(session)
            assert await finals(session, 1) == ["hello again"]
    assert fake.stt_sessions[0].close_code == 1000 and fake.stt_sessions[-1].commits == 1


async def test_stt_insufficient_audio_activity_ends_the_turn_and_the_next_turn_is_heard() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20, stt_partial_every_ms=0) as fake:
        fake.say_next("are you there")
        fake.inject_stt_commit("insufficient_audio_activity")
        async with stt(fake).session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == [""]  # no words, and no replay of the silence
            await turn(session)
            assert await finals(session, 1) == ["are you there"]


async def test_stt_commit_throttled_is_retried_on_the_same_socket() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20) as fake:
        fake.say_next("book it please")
        fake.inject_stt_commit("commit_throttled", "commit_throttled")
        async with stt(fake).session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == ["book it please"]
    (record,) = fake.stt_sessions
    assert record.commits == 3
    assert [m["message_type"] for m in record.sent].count("commit_throttled") == 2


async def test_stt_wait_for_a_final_is_bounded_and_uses_the_last_partial() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=30_000, stt_partial_every_ms=100) as fake:
        fake.say_next("I need a table for four people")
        adapter = ElevenLabsSpeechToText(
            api_key=KEY, base_url=fake.base_url, timings=fast(final_timeout_s=0.5)
        )
        async with adapter.session(language="en") as session:
            await turn(session, ms=400)
            (text,) = await finals(session, 1)
    assert text and "I need a table for four people".startswith(text)


async def test_stt_unsolicited_auto_commit_is_not_a_turn_its_words_join_the_next_final() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=10, stt_auto_commit_s=0.3) as fake:
        fake.say_next("I was saying", "that it is urgent")
        adapter = ElevenLabsSpeechToText(
            api_key=KEY, base_url=fake.base_url, timings=fast(server_auto_commit_s=0.3)
        )
        async with adapter.session(language="en") as session:
            await turn(session, ms=600)  # the server auto-commits after 300 ms of this turn
            assert await finals(session, 1) == ["I was saying that it is urgent"]


async def test_stt_session_length_cap_is_survived() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=10, stt_session_limit_s=0.4) as fake:
        fake.say_next("after the cap")
        async with stt(fake).session(language="en") as session:
            for _ in range(100):  # wait until the server has cut the first socket
                if len(fake.stt_sessions) > 1:
                    break
                await asyncio.sleep(0.05)
            await turn(session)
            assert await finals(session, 1) == ["after the cap"]
    assert fake.stt_sessions[0].sent[-1]["message_type"] == "session_time_limit_exceeded"


async def test_stt_old_socket_is_renewed_between_turns() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=10) as fake:
        fake.say_next("one", "two")
        adapter = ElevenLabsSpeechToText(api_key=KEY, base_url=fake.base_url, timings=fast(max_socket_s=0.2))
        async with adapter.session(language="en") as session:
            await turn(session)
            assert await finals(session, 1) == ["one"]
            await asyncio.sleep(0.3)
            await turn(session)
            assert await finals(session, 1) == ["two"]
    assert len(fake.stt_sessions) >= 2
    assert fake.stt_sessions[-1].commits == 1


# --- TTS conformance ------------------------------------------------------------------------------


async def test_tts_region_tagged_language_goes_out_as_iso_639_1() -> None:
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=1) as fake:
        audio = [c async for c in tts(fake).synthesize("Hola.", voice_id=VOICE, language="es-MX")]
    assert audio and fake.tts_requests[0].body["language_code"] == "es"


async def test_tts_voice_that_does_not_exist_is_a_provider_error() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        with pytest.raises(ProviderError, match="404"):
            _ = [c async for c in tts(fake).synthesize("Hi", voice_id="default", language="en")]


async def test_tts_over_the_concurrency_limit_is_429() -> None:
    async with FakeElevenLabs(api_key=KEY, tts_concurrency=1, tts_speed=1.0) as fake:
        adapter = tts(fake)

        async def speak() -> bytes:
            return b"".join(
                [
                    c
                    async for c in adapter.synthesize(
                        "A fairly long sentence.", voice_id=VOICE, language="en"
                    )
                ]
            )

        results = await asyncio.gather(speak(), speak(), return_exceptions=True)
    assert sum(isinstance(r, ProviderError) and "429" in str(r) for r in results) == 1
    assert sum(isinstance(r, bytes) and len(r) > 0 for r in results) == 1


async def test_tts_unparseable_error_body_is_a_provider_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        adapter = tts(fake)

        async def broken(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
            raise ParsingError(status_code=422, body={"detail": 1})
            yield b""  # pragma: no cover

        monkeypatch.setattr(adapter._client.text_to_speech, "stream", broken)
        with pytest.raises(ProviderError, match="unreadable response"):
            _ = [c async for c in adapter.synthesize("Hi", voice_id=VOICE, language="en")]


async def test_fallback_voice_for_the_apology_and_a_missing_persona_is_a_real_voice_id() -> None:
    from stream_server.providers.config import FALLBACK_VOICE_ID
    from stream_server.services import DEFAULT_PERSONA
    from stream_server.speech.pipeline import Voice, render_clip

    assert DEFAULT_PERSONA.voice_id == FALLBACK_VOICE_ID
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=1) as fake:
        clip = await render_clip("Sorry, one moment.", Voice(FALLBACK_VOICE_ID), tts(fake), None)
    assert clip.audio and fake.tts_requests[0].voice_id == FALLBACK_VOICE_ID  # "default" would be a 404


async def test_stt_final_transcript_and_warning_messages_do_not_make_extra_turns() -> None:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=20, stt_final_transcripts=True) as fake:
        fake.say_next("first", "second")
        fake.inject_stt_commit("warning")
        async with stt(fake).session(language="en") as session:
            await turn(session)
            await turn(session)
            assert await finals(session, 2) == ["first", "second"]
    kinds = [m["message_type"] for m in fake.stt_sessions[0].sent]
    assert kinds.count("final_transcript") == 2 and kinds.count("warning") == 1


# --- the fake refuses what the real service refuses (so the adapters' mapping is what passes) -----


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ({"language_code": "en-US"}, "ISO-639"),
        ({"model_id": "scribe_v1"}, "not a realtime model"),
        ({"audio_format": "mp3_44100"}, "audio_format"),
    ],
)
async def test_fake_scribe_accepts_the_socket_then_refuses_a_bad_query(
    query: dict[str, str], why: str
) -> None:
    import json
    from urllib.parse import urlencode

    from websockets.asyncio.client import connect

    params = {"model_id": "scribe_v2_realtime", "audio_format": "ulaw_8000", "commit_strategy": "manual"}
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = (
            fake.base_url.replace("http", "ws")
            + "/v1/speech-to-text/realtime?"
            + urlencode({**params, **query})
        )
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            await asyncio.wait_for(ws.wait_closed(), WAIT)
    assert first["message_type"] == "invalid_request" and why in first["error"]
    assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("voice", "body", "query", "status"),
    [
        (VOICE, {"language_code": "en-US"}, {}, 422),
        (VOICE, {"model_id": "eleven_flash_v9"}, {}, 400),
        ("default", {}, {}, 404),
        (VOICE, {}, {"output_format": "mp3_44100_128"}, 422),
    ],
)
async def test_fake_tts_refuses_unknown_voices_models_languages_and_formats(
    voice: str, body: dict[str, str], query: dict[str, str], status: int
) -> None:
    import httpx

    request = {"text": "Hello.", "model_id": "eleven_flash_v2_5", **body}
    async with FakeElevenLabs(api_key=KEY, tts_first_byte_ms=1) as fake, httpx.AsyncClient() as http:
        response = await http.post(
            f"{fake.base_url}/v1/text-to-speech/{voice}/stream",
            params={"output_format": "ulaw_8000", **query},
            json=request,
            headers={"xi-api-key": KEY},
        )
    assert response.status_code == status, response.text
