"""When the line goes quiet, or the call runs long: the clock-driven decisions of a call.

A caller who stops answering (phone on the table, walked away, bad line) must not keep a
Fargate slot and a Twilio leg open until the maximum duration: after the persona's silence the
bot asks its idle prompt ("Are you still there?"), a bounded number of times, then says goodbye
and hangs up. A call that reaches its maximum duration is warned a little before the end, so the
closing goodbye is not a surprise.

Silence is counted from the last sign of life on either side: the bot finishing an utterance,
the caller speaking (even a turn the recogniser could not make words of) or pressing a key. The
clock never runs while the bot talks, while the caller talks, or while a reply is being made.

Pure: no clock of its own, no I/O. `CallState` feeds it events and asks it on every tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ClockDecision", "IdleWatch", "Nudge", "closing_warning_at"]


class Nudge(Enum):
    """What the clock asks the call to do now."""

    IDLE_PROMPT = "idle-prompt"
    IDLE_GOODBYE = "idle"
    DURATION_WARNING = "duration-warning"


@dataclass(frozen=True, slots=True)
class ClockDecision:
    nudge: Nudge
    prompts_so_far: int


def closing_warning_at(max_duration_s: float, warn_before_s: float) -> float | None:
    """Seconds into the call to warn that time is nearly up; None when the call is too short.

    A call shorter than twice the warning window gets no warning: it would come so early that
    it sounds like a threat rather than a courtesy.
    """
    if warn_before_s <= 0 or max_duration_s < 2 * warn_before_s:
        return None
    return max_duration_s - warn_before_s


class IdleWatch:
    """Counts the quiet since the last sign of life and the idle prompts asked in a row."""

    __slots__ = ("_last_activity", "_prompts", "_warned")

    def __init__(self, now: float) -> None:
        self._last_activity = now
        self._prompts = 0
        self._warned = False

    @property
    def prompts(self) -> int:
        return self._prompts

    def caller_active(self, now: float) -> None:
        """The caller spoke or pressed a key: they are here, start the count again."""
        self._last_activity = now
        self._prompts = 0

    def bot_finished(self, now: float) -> None:
        """The bot stopped talking: the caller's silence is counted from here."""
        self._last_activity = now

    def decide(
        self,
        now: float,
        *,
        busy: bool,
        idle_timeout_s: float,
        max_prompts: int,
        elapsed_s: float,
        warn_at_s: float | None,
    ) -> ClockDecision | None:
        """What to do at ``now``; ``busy`` means someone has the floor or a reply is on its way."""
        if busy:
            return None
        if warn_at_s is not None and not self._warned and elapsed_s >= warn_at_s:
            self._warned = True
            return ClockDecision(Nudge.DURATION_WARNING, self._prompts)
        if idle_timeout_s <= 0 or now - self._last_activity < idle_timeout_s:
            return None
        # Reset the count now, so one decision is made per stretch of silence.
        self._last_activity = now
        if self._prompts >= max_prompts:
            return ClockDecision(Nudge.IDLE_GOODBYE, self._prompts)
        self._prompts += 1
        return ClockDecision(Nudge.IDLE_PROMPT, self._prompts)
