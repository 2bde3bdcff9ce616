"""When does speech over the bot stop it, and when was stopping it a mistake?

The turn detector reports a *candidate* barge-in once one run of caller speech over the bot has
lasted ``barge_in_ms``. This module turns candidates into decisions, using words when the
recogniser gives them:

* words that take the floor ("no wait", "actually...") interrupt at once;
* words that are only a backchannel ("uh-huh", "okay", "I see") never do;
* no words yet: a caller still speaking ``barge_in_words_grace_ms`` after the candidate's
  ``barge_in_ms`` (both counted from the onset of their speech) interrupts anyway (partials
  trail the audio by a few hundred ms, and a backchannel is rarely that long);
  short pauses ("Sorry, [pause] actually...") do not cancel the candidate, a silence of
  ``candidate_gap_ms`` does (it was noise, or a backchannel that ended);
* words that take the floor while the caller talks over the bot interrupt even when the candidate
  was dropped (its run ended at a comma, say, before the words caught up).

Without partial transcripts (an engine that gives none) the candidate interrupts on voice alone.

After an interruption made without words, the judge watches for a *false* interruption: no
floor-taking words within ``false_interruption_ms`` (or a committed transcript that is empty or a
backchannel) means the bot should pick up again and re-say the sentence it was cut in, rather than
leave the caller in silence.

Pure state machine: fed times, partial texts and frame facts; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stream_server.turn_taking.backchannel import OverlapVerdict, judge_overlap

__all__ = ["InterruptionJudge", "InterruptionSettings", "Verdict"]


class Verdict(Enum):
    WAIT = "wait"  # nothing to do yet
    INTERRUPT = "interrupt"  # stop the bot now
    IGNORE = "ignore"  # the overlap was a backchannel or noise: let the bot go on
    RESUME = "resume"  # the interruption was false: re-say the cut sentence


@dataclass(frozen=True, slots=True)
class InterruptionSettings:
    barge_in_ms: int = 240
    barge_in_words_grace_ms: int = 250
    false_interruption_ms: int = 900
    quiet_before_resume_ms: int = 200
    candidate_gap_ms: int = 250


class InterruptionJudge:
    """Decisions about one call's overlapping speech. Times are seconds on the audio clock."""

    def __init__(self, settings: InterruptionSettings) -> None:
        self.settings = settings
        self.words_available = False
        self._candidate_onset: float | None = None
        self._cut_at: float | None = None
        self._cut_with_words = False
        # Where the speech behind the latest interruption began (None: not known here).
        self.cut_onset: float | None = None
        self.false_interruptions = 0

    @property
    def pending(self) -> bool:
        """A candidate barge-in is waiting for words."""
        return self._candidate_onset is not None

    @property
    def watching(self) -> bool:
        """An interruption happened and may still turn out to be false."""
        return self._cut_at is not None

    def saw_words(self) -> None:
        """The recogniser produced a partial: from now on barge-in waits for words."""
        self.words_available = True

    def on_candidate(self, onset_at: float, overlap_text: str, now: float) -> Verdict:
        """The detector saw ``barge_in_ms`` of speech over the bot (starting at ``onset_at``)."""
        if not self.words_available:
            return self._interrupt(now, with_words=False, onset=onset_at)
        verdict = judge_overlap(overlap_text)
        if verdict is OverlapVerdict.TAKES_FLOOR:
            return self._interrupt(now, with_words=True, onset=onset_at)
        if verdict is OverlapVerdict.BACKCHANNEL:
            return Verdict.IGNORE
        self._candidate_onset = onset_at
        return Verdict.WAIT

    def on_partial(self, text: str, now: float, *, overlapping: bool = False) -> Verdict:
        """A new partial transcript. ``overlapping``: the caller is talking over the bot right now."""
        verdict = judge_overlap(text)
        if self._candidate_onset is None and self._cut_at is None and overlapping:
            # The candidate ended at a pause before the words caught up: the words decide now.
            return (
                self._interrupt(now, with_words=True, onset=None)
                if verdict is OverlapVerdict.TAKES_FLOOR
                else Verdict.WAIT
            )
        if self._candidate_onset is not None:
            if verdict is OverlapVerdict.TAKES_FLOOR:
                return self._interrupt(now, with_words=True, onset=self._candidate_onset)
            if verdict is OverlapVerdict.BACKCHANNEL:
                self._candidate_onset = None
                return Verdict.IGNORE
        elif self._cut_at is not None and verdict is OverlapVerdict.TAKES_FLOOR:
            self._cut_at = None  # the caller really has the floor
        return Verdict.WAIT

    def on_frame(self, now: float, *, run_voiced_ms: float, silence_ms: float) -> Verdict:
        """Every inbound frame: grace expiry for a candidate, timeout for a cut."""
        s = self.settings
        if self._candidate_onset is not None:
            if silence_ms + 1e-6 >= s.candidate_gap_ms:
                self._candidate_onset = None  # the speech ended without words: noise or a backchannel
                return Verdict.IGNORE
            speaking_now = run_voiced_ms > 0.0 and silence_ms <= 20.0 + 1e-6
            # Counted from the speech's onset, not from the candidate: frames the echo check took for
            # the bot's voice delay the candidate, never the caller's wait.
            spoken_ms = (now - self._candidate_onset) * 1000.0 + 1e-6
            if speaking_now and spoken_ms >= s.barge_in_ms + s.barge_in_words_grace_ms:
                return self._interrupt(now, with_words=False, onset=self._candidate_onset)
        if (
            self._cut_at is not None
            and self.words_available
            and not self._cut_with_words
            and (now - self._cut_at) * 1000.0 + 1e-6 >= s.false_interruption_ms
            and silence_ms + 1e-6 >= s.quiet_before_resume_ms
        ):
            return self._resume()
        return Verdict.WAIT

    def on_final(self, text: str) -> Verdict:
        """The committed transcript of the overlapping speech: the last word on a cut."""
        if self._cut_at is None:
            return Verdict.WAIT
        if judge_overlap(text) is OverlapVerdict.TAKES_FLOOR:
            self._cut_at = None
            return Verdict.WAIT
        return self._resume()

    def forget(self) -> None:
        """The bot stopped for another reason (the caller's turn, a goodbye): drop open cases."""
        self._candidate_onset = None
        self._cut_at = None

    def _interrupt(self, now: float, *, with_words: bool, onset: float | None) -> Verdict:
        self.cut_onset = onset
        self._candidate_onset = None
        self._cut_at = now
        self._cut_with_words = with_words
        return Verdict.INTERRUPT

    def _resume(self) -> Verdict:
        self._cut_at = None
        self.false_interruptions += 1
        return Verdict.RESUME
