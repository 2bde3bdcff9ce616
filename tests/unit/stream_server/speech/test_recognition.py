"""The call's recognition session: reopened when it fails or ends by itself, never left deaf."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stream_server.conversation.inputs import FinalTranscript, Input, SttFailed
from stream_server.providers.base import ProviderError, SttSession, Transcript
from stream_server.speech.recognition import CallRecognition


class _Session:
    """Gives its transcripts, then ends normally or fails."""

    def __init__(self, words: list[str], failure: ProviderError | None) -> None:
        self._words = words
        self._failure = failure

    async def send_audio(self, ulaw: bytes) -> None:
        return None

    async def commit(self) -> None:
        return None

    async def transcripts(self) -> AsyncIterator[Transcript]:
        for text in self._words:
            yield Transcript(text, final=True)
        if self._failure is not None:
            raise self._failure


class _Recogniser:
    """Each session opened takes the next (words, failure) of its plan."""

    def __init__(self, *plan: tuple[list[str], ProviderError | None]) -> None:
        self._plan = list(plan)
        self.opened = 0

    @asynccontextmanager
    async def session(self, *, language: str) -> AsyncIterator[SttSession]:
        words, failure = self._plan[self.opened]
        self.opened += 1
        yield _Session(words, failure)


async def _run(recogniser: _Recogniser, max_attempts: int) -> tuple[list[Input], int]:
    posted: list[Input] = []
    errors = 0

    def count() -> None:
        nonlocal errors
        errors += 1

    recognition = CallRecognition(
        recogniser, max_attempts=max_attempts, post=posted.append, count_error=count
    )
    await asyncio.wait_for(recognition.run("en"), 10)
    return posted, errors


async def test_a_session_that_ends_by_itself_is_reopened_and_then_the_call_is_told() -> None:
    recogniser = _Recogniser((["hello"], None), (["still there"], None), ([], None), ([], None))
    posted, errors = await _run(recogniser, max_attempts=2)
    # Words reset the count: two sessions heard something, then two in a row heard nothing.
    assert posted == [FinalTranscript("hello"), FinalTranscript("still there"), SttFailed()]
    assert recogniser.opened == 4 and errors == 4


async def test_a_failed_session_is_reopened_and_the_call_goes_on() -> None:
    recogniser = _Recogniser((["one"], ProviderError("stt", "socket gone")), (["two"], None), ([], None))
    posted, _ = await _run(recogniser, max_attempts=1)
    assert posted[:2] == [FinalTranscript("one"), FinalTranscript("two")]
    assert posted[-1] == SttFailed() and recogniser.opened == 3
