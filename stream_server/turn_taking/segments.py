"""One caller turn assembled from the recogniser's committed segments, and the silence that ends it.

We commit the recogniser at the caller's first short pause (`commit_silence_ms`), so the final
words arrive while we are still listening instead of after the end of turn. If the caller goes
on, the next segment belongs to the same turn: `CallerTurnText` keeps the committed texts of the
open turn (one transcript entry and one LLM message when it ends), counts the commits still
waiting for their final, and recognises finals that arrive after the turn moved on (a commit the
recogniser left unanswered past `final_timeout_ms` is given up; its late final is discarded).

`turn_silence_ms` judges the end of turn on the committed words of the whole turn once they cover
everything the caller said; until then a clearly complete partial may shorten the wait, but a
partial never lengthens it (partials trail the audio and usually stop a word or two short).

Pure: no clock, no I/O; times are seconds on the caller's clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stream_server.turn_taking.end_of_turn import Completeness, EndOfTurnSettings, judge_completeness
from stream_server.turn_taking.end_of_turn import silence_needed_ms as _silence_for_text

__all__ = ["CallerTurnText", "SegmentSettings", "turn_silence_ms"]

# Finals of given-up commits are expected this long at most; after that none is discarded any more.
_ABANDONED_FINAL_S = 10.0


@dataclass(frozen=True, slots=True)
class SegmentSettings:
    """Attributes:
    commit_silence_ms: a pause this long after caller speech commits the recogniser's segment.
    final_timeout_ms: a commit with no final this long after it is given up (best partial used).
    """

    commit_silence_ms: int = 200
    final_timeout_ms: int = 2000


class CallerTurnText:
    """The committed words of the caller's current turn and the commits awaiting their finals."""

    __slots__ = ("_abandoned", "_abandoned_at", "_pending", "segments", "voiced_since_commit")

    def __init__(self) -> None:
        self.segments: list[str] = []
        self.voiced_since_commit = False
        self._pending: deque[float] = deque()
        self._abandoned = 0
        self._abandoned_at = 0.0

    @property
    def text(self) -> str:
        """The whole turn so far, segments joined."""
        return " ".join(self.segments)

    @property
    def awaiting_final(self) -> bool:
        return bool(self._pending)

    @property
    def up_to_date(self) -> bool:
        """The committed text covers everything the caller said (no voice since, no final missing)."""
        return not self._pending and not self.voiced_since_commit

    def heard_speech(self) -> None:
        self.voiced_since_commit = True

    def should_commit(self, silence_ms: float, settings: SegmentSettings) -> bool:
        """Commit now: the caller spoke since the last commit and has paused long enough."""
        return self.voiced_since_commit and silence_ms + 1e-6 >= settings.commit_silence_ms

    def committed(self, now: float) -> None:
        """A commit was sent at `now`."""
        self._pending.append(now)
        self.voiced_since_commit = False

    def on_final(self, text: str, now: float) -> bool:
        """A committed transcript arrived. True if it belongs to this turn (and was added).

        Finals come in commit order, so one answering a commit already given up is the next to
        arrive: it is stale (False), its turn has moved on. A final with no commit outstanding is
        the recogniser's own commit (Scribe auto-commits long segments): the caller's words.
        """
        if self._abandoned and now - self._abandoned_at > _ABANDONED_FINAL_S:
            self._abandoned = 0
        if self._abandoned:
            self._abandoned -= 1
            return False
        if self._pending:
            self._pending.popleft()
        text = text.strip()
        if text:
            self.segments.append(text)
        return True

    def drop_last(self) -> None:
        """The last segment was not the caller taking the floor (a false interruption's mumble)."""
        if self.segments:
            self.segments.pop()

    def overdue(self, now: float, settings: SegmentSettings) -> bool:
        """The oldest commit has waited longer than `final_timeout_ms` for its final."""
        return bool(self._pending) and (now - self._pending[0]) * 1000.0 + 1e-6 >= settings.final_timeout_ms

    def give_up(self, best_partial: str, now: float) -> None:
        """Stop waiting for the outstanding finals; the best partial stands in for them."""
        self._abandoned += len(self._pending)
        self._abandoned_at = now
        self._pending.clear()
        if best_partial.strip():
            self.segments.append(best_partial.strip())

    def clear(self) -> None:
        """The turn was answered (or dropped): start the next one empty."""
        self.segments = []


def turn_silence_ms(
    turn: CallerTurnText,
    *,
    partial: str,
    partial_fresh: bool,
    base_ms: int,
    settings: EndOfTurnSettings,
) -> int:
    """Silence (ms) after the caller's last voice that ends the turn.

    Once the committed text covers all the caller said, its words decide (complete → the minimum,
    a trailing "for"/"and" → up to the maximum). Before that the persona's base applies, shortened
    to the minimum by a partial that is clearly complete and newer than the last voiced audio
    (`partial_fresh`): a partial never lengthens the wait.
    """
    if not settings.semantic:
        return base_ms
    if turn.up_to_date and turn.segments:
        return _silence_for_text(turn.text, base_ms=base_ms, settings=settings)
    if partial_fresh and partial.strip():
        words = f"{turn.text} {partial}".strip()
        if judge_completeness(words) is Completeness.COMPLETE:
            return min(base_ms, settings.min_silence_ms)
    return base_ms
