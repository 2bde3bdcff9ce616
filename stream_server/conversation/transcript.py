"""What was said on the call: numbered turns for the record, and the model's history of them.

An assistant turn records only what the caller heard (from Twilio's marks), and the model's
history gets the same words, so the model never argues with a sentence nobody heard.
Sans I/O: turns are returned as `PersistTurn` actions for the shell to store.
"""

from __future__ import annotations

from collections.abc import Mapping

from callcore.models import TranscriptTurn

from stream_server.conversation.actions import Action, PersistTurn, RecordMetric
from stream_server.conversation.utterance import Speaking
from stream_server.providers.base import ChatMessage

__all__ = ["Transcript"]


class Transcript:
    """Numbered turns on wall-clock time (monotonic times + ``epoch_offset``), and ``history``,
    the conversation as the language model is told it."""

    def __init__(self, epoch_offset: float) -> None:
        self.epoch_offset = epoch_offset
        self.turns: list[TranscriptTurn] = []
        self.history: list[ChatMessage] = []

    def _wall(self, t: float) -> float:
        return round(t + self.epoch_offset, 3)

    def begin(self, prompt: str) -> None:
        """The conversation starts: the model's history is the persona's prompt."""
        self.history = [ChatMessage("system", prompt)]

    def caller(
        self, text: str, onset: float, last: float, latency: Mapping[str, float], *, said: str | None = None
    ) -> PersistTurn:
        """The caller's turn, stored as ``text``; the model is told ``said`` (None: the same words)."""
        turn = TranscriptTurn(
            index=len(self.turns),
            role="caller",
            text=text,
            started_at=self._wall(onset),
            ended_at=self._wall(last),
            latency_ms=dict(latency),
        )
        self.turns.append(turn)
        self.history.append(ChatMessage("user", text if said is None else said))
        return PersistTurn(turn)

    def assistant(self, speaking: Speaking, *, now: float, interrupted: bool) -> list[Action]:
        """The bot's finished utterance as a turn to store, with its latency metrics; the model
        remembers only what the caller heard of it."""
        utterance, caller_latency, outcome = speaking.utterance, speaking.caller_latency, speaking.outcome
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
            started_at=self._wall(speaking.started_at),
            ended_at=self._wall(now),
            interrupted=interrupted,
            latency_ms=latency,
        )
        self.turns.append(turn)
        if heard:
            self.history.append(ChatMessage("assistant", heard))
        return [PersistTurn(turn), *metrics]
