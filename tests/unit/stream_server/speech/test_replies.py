"""CallReplies: reply tasks post their audio and outcome to the inbox, stamped with a generation."""

from __future__ import annotations

import asyncio

from local.fake_providers.in_process import FakeLanguageModel, FakeTextToSpeech
from stream_server.conversation.actions import SpeakReply, SpeakText
from stream_server.conversation.inputs import Input, ReplyChunk, ReplyFinished
from stream_server.providers.base import ChatMessage
from stream_server.services import DEFAULT_PERSONA
from stream_server.speech.pipeline import ApologyClip, PipelineSettings
from stream_server.speech.replies import CallReplies

ASK = (ChatMessage("system", "Shop."), ChatMessage("user", "Are you open?"))


class Inbox:
    def __init__(self) -> None:
        self.posted: list[tuple[Input, int]] = []
        self.some = asyncio.Event()
        self.finished = asyncio.Event()

    def post(self, event: Input, generation: int) -> None:
        self.posted.append((event, generation))
        self.some.set()
        if isinstance(event, ReplyFinished):
            self.finished.set()


def replies(inbox: Inbox, llm: FakeLanguageModel | None = None) -> CallReplies:
    return CallReplies(
        llm=llm or FakeLanguageModel(),
        tts=FakeTextToSpeech(),
        apology=ApologyClip("Sorry.", b"\x00"),
        settings=PipelineSettings(),
        model="m",
        clock=asyncio.get_running_loop().time,
        persona=lambda: DEFAULT_PERSONA,
        post=inbox.post,
        count_errors=lambda n: None,
    )


async def wait_for_finish(inbox: Inbox) -> None:
    await asyncio.wait_for(inbox.finished.wait(), 10)


async def test_a_reply_posts_its_chunks_then_a_frozen_outcome_in_its_generation() -> None:
    inbox = Inbox()
    r = replies(inbox)
    r.start(SpeakText("Hello there.", "greeting"))
    await wait_for_finish(inbox)
    *chunks, (finished, generation) = inbox.posted
    assert chunks and all(isinstance(e, ReplyChunk) and g == generation for e, g in chunks)
    assert isinstance(finished, ReplyFinished) and generation == r.generation
    assert finished.outcome.finished and finished.outcome.text == "Hello there."
    assert "first_audio" in finished.outcome.latency_ms


async def test_cancel_starts_a_new_generation_so_queued_chunks_of_the_cut_reply_are_stale() -> None:
    inbox = Inbox()
    r = replies(inbox, FakeLanguageModel(token_s=0.05))
    r.start(SpeakReply(ASK))
    await asyncio.wait_for(inbox.some.wait(), 10)
    cut = inbox.posted[0][1]
    r.cancel()
    assert r.generation != cut
    await asyncio.sleep(0.2)
    assert all(g == cut for _, g in inbox.posted)  # nothing more once cancelled
    assert not any(isinstance(e, ReplyFinished) for e, _ in inbox.posted)
    await asyncio.gather(*r.tasks(), return_exceptions=True)


async def test_progress_is_shown_once_per_change() -> None:
    inbox = Inbox()
    r = replies(inbox, FakeLanguageModel(first_token_s=0.05))
    assert r.progress() is None  # no reply yet
    r.start(SpeakReply(ASK))
    await asyncio.sleep(0)  # the task has started: its (empty) progress is there to see
    first = r.progress()
    assert first is not None and first.latency_ms == {} and not first.finished
    assert r.progress() is None  # unchanged
    await wait_for_finish(inbox)
    later = r.progress()
    assert later is not None and "llm_first_token" in later.latency_ms


async def test_a_speculative_reply_posts_nothing_until_adopted() -> None:
    inbox = Inbox()
    r = replies(inbox)
    r.speculate(7, ASK, ())
    await asyncio.sleep(0.1)
    assert inbox.posted == [] and r.progress() is None
    r.adopt(7)
    await wait_for_finish(inbox)
    assert {g for _, g in inbox.posted} == {r.generation}
    r.speculate(8, ASK, ())
    r.discard(8)
    r.adopt(8)  # gone: the turn gets no reply, and nothing is posted for it
    await asyncio.sleep(0.05)
    assert {g for _, g in inbox.posted} == {r.generation - 1}
