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

import logging
from dataclasses import dataclass
from enum import Enum

from callcore.models import Persona

from stream_server.behaviours.intents import Close, EndReason, Intent, Say

log = logging.getLogger("stream_server.call")

__all__ = ["CallClock", "ClockDecision", "IdleWatch", "Nudge", "closing_warning_at"]


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


class CallClock:
    """The clock's intents for one call: the drain deadline, the maximum duration and its warning,
    and the idle caller's prompts and goodbye."""

    def __init__(self, *, warning: str, warn_before_s: float, drain_goodbye: str) -> None:
        self.idle = IdleWatch(0.0)
        self._warning = warning
        self._warn_before_s = warn_before_s
        self._drain_goodbye = drain_goodbye
        self._drain_deadline: float | None = None

    def start(self, now: float) -> None:
        self.idle = IdleWatch(now)

    def begin_drain(self, deadline: float) -> None:
        self._drain_deadline = deadline

    def deadline(self, now: float, *, elapsed_s: float, persona: Persona) -> Close | None:
        """The call must end now: the process is draining, or the call reached its maximum."""
        if self._drain_deadline is not None and now >= self._drain_deadline:
            return Close(EndReason.DRAIN, self._drain_goodbye)
        if elapsed_s >= persona.goodbye_at_seconds:  # before Twilio's TimeLimit, always
            return Close(EndReason.MAX_DURATION)
        return None

    def nudge(self, now: float, *, elapsed_s: float, busy: bool, persona: Persona) -> list[Intent]:
        """The duration warning, an idle prompt, or the idle goodbye, when one is due."""
        decision = self.idle.decide(
            now,
            busy=busy,
            idle_timeout_s=persona.idle_timeout_seconds,
            max_prompts=persona.max_idle_prompts,
            elapsed_s=elapsed_s,
            warn_at_s=closing_warning_at(persona.goodbye_at_seconds, self._warn_before_s),
        )
        if decision is None:
            return []
        if decision.nudge is Nudge.IDLE_GOODBYE:
            log.info("caller silent after %d idle prompts: ending the call", decision.prompts_so_far)
            return [Close(EndReason.IDLE)]
        if decision.nudge is Nudge.IDLE_PROMPT:
            return [Say(persona.idle_prompt, "idle-prompt")]
        return [Say(self._warning, "duration-warning")]
