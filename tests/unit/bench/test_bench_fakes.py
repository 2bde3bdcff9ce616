"""The bench's ElevenLabs fake: the with-timestamps TTS route Pipecat calls, on the shared paced writer."""

from __future__ import annotations

import base64
import json

import aiohttp

from bench.loadgen.fakes import BenchElevenLabs
from local.fake_providers.elevenlabs import voiced_tone
from stream_server.audio.codec import ulaw_to_pcm16

KEY = "bench-key"
TEXT = "Hello there."


async def test_with_timestamps_streams_the_tone_as_json_lines_with_the_alignment_first() -> None:
    async with (
        BenchElevenLabs(api_key=KEY, tts_first_byte_ms=0) as fake,
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/v1/text-to-speech/v/stream/with-timestamps?output_format=pcm_8000",
            json={"text": TEXT},
            headers={"xi-api-key": KEY},
        ) as response,
    ):
        assert response.status == 200
        lines = [json.loads(line) for line in (await response.read()).splitlines()]
    pcm = b"".join(base64.b64decode(line["audio_base64"]) for line in lines)
    assert pcm == ulaw_to_pcm16(voiced_tone(60 * len(TEXT))).astype("<i2").tobytes()
    assert len(lines) > 1 and "alignment" in lines[0] and all("alignment" not in line for line in lines[1:])
    assert lines[0]["alignment"]["characters"] == list(TEXT)


async def test_with_timestamps_refuses_a_wrong_key_and_an_unknown_format() -> None:
    url = "/v1/text-to-speech/v/stream/with-timestamps"
    async with BenchElevenLabs(api_key=KEY) as fake, aiohttp.ClientSession() as http:
        async with http.post(fake.base_url + url, json={"text": TEXT}, headers={"xi-api-key": "x"}) as r:
            assert r.status == 401
        query = "?output_format=mp3_44100_128"
        async with http.post(
            fake.base_url + url + query, json={"text": TEXT}, headers={"xi-api-key": KEY}
        ) as r:
            assert r.status == 422
