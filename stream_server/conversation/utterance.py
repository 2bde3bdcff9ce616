"""The bot utterance in progress: its ledger entry, how it came about, what its reply produced.

`CallState` holds at most one `Speaking` at a time, from the moment it asks for speech (a reply,
a greeting, a goodbye) until the utterance is settled (generated and every mark back, or cut).
Sans I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_server.conversation.actions import ReplyOutcome
from stream_server.telephony.playback import Utterance

__all__ = ["Speaking"]


@dataclass(slots=True)
class Speaking:
    """The bot utterance in progress.

    Attributes:
        kind: what it is (``reply``, ``greeting``, ``goodbye``, ``resume``, ...), for metrics and tests.
        generating: the pipeline may still produce audio for it.
        outcome: what its pipeline produced, as last reported by the shell.
        caller_latency: the waits of the caller turn it answers (stored with the assistant turn).
        filler_considered: a filler was said or is no longer wanted for this reply.
        sentence_offset: a filler played first takes sentence 0; the reply's sentences follow it.
    """

    utterance: Utterance
    kind: str
    started_at: float
    generating: bool = True
    outcome: ReplyOutcome | None = None
    caller_latency: dict[str, float] = field(default_factory=dict)
    filler_considered: bool = False
    sentence_offset: int = 0

    @property
    def settled(self) -> bool:
        """Everything was generated and every mark is back: the utterance is over."""
        return not self.generating and not self.utterance.outstanding

    def place(self, sentence: int, text: str) -> int:
        """The ledger sentence a reply chunk of sentence ``sentence`` (saying ``text``) plays in."""
        utterance = self.utterance
        placed = sentence + self.sentence_offset
        while len(utterance.sentences) <= placed:
            utterance.add_sentence(text)
        if utterance.sentences[placed] != text:
            utterance.sentences[placed] = text  # the apology replaces a cut sentence
        return placed

    def place_filler(self, text: str) -> int:
        """The filler clip goes first, as sentence 0; the reply's own sentences follow it."""
        self.utterance.add_sentence(text)
        self.sentence_offset = 1
        return 0
