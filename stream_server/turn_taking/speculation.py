"""Speculative replies: start the LLM on a stable partial before the turn is confirmed.

Between the caller's last word and our first audio sit the end-of-turn silence, the recogniser's
commit and the LLM's first token. When the partial transcript has stopped changing and the caller
is quiet, the words are very likely final: starting the reply then hides most of the end-of-turn
wait and the LLM's latency. The output is held, not played, until the committed transcript
confirms the words; if the caller speaks again or the final text differs materially, the
speculative reply is thrown away (one LLM request wasted, nothing heard).

This module only decides (start / discard / adopt); the session runs and holds the reply.
Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Speculation", "SpeculationPolicy", "same_words"]

_TOKEN = re.compile(r"[a-z0-9']+")
_FILLERS = frozenset({"um", "uh", "er", "erm", "hmm", "mm", "ah"})


def same_words(a: str, b: str) -> bool:
    """Do two transcripts say the same thing for the LLM's purposes?

    Case, punctuation and hesitation sounds do not matter; any other word added, dropped or
    changed does ("two" vs "ten" people is a different booking).
    """
    return [w for w in _TOKEN.findall(a.lower()) if w not in _FILLERS] == [
        w for w in _TOKEN.findall(b.lower()) if w not in _FILLERS
    ]


@dataclass(frozen=True, slots=True)
class Speculation:
    """One speculative reply in flight: its id (for the session) and the words it answers."""

    speculation_id: int
    text: str
    started_at: float


class SpeculationPolicy:
    """When to start, keep, discard or adopt a speculative reply for the current caller turn.

    Args:
        stable_ms: the partial must be unchanged this long.
        silence_ms: the caller must have been quiet this long.
        max_per_turn: cap on LLM requests wasted per caller turn.
    """

    def __init__(
        self, *, stable_ms: int, silence_ms: int, max_per_turn: int = 3, enabled: bool = True
    ) -> None:
        self.stable_ms = stable_ms
        self.silence_ms = silence_ms
        self.max_per_turn = max_per_turn
        self.enabled = enabled
        self.current: Speculation | None = None
        self._next_id = 0
        self._this_turn = 0
        self.started = 0
        self.adopted = 0
        self.discarded = 0

    def should_start(
        self,
        partial: str,
        *,
        partial_age_ms: float,
        silence_ms: float,
        turn_silence_ms: int,
        now: float,
        turn_ended: bool = False,
    ) -> Speculation | None:
        """A new speculation for ``partial``, or None (not stable, already running, capped).

        The silence needed is ``silence_ms`` or half the silence that would end the turn,
        whichever is longer: a gap between two words of a sentence is not worth an LLM request,
        and a partial that promises more ("...and") is rarely the final one. Once the turn has
        ended (``turn_ended``) the last partial is used at once: that hides the recogniser's
        commit latency on every turn.
        """
        if not self.enabled or not partial.strip() or self._this_turn >= self.max_per_turn:
            return None
        if self.current is not None and same_words(self.current.text, partial):
            return None
        needed = max(self.silence_ms, turn_silence_ms / 2.0)
        if not turn_ended and (partial_age_ms + 1e-6 < self.stable_ms or silence_ms + 1e-6 < needed):
            return None
        self._next_id += 1
        self._this_turn += 1
        self.started += 1
        self.current = Speculation(self._next_id, partial, now)
        return self.current

    def discard(self) -> Speculation | None:
        """Drop the running speculation (caller resumed, words changed); returns it if any."""
        dropped, self.current = self.current, None
        if dropped is not None:
            self.discarded += 1
        return dropped

    def confirm(self, final: str) -> tuple[Speculation | None, Speculation | None]:
        """The committed transcript arrived: returns (adopted, discarded); at most one is set."""
        current, self.current = self.current, None
        self._this_turn = 0
        if current is None:
            return None, None
        if same_words(current.text, final):
            self.adopted += 1
            return current, None
        self.discarded += 1
        return None, current

    def new_turn(self) -> None:
        """A caller turn ended without a reply (empty transcript): reset the per-turn cap."""
        self._this_turn = 0
