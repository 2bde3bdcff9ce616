"""The call's transcript: caller and assistant turns, numbered in order, with their latencies.

An assistant turn records only what the caller heard (from Twilio's marks); the conductor puts the
same words in the model's history, so the model never argues with a sentence nobody heard.
Sans I/O: turns are returned for the shell to store.
"""

from __future__ import annotations

from collections.abc import Mapping

from callcore.models import TranscriptTurn

from stream_server.conversation.actions import RecordMetric, ReplyOutcome
from stream_server.telephony.playback import Utterance

__all__ = ["Transcript"]


class Transcript:
    """Numbered turns on wall-clock time (monotonic times + ``epoch_offset``)."""

    def __init__(self, epoch_offset: float) -> None:
        self.epoch_offset = epoch_offset
        self.turns: list[TranscriptTurn] = []

    def _wall(self, t: float) -> float:
        return round(t + self.epoch_offset, 3)

    def caller(self, text: str, onset: float, last: float, latency: Mapping[str, float]) -> TranscriptTurn:
        turn = TranscriptTurn(
            index=len(self.turns),
            role="caller",
            text=text,
            started_at=self._wall(onset),
            ended_at=self._wall(last),
            latency_ms=dict(latency),
        )
        self.turns.append(turn)
        return turn

    def assistant(
        self,
        utterance: Utterance,
        *,
        started_at: float,
        now: float,
        interrupted: bool,
        caller_latency: Mapping[str, float],
        outcome: ReplyOutcome | None,
    ) -> tuple[TranscriptTurn, str, list[RecordMetric]]:
        """The bot's finished utterance as a turn; also what was heard and the latency metrics."""
        heard = utterance.heard_text()
        latency = dict(caller_latency)
        metrics: list[RecordMetric] = []
        if outcome is not None:
            latency.update(outcome.latency_ms)
            metrics += [RecordMetric(f"Latency_{stage}", ms) for stage, ms in outcome.latency_ms.items()]
            if outcome.provider_errors:
                metrics.append(RecordMetric("ProviderErrors", len(outcome.provider_errors), "Count"))
        metrics += [
            RecordMetric(f"Latency_{stage}", caller_latency[stage])
            for stage in ("end_of_turn", "stt")
            if stage in caller_latency
        ]
        text = heard if heard or interrupted else " ".join(utterance.sentences)
        turn = TranscriptTurn(
            index=len(self.turns),
            role="assistant",
            text=text,
            started_at=self._wall(started_at),
            ended_at=self._wall(now),
            interrupted=interrupted,
            latency_ms=latency,
        )
        self.turns.append(turn)
        return turn, heard, metrics
