"""The dial queue on SQS: the scheduler's messages to the dialer Lambda.

A standard queue (at-least-once, unordered) is enough: the dialer's conditional claim makes a
second delivery harmless, and order does not matter because the scheduler decides who is due.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callcore.aws_session import aws_client
from callcore.campaign_engine import DialMessage
from callcore.settings import Settings

__all__ = ["SqsDialQueue"]

_SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries


class SqsDialQueue:
    """Sends ``DialMessage``s in batches of ten; a refused entry raises (the scheduler retries)."""

    def __init__(self, queue_url: str, client_factory: Callable[[], Any]) -> None:
        self.queue_url = queue_url
        self._factory = client_factory
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SqsDialQueue:
        if not settings.campaign_queue_url:
            raise RuntimeError("CAMPAIGN_QUEUE_URL is not set")
        return cls(
            settings.campaign_queue_url,
            lambda: aws_client("sqs", region_name=settings.aws_region),
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def send(self, messages: list[DialMessage]) -> None:
        for start in range(0, len(messages), _SQS_BATCH):
            chunk = messages[start : start + _SQS_BATCH]
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": m.to_body()} for i, m in enumerate(chunk)],
            )
            failed = response.get("Failed") or []
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} dial message(s): {failed[0].get('Code')}")
