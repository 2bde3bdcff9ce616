"""The realistic recogniser of the fakes: partials trail the audio, commits finalise what was said.

Driven through the real Scribe adapter, with audio sent faster than real time: the fake's clock is
the audio it has received, so the figures do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from local.fake_providers.elevenlabs import FakeElevenLabs, voiced_tone
from local.fake_providers.recognition import ProviderTiming, TrailingTranscript, word_end_times
from stream_server.audio.codec import silence_ulaw
from stream_server.providers.base import SttSession, Transcript
from stream_server.providers.stt_elevenlabs import ElevenLabsSpeechToText
from tests.transcribe import transcribe

KEY = "test-elevenlabs-key"
LINE = "I would like to book a table for two."
WAIT = 20.0


def test_word_end_times_spread_the_speech_by_word_length() -> None:
    ends = word_end_times("a table for two", 1.4)
    assert len(ends) == 4 and ends[-1] == 1.4
    assert ends == sorted(ends)
    assert ends[1] - ends[0] > ends[2] - ends[1]  # "table" takes longer than "for"


def test_partials_lag_and_commits_take_only_spoken_words() -> None:
    line = TrailingTranscript("one two three four", [0.25, 0.5, 0.75, 1.0], onset=10.0)
    assert line.partial(10.9, lag_s=0.4) == "one two"  # words that ended by 10.5
    assert line.commit(10.55) == "one two"
    assert not line.done
    assert line.partial(11.5, lag_s=0.3) == "three four"
    assert line.commit(11.3) == "three four"
    assert line.done and line.commit(12.0) == ""


def test_lag_is_drawn_from_the_published_range() -> None:
    timing = ProviderTiming()
    lags = [timing.partial_lag_s(random.Random(seed)) for seed in range(50)]
    assert all(0.3 <= lag <= 0.5 for lag in lags)


def _fake(*lines: str, speech_seconds: Callable[[str], float] = lambda _text: 2.0) -> FakeElevenLabs:
    """The fake with the realistic recogniser, saying ``lines`` in order, each ``speech_seconds`` long."""
    return FakeElevenLabs(
        api_key=KEY,
        stt_commit_ms=20,
        recognition=ProviderTiming(),
        session_script=list(lines),
        speech_seconds=speech_seconds,
    )


async def _transcribe(session: SttSession, audio: bytes) -> list[Transcript]:
    """Audio 100 ms at a time (faster than real time: the fake's clock is the audio it received)."""
    return await transcribe(session, audio, within=WAIT, chunk_bytes=800)


async def test_the_last_partial_lacks_the_last_words_and_the_final_has_them() -> None:
    async with _fake(LINE) as fake:
        stt = ElevenLabsSpeechToText(api_key=KEY, base_url=fake.base_url)
        async with stt.session(language="en") as session:
            received = await _transcribe(session, silence_ulaw(400) + voiced_tone(2000) + silence_ulaw(200))
    partials = [t.text for t in received if not t.final]
    assert partials, received
    assert len(partials[-1].split()) < len(LINE.split())  # the caller stopped; the partial had not caught up
    assert received[-1] == Transcript(LINE, True)


async def test_a_commit_in_a_pause_finalises_the_first_words_and_the_rest_follow() -> None:
    async with _fake(LINE, "Thanks.", speech_seconds=lambda text: 2.0 if text == LINE else 0.4) as fake:
        stt = ElevenLabsSpeechToText(api_key=KEY, base_url=fake.base_url)
        async with stt.session(language="en") as session:
            finals: list[str] = []
            for audio in (
                voiced_tone(1200) + silence_ulaw(200),
                voiced_tone(800) + silence_ulaw(200),
                silence_ulaw(500) + voiced_tone(400) + silence_ulaw(200),
            ):
                finals.append((await _transcribe(session, audio))[-1].text)
    first, rest, next_line = finals
    assert first and rest
    assert f"{first} {rest}" == LINE
    assert next_line == "Thanks."


async def test_pcm_audio_keeps_the_same_clock_as_mu_law() -> None:
    """Pipecat sends `pcm_8000` (two bytes a sample): the line's timing must not run twice as fast."""
    import base64
    import json

    import aiohttp

    from stream_server.audio.codec import ulaw_to_pcm16

    fake = _fake(LINE)
    pcm = ulaw_to_pcm16(voiced_tone(1000)).astype("<i2").tobytes()
    query = "/v1/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_8000"
    async with (
        fake,
        aiohttp.ClientSession() as http,
        http.ws_connect(fake.base_url + query, headers={"xi-api-key": KEY}) as ws,
    ):
        for offset in range(0, len(pcm), 3200):
            chunk = base64.b64encode(pcm[offset : offset + 3200]).decode()
            await ws.send_json(
                {
                    "message_type": "input_audio_chunk",
                    "audio_base_64": chunk,
                    "commit": False,
                    "sample_rate": 8000,
                }
            )
        await ws.send_json(
            {"message_type": "input_audio_chunk", "audio_base_64": "", "commit": True, "sample_rate": 8000}
        )
        while True:
            message = json.loads((await asyncio.wait_for(ws.receive(), WAIT)).data)
            if message["message_type"] == "committed_transcript":
                break
    # One second of a two-second line: about half the words, not all of them.
    spoken = message["text"].split()
    assert 2 <= len(spoken) <= len(LINE.split()) - 2, message
