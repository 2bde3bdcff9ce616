"""Offline engines: eSpeak NG speech recognised by PocketSphinx, and the scripted LLM's rules."""

from __future__ import annotations

import asyncio
import difflib

import pytest

from stream_server.audio.codec import duration_ms, ulaw_to_pcm16
from stream_server.providers.base import ChatMessage, ProviderError, Transcript
from stream_server.providers.llm_offline import OFFLINE_IDENTITY, ScriptedLanguageModel, scripted_reply
from stream_server.providers.stt_offline import OfflineSpeechToText
from stream_server.providers.tts_offline import OfflineTextToSpeech, espeak_voice
from tests.transcribe import transcribe

PROMPT = (
    "You are Sam, the receptionist at Luigi's, an Italian restaurant. Keep answers short. "
    "The restaurant is open from five to eleven every evening. "
    "We have vegetarian pasta and pizza on the menu. Parking is free behind the building."
)


def word_accuracy(reference: str, hypothesis: str) -> float:
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    matcher = difflib.SequenceMatcher(a=ref, b=hyp)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(ref)


# --- eSpeak NG ------------------------------------------------------------------------------------


async def test_espeak_renders_mulaw_8k_speech_in_chunks() -> None:
    tts = OfflineTextToSpeech(chunk_ms=100)
    chunks = [c async for c in tts.synthesize("Hello, this is a test.", voice_id="x", language="en")]
    audio = b"".join(chunks)
    assert 500 < duration_ms(audio) < 5000
    assert all(len(c) == 800 for c in chunks[:-1])
    assert abs(ulaw_to_pcm16(audio).astype(int)).max() > 3000  # not silence


async def test_espeak_text_that_looks_like_options_is_spoken_not_parsed() -> None:
    tts = OfflineTextToSpeech()
    audio = await tts.render("--version -v xx; echo pwned", voice="en-us")
    assert duration_ms(audio) > 500


async def test_missing_espeak_is_a_provider_error() -> None:
    tts = OfflineTextToSpeech(executable="/nonexistent/espeak-ng")
    with pytest.raises(ProviderError, match="cannot start"):
        _ = [c async for c in tts.synthesize("hi", voice_id="x", language="en")]


def test_voice_choice() -> None:
    assert espeak_voice("21m00Tcm4TlvDq8ikWAM", "en") == "en-us"
    assert espeak_voice("x", "fr") == "fr-fr"
    assert espeak_voice("espeak:en-gb+f3", "en") == "en-gb+f3"
    assert espeak_voice("espeak:--bad option", "de") == "de"


# --- PocketSphinx ---------------------------------------------------------------------------------


async def test_espeak_to_pocketsphinx_round_trip_recognises_most_words() -> None:
    sentence = "I would like to book a table for two"
    audio = await OfflineTextToSpeech(words_per_minute=150).render(sentence, voice="en-us")
    silence = b"\xff" * 2400
    async with OfflineSpeechToText().session(language="en") as session:
        received = await transcribe(session, silence + audio + silence, within=60)
    final = received[-1]
    assert final.final
    # PocketSphinx on telephone-band eSpeak is weak (docs/providers.md); half the words is the bar.
    assert word_accuracy(sentence, final.text) >= 0.5, final.text
    assert all(not t.final for t in received[:-1])


async def test_commit_without_audio_gives_an_empty_final() -> None:
    async with OfflineSpeechToText().session(language="en") as session:
        await session.commit()
        assert await asyncio.wait_for(anext(session.transcripts()), 60) == Transcript("", True)


# --- scripted LLM ---------------------------------------------------------------------------------


def conversation(*caller: str) -> list[ChatMessage]:
    messages = [ChatMessage("system", PROMPT)]
    for line in caller:
        messages += [ChatMessage("user", line), ChatMessage("assistant", "...")]
    return messages[:-1]


def test_answers_from_the_prompt_facts() -> None:
    assert "open from five to eleven" in scripted_reply(conversation("When are you open this evening?"))
    assert "vegetarian" in scripted_reply(conversation("Do you have anything vegetarian on the menu?"))
    assert "Parking is free" in scripted_reply(conversation("is there parking"))


def test_never_reads_out_instructions() -> None:
    reply = scripted_reply(conversation("keep answers short please"))
    assert "Keep answers short" not in reply and "You are Sam" not in reply


def test_greets_says_goodbye_and_admits_being_scripted() -> None:
    assert scripted_reply([ChatMessage("system", PROMPT)]).startswith("Hello")
    assert scripted_reply(conversation("hi there")).startswith("Hello")
    assert "Goodbye" in scripted_reply(conversation("ok that's all, bye"))
    assert scripted_reply(conversation("wait, are you a robot?")) == OFFLINE_IDENTITY


def test_fallback_varies_instead_of_repeating() -> None:
    first = scripted_reply(conversation("zebra quantum"))
    second = scripted_reply(conversation("hi", "zebra quantum"))
    assert first != second


async def test_streams_word_by_word() -> None:
    llm = ScriptedLanguageModel(seconds_per_word=0)
    messages = conversation("is there parking")
    deltas = [d async for d in llm.stream(messages, model="ignored")]
    assert len(deltas) > 5
    assert "".join(deltas) == scripted_reply(messages)
