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

__all__ = ["FillerSettings", "choose_filler", "filler_due"]


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
