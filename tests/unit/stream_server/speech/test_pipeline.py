"""Reply pipeline: streaming order, overlap, retries, apology, cancellation."""

from __future__ import annotations

import asyncio

from local.fake_providers.in_process import FakeLanguageModel, FakeTextToSpeech
from stream_server.providers.base import ChatMessage
from stream_server.speech.pipeline import (
    ApologyClip,
    PipelineSettings,
    ReplyAudio,
    ReplyStats,
    Voice,
    render_clip,
    speak_reply,
    speak_text,
)

APOLOGY = ApologyClip("Sorry, could you say that again?", b"\x11" * 400)
MSGS = [ChatMessage("system", "be brief"), ChatMessage("user", "hi")]
VOICE = Voice("v1")


async def collect(**kw: object) -> tuple[list[ReplyAudio], ReplyStats]:
    stats = ReplyStats(started_at=0.0)
    out = [
        c
        async for c in speak_reply(messages=MSGS, model="m", voice=VOICE, apology=APOLOGY, stats=stats, **kw)
    ]  # type: ignore[arg-type]
    return out, stats


async def test_reply_is_spoken_sentence_by_sentence() -> None:
    llm = FakeLanguageModel(reply=lambda m: "Hello there. We open at nine. Anything else?")
    tts = FakeTextToSpeech(bytes_per_char=10, chunk_bytes=100)
    out, stats = await collect(llm=llm, tts=tts)
    assert tts.texts == ["Hello there.", "We open at nine.", "Anything else?"]
    assert [c.sentence for c in out] == sorted(c.sentence for c in out)
    assert sum(len(c.audio) for c in out) == 10 * sum(len(t) for t in tts.texts)
    assert stats.text == "Hello there. We open at nine. Anything else?"
    assert set(stats.latency_ms()) == {"llm_first_token", "tts_first_byte", "first_audio"}
    assert not stats.apologised


async def test_first_audio_arrives_before_the_llm_finishes() -> None:
    llm = FakeLanguageModel(reply=lambda m: "Yes. " + "more words " * 20, token_s=0.01)
    tts = FakeTextToSpeech()
    stats = ReplyStats(started_at=0.0)
    gen = speak_reply(llm=llm, tts=tts, messages=MSGS, model="m", voice=VOICE, apology=APOLOGY, stats=stats)
    first = await anext(gen)
    assert first.text == "Yes."
    assert len(stats.text.split()) < 41  # the LLM is still streaming
    await gen.aclose()


async def test_llm_fault_before_any_text_is_retried() -> None:
    llm = FakeLanguageModel(reply=lambda m: "Fine thanks.", fail_calls=frozenset({1}))
    out, stats = await collect(llm=llm, tts=FakeTextToSpeech())
    assert llm.calls == 2
    assert not stats.apologised
    assert out[0].text == "Fine thanks."
    assert stats.provider_errors and "llm" in stats.provider_errors[0]


async def test_llm_failing_every_time_ends_with_the_apology() -> None:
    llm = FakeLanguageModel(fail_calls=frozenset({1, 2, 3}))
    out, stats = await collect(llm=llm, tts=FakeTextToSpeech())
    assert llm.calls == 2  # bounded retries
    assert [c.apology for c in out] == [True]
    assert out[0].audio == APOLOGY.audio
    assert stats.apologised


async def test_llm_fault_mid_reply_keeps_what_was_said_then_apologises() -> None:
    llm = FakeLanguageModel(
        reply=lambda m: "First part. Second part never", fail_calls=frozenset({1}), fail_after_words=3
    )
    out, _stats = await collect(llm=llm, tts=FakeTextToSpeech())
    assert llm.calls == 1
    texts = [c.text for c in out]
    assert texts[0] == "First part." and texts[-1] == APOLOGY.text


async def test_llm_timeout_is_a_fault() -> None:
    llm = FakeLanguageModel(hang_calls=frozenset({1, 2}))
    settings = PipelineSettings(llm_first_token_timeout_s=0.05, max_attempts=2)
    out, _stats = await collect(llm=llm, tts=FakeTextToSpeech(), settings=settings)
    assert out[-1].apology and llm.cancelled == 2


async def test_tts_fault_apologises() -> None:
    tts = FakeTextToSpeech(fail_texts=frozenset({"Bad one."}))
    llm = FakeLanguageModel(reply=lambda m: "Good one. Bad one. Never said.")
    out, _stats = await collect(llm=llm, tts=tts)
    assert next(c.text for c in out) == "Good one."
    assert out[-1].apology
    assert "Never said." not in tts.texts
    assert tts.texts.count("Bad one.") == 2


async def test_cancelling_the_consumer_cancels_llm_and_tts() -> None:
    llm = FakeLanguageModel(reply=lambda m: "One. " + "two " * 200, token_s=0.01)
    tts = FakeTextToSpeech(first_byte_s=0.0)
    got: list[ReplyAudio] = []
    first = asyncio.Event()

    async def consume() -> None:
        stats = ReplyStats(started_at=0.0)
        async for c in speak_reply(
            llm=llm, tts=tts, messages=MSGS, model="m", voice=VOICE, apology=APOLOGY, stats=stats
        ):
            got.append(c)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert llm.cancelled == 1


async def test_speak_text_and_render_clip_fallback() -> None:
    stats = ReplyStats(started_at=0.0)
    out = [
        c
        async for c in speak_text(
            tts=FakeTextToSpeech(), text="Hi. Bye.", voice=VOICE, apology=None, stats=stats
        )
    ]
    assert [c.text for c in out] == ["Hi.", "Bye."]
    clip = await render_clip(
        "Sorry.", VOICE, FakeTextToSpeech(fail_always=True), FakeTextToSpeech(bytes_per_char=2)
    )
    assert clip.audio == bytes([0x55]) * 12


async def test_a_reply_cut_at_the_token_budget_is_never_spoken_as_complete() -> None:
    # The real Cerebras adapter against the fake that counts reasoning against the budget:
    # 4 reasoning + 9 reply tokens with a budget of 10 stops after "Sure. I can book" + nothing more.
    from local.fake_providers.cerebras import FakeCerebras
    from stream_server.providers.llm_cerebras import CerebrasLanguageModel

    reply = "Sure. I can book you in on Friday at eight."
    async with FakeCerebras(
        api_key="k", reply=reply, reasoning="one two three four", first_token_ms=1
    ) as fake:
        llm = CerebrasLanguageModel(
            api_key="k", base_url=fake.base_url, max_completion_tokens=10, max_retries=0
        )
        tts = FakeTextToSpeech()
        stats = ReplyStats(started_at=0.0)
        out = [
            chunk
            async for chunk in speak_reply(
                llm=llm,
                tts=tts,
                messages=MSGS,
                model="gpt-oss-120b",
                voice=VOICE,
                apology=APOLOGY,
                stats=stats,
            )
        ]
        await llm.aclose()
    assert stats.text.startswith("Sure. I can book")
    assert tts.texts == ["Sure."]  # the unfinished "I can book you in" is dropped, not spoken
    assert stats.apologised and out[-1].apology
