"""How a streaming recogniser's transcripts trail the caller's audio: one pure model for every fake.

Real streaming recognisers (Scribe realtime among them) send a partial transcript a few times a
second, each a few hundred milliseconds behind the audio, so when the caller stops the latest
partial usually lacks the last word or two; the committed transcript, sent shortly after a
commit, has every word spoken up to the commit. `ProviderTiming` holds those figures and the
LLM/TTS first-output latencies the providers publish; `TrailingTranscript` applies the
recogniser's part to one caller line whose word end times are known. The fake ElevenLabs server
(`local/fake_providers/elevenlabs.py`) and the replay corpus (`tests/corpus/simulator.py`) both
use it, so `bench/bench_vs_pipecat.py` and `bench/bench_turns.py` measure against the same world.

No I/O, no clock: callers pass times in seconds on their own clock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ProviderTiming", "TrailingTranscript", "word_end_times"]


@dataclass(frozen=True)
class ProviderTiming:
    """Latencies the fakes imitate (milliseconds).

    Attributes:
        partial_every_ms: a partial transcript is considered this often (sent only when its text changed).
        partial_lag_ms: each partial shows the words that ended at least this long ago, drawn uniformly
            from the range per partial.
        final_after_commit_ms: the committed transcript arrives this long after the commit.
        llm_first_token_ms: the LLM's first token after the request.
        tts_first_audio_ms: the TTS's first audio byte after the request.
    """

    partial_every_ms: float = 200.0
    partial_lag_ms: tuple[float, float] = (300.0, 500.0)
    final_after_commit_ms: float = 120.0
    llm_first_token_ms: float = 150.0
    tts_first_audio_ms: float = 150.0

    def partial_lag_s(self, rng: random.Random) -> float:
        low, high = self.partial_lag_ms
        return rng.uniform(low, high) / 1000.0


def word_end_times(text: str, speech_seconds: float) -> list[float]:
    """Each word's end, in seconds after speech onset, spreading `speech_seconds` by word length."""
    words = text.split()
    weights = [len(word) + 1 for word in words]
    total = sum(weights)
    ends: list[float] = []
    done = 0
    for weight in weights:
        done += weight
        ends.append(speech_seconds * done / total)
    return ends


class TrailingTranscript:
    """One caller line as a streaming recogniser hears it.

    A word shows in partials once it ended at least the partial's lag ago; a commit finalises
    every word that ended by the commit (plus `slack_s`, for audio sent with the commit) and not
    finalised before. The line is `done` when all its words have been committed.
    """

    def __init__(self, text: str, word_ends: Sequence[float], onset: float, *, slack_s: float = 0.05) -> None:
        self.words = text.split()
        if len(word_ends) != len(self.words):
            raise ValueError("one end time per word")
        self.ends = [onset + end for end in word_ends]
        self.committed = 0
        self.slack_s = slack_s

    def _ended_by(self, t: float) -> int:
        return sum(1 for end in self.ends if end <= t)

    def partial(self, now: float, lag_s: float) -> str:
        """The uncommitted words a partial at `now` shows."""
        return " ".join(self.words[self.committed : max(self.committed, self._ended_by(now - lag_s))])

    def commit(self, now: float) -> str:
        """Finalise the words spoken by `now`; returns them (empty if none)."""
        upto = max(self.committed, self._ended_by(now + self.slack_s))
        text = " ".join(self.words[self.committed : upto])
        self.committed = upto
        return text

    @property
    def done(self) -> bool:
        return self.committed >= len(self.words)

    @property
    def speech_end(self) -> float:
        return self.ends[-1] if self.ends else 0.0
