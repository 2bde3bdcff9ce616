"""Filler phrases: a short "Let me check." when the model is slow, instead of dead air.

On the phone, silence after a question sounds like a dropped line; after about a second
callers say "Hello?" and talk over the answer that was about to come. When the first audio of
a reply is later than a tunable delay, the bot says one of the persona's filler phrases, then
the reply follows in the same utterance (Twilio plays our audio in order).

Rules, all here as pure functions: only when the persona has phrases; never twice in a row
(a filler before every answer is a tic); never while the caller is talking; never once any
reply audio exists; phrases rotate. Clips are rendered once per process and voice ahead of
need, so a filler costs no TTS round trip at the moment it is needed; if the clip is not ready
the filler is skipped, never waited for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stream_server.behaviours.intents import Count, Filler, Intent

__all__ = ["FillerSettings", "Fillers", "choose_filler", "filler_due"]


@dataclass(frozen=True, slots=True)
class FillerSettings:
    """``after_s``: how late the first reply audio may be before a filler is said."""

    after_s: float = 0.9


def filler_due(
    *,
    waited_s: float,
    settings: FillerSettings,
    has_phrases: bool,
    reply_audio_started: bool,
    caller_speaking: bool,
    filler_last_time: bool,
) -> bool:
    """Should a filler be said now, for a reply started ``waited_s`` ago?"""
    return (
        has_phrases
        and waited_s >= settings.after_s
        and not reply_audio_started
        and not caller_speaking
        and not filler_last_time
    )


def choose_filler(phrases: Sequence[str], used: int) -> str:
    """The next phrase in rotation (``used`` = fillers said so far on this call)."""
    return phrases[used % len(phrases)]


class Fillers:
    """One call's fillers: at most one per late reply, never two replies in a row, phrases in turn."""

    def __init__(self, settings: FillerSettings, phrases: Sequence[str]) -> None:
        self.settings = settings
        self.phrases = tuple(phrases)
        self._said = 0
        self._last_time = False

    def reply_audio_started(self) -> None:
        """A reply's own audio arrived: the next slow reply may get a filler again."""
        self._last_time = False

    def consider(self, *, waited_s: float, reply_audio_started: bool, caller_speaking: bool) -> list[Intent]:
        """A filler for the reply started ``waited_s`` ago, if one is due now."""
        due = filler_due(
            waited_s=waited_s,
            settings=self.settings,
            has_phrases=bool(self.phrases),
            reply_audio_started=reply_audio_started,
            caller_speaking=caller_speaking,
            filler_last_time=self._last_time,
        )
        if not due:
            return []
        self._last_time = True
        phrase = choose_filler(self.phrases, self._said)
        self._said += 1
        return [Filler(phrase), Count("Fillers")]
