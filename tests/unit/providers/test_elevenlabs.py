"""The ElevenLabs adapters against a local server speaking the real STT WebSocket and TTS HTTP."""

from __future__ import annotations

import asyncio
import base64

import pytest

from local.fake_providers.elevenlabs import FakeElevenLabs, voiced_tone
from stream_server.providers.base import ProviderError, Transcript
from stream_server.providers.stt_elevenlabs import (
    ElevenLabsSpeechToText,
    SttFailure,
    parse_scribe_message,
    realtime_url,
)
from stream_server.providers.tts_elevenlabs import ElevenLabsTextToSpeech

KEY = "test-elevenlabs-key"
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
    assert parse_scribe_message('{"message_type":"commit_throttled"}') is None
    failure = parse_scribe_message('{"message_type":"quota_exceeded","error":"no credits"}')
    assert failure == SttFailure("quota_exceeded", "no credits")
    assert isinstance(parse_scribe_message("not json"), SttFailure)
    assert parse_scribe_message('{"message_type":"insufficient_audio_activity"}') == Transcript("", True)


# --- speech to text ------------------------------------------------------------------------------


async def test_stt_streams_audio_and_surfaces_partial_then_final() -> None:
    audio = voiced_tone(1000)
    async with FakeElevenLabs(api_key=KEY, stt_partial_every_ms=200, stt_commit_ms=50) as fake:
        fake.say_next("I would like to book a table for two")
        async with stt(fake).session(language="en") as session:
            for offset in range(0, len(audio), 160):
                await session.send_audio(audio[offset : offset + 160])
            await session.commit()
            received: list[Transcript] = []

            async def until_final() -> None:
                async for transcript in session.transcripts():
                    received.append(transcript)
                    if transcript.final:
                        return

            await asyncio.wait_for(until_final(), WAIT)
    (record,) = fake.stt_sessions
    assert bytes(record.audio) == audio
    assert record.headers["xi-api-key"] == KEY
    assert record.query["audio_format"] == "ulaw_8000"
    assert record.query["commit_strategy"] == "manual"
    assert record.query["language_code"] == "en"
    assert record.commits == 1
    assert record.messages[0]["sample_rate"] == 8000
    # 20 ms frames go out 100 ms (800 bytes) at a time; the tail rides on the commit message.
    assert base64.b64decode(record.messages[0]["audio_base_64"]) == audio[:800]
    assert len(record.messages) == len(audio) // 800 + 1
    assert record.messages[-1]["commit"] is True
    assert base64.b64decode(record.messages[-1]["audio_base_64"]) == audio[len(audio) // 800 * 800 :]
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


async def test_stt_dropped_socket_is_a_provider_error() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_stt("drop_after_start")
        async with stt(fake).session(language="en") as session:
            with pytest.raises(ProviderError, match="closed"):
                await asyncio.wait_for(anext(session.transcripts()), WAIT)


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
        chunks = [
            c async for c in adapter.synthesize("Hello there, caller.", voice_id="voice123", language="en")
        ]
    (request,) = fake.tts_requests
    assert request.voice_id == "voice123"
    assert request.query["output_format"] == "ulaw_8000"
    assert request.headers["xi-api-key"] == KEY
    assert request.body["text"] == "Hello there, caller."
    assert request.body["model_id"] == "eleven_flash_v2_5"
    audio = b"".join(chunks)
    assert audio == voiced_tone(60 * len("Hello there, caller."))
    assert len(chunks) > 3 and max(len(c) for c in chunks) <= 320


async def test_tts_wrong_key_and_server_error_are_provider_errors() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        with pytest.raises(ProviderError, match="401"):
            _ = [c async for c in tts(fake, key="wrong").synthesize("Hi", voice_id="v", language="en")]
        fake.inject_tts("http_500")
        with pytest.raises(ProviderError, match="500"):
            _ = [c async for c in tts(fake).synthesize("Hi", voice_id="v", language="en")]


async def test_tts_drop_mid_stream_is_a_provider_error_after_some_audio() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_tts("drop_mid_stream")
        received: list[bytes] = []
        with pytest.raises(ProviderError):
            async for chunk in tts(fake).synthesize("A longer sentence to cut.", voice_id="v", language="en"):
                received.append(chunk)
    assert received


async def test_tts_stall_is_bounded_by_the_timeout() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        fake.inject_tts("stall")
        adapter = tts(fake, timeout_seconds=0.5)

        async def drain() -> None:
            _ = [c async for c in adapter.synthesize("Hi", voice_id="v", language="en")]

        with pytest.raises(ProviderError, match="Timeout"):
            await asyncio.wait_for(drain(), WAIT)


async def test_tts_blank_text_makes_no_request() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        assert [c async for c in tts(fake).synthesize("  ", voice_id="v", language="en")] == []
    assert fake.tts_requests == []
