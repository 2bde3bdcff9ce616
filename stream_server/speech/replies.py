"""One call's replies as asyncio tasks: the reply being spoken, and speculative ones held unheard.

The session performs the conductor's reply actions here (start, speculate, adopt, discard, cancel).
A reply never calls the conductor: it posts what happens to the call's inbox (`ReplyChunk` for each
chunk of audio, `ReplyFinished` with its frozen `ReplyOutcome` at the end), stamped with the
``generation`` it belongs to. Every start, adoption or cancellation begins a new generation, so the
session drops what a reply posted before it was cut: in the order the inbox keeps, the reply was
already stopped when that chunk would be heard.

`progress` returns what the current reply has produced when it changed since the last look; the
session hands it to the conductor before every input, so the conductor decides on the same facts
it would have read from the live reply, without sharing anything mutable with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from callcore.models import Persona

from stream_server.conversation.actions import ReplyOutcome, SpeakReply, SpeakText
from stream_server.conversation.inputs import Input, ReplyChunk, ReplyFinished
from stream_server.providers.base import ChatMessage, LanguageModel, TextToSpeech, ToolSpec
from stream_server.speech.held_reply import hold_until
from stream_server.speech.pipeline import (
    ApologyClip,
    PipelineSettings,
    ReplyStats,
    Voice,
    speak_reply,
    speak_text,
)

__all__ = ["CallReplies", "PostInput"]

log = logging.getLogger("stream_server.session")

PostInput = Callable[[Input, int], None]
"""Puts an input on the call's inbox, stamped with the reply generation that produced it."""


class CallReplies:
    """The current reply task, the held speculative ones, and what the conductor has seen of them."""

    def __init__(
        self,
        *,
        llm: LanguageModel,
        tts: TextToSpeech,
        apology: ApologyClip,
        settings: PipelineSettings,
        model: str,
        clock: Callable[[], float],
        persona: Callable[[], Persona],
        post: PostInput,
        count_errors: Callable[[int], None],
    ) -> None:
        self._llm, self._tts, self._apology = llm, tts, apology
        self._settings = settings
        self._model = model  # when the persona names none
        self._clock = clock
        self._persona = persona
        self._post = post
        self._count_errors = count_errors
        self.generation = 0
        self._current: asyncio.Task[None] | None = None
        # The current reply's stats once the conductor may see them, and the last progress shown.
        self._stats: ReplyStats | None = None
        self._shown: tuple[object, ...] | None = None
        # Speculative replies running ahead unheard, by id, with the event that releases each.
        self._speculative: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}

    def start(self, action: SpeakReply | SpeakText) -> None:
        """Speak ``action`` now, instead of whatever was being spoken."""
        self._stop_current()
        self._current = asyncio.create_task(self._speak(action, self.generation), name="reply")

    def speculate(
        self, speculation_id: int, messages: tuple[ChatMessage, ...], tools: Sequence[ToolSpec]
    ) -> None:
        """Start a reply whose audio is held until `adopt` (or dropped by `discard`)."""
        release = asyncio.Event()
        task = asyncio.create_task(
            self._speak(SpeakReply(messages, tuple(tools)), None, release), name="speculation"
        )
        self._speculative[speculation_id] = (task, release)

    def adopt(self, speculation_id: int) -> None:
        """Make a held speculative reply the current reply and let its audio out."""
        entry = self._speculative.pop(speculation_id, None)
        self._stop_current()
        if entry is None or entry[0].done():
            # It already died (a provider fault before release): nothing held to play.
            log.warning("speculative reply %d is gone; the turn gets no reply", speculation_id)
            return
        self._current, release = entry
        release.set()

    def discard(self, speculation_id: int) -> None:
        entry = self._speculative.pop(speculation_id, None)
        if entry is not None:
            entry[0].cancel()

    def cancel(self) -> None:
        """Stop the current reply (barge-in, goodbye, end of call)."""
        self._stop_current()

    def progress(self) -> ReplyOutcome | None:
        """What the current reply has produced, if that changed since the last call (else None)."""
        stats = self._stats
        if stats is None:
            return None
        seen = stats.progress()
        if seen == self._shown:
            return None
        self._shown = seen
        return stats.outcome()

    def tasks(self) -> list[asyncio.Task[None]]:
        """Every reply task still owned (for the session's shutdown); forgets the held ones."""
        held = [task for task, _ in self._speculative.values()]
        self._speculative.clear()
        return [t for t in [self._current, *held] if t is not None]

    def _stop_current(self) -> None:
        self.generation += 1
        self._stats = self._shown = None
        current, self._current = self._current, None
        if current is not None and not current.done():
            current.cancel()

    def _show(self, stats: ReplyStats) -> None:
        self._stats, self._shown = stats, None

    async def _speak(
        self, action: SpeakReply | SpeakText, generation: int | None, release: asyncio.Event | None = None
    ) -> None:
        persona = self._persona()
        voice = Voice(persona.voice_id, persona.language)
        stats = ReplyStats(started_at=self._clock())
        if release is None:
            self._show(stats)
        if isinstance(action, SpeakReply):
            chunks = speak_reply(
                llm=self._llm,
                tts=self._tts,
                messages=action.messages,
                model=persona.llm_model or self._model,
                voice=voice,
                apology=self._apology,
                stats=stats,
                settings=self._settings,
                clock=self._clock,
                tools=action.tools,
            )
        else:
            chunks = speak_text(
                tts=self._tts,
                text=action.text,
                voice=voice,
                apology=self._apology,
                stats=stats,
                settings=self._settings,
                clock=self._clock,
            )
        if release is not None:

            def released() -> None:
                nonlocal generation
                generation = self.generation  # adopted: it belongs to the generation `adopt` began
                self._show(stats)

            chunks = hold_until(chunks, release, on_release=released)
        try:
            async for chunk in chunks:
                assert generation is not None
                self._post(ReplyChunk(chunk), generation)
        finally:
            await chunks.aclose()
        if stats.provider_errors:
            self._count_errors(len(stats.provider_errors))
        if self._current is asyncio.current_task():
            self._current = None
        assert generation is not None
        self._post(ReplyFinished(stats.outcome(finished=True)), generation)
