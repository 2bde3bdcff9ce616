"""The outcomes queue (SQS): send a job now or later; the dead-letter queue for given-up deliveries.

``AWS_ENDPOINT_URL_SQS`` points the client at the local stack's queues (moto), as
``DYNAMODB_ENDPOINT`` does for the table.
"""

from __future__ import annotations

from typing import Any

from callcore.aws_session import aws_client

__all__ = ["JobQueue"]


class JobQueue:
    """One SQS queue by URL; the botocore client is built on first use."""

    def __init__(self, url: str, *, region: str) -> None:
        self.url = url
        self._region = region
        self._client: Any = None

    def _sqs(self) -> Any:
        if self._client is None:
            self._client = aws_client("sqs", region_name=self._region)
        return self._client

    def send(self, body: str, *, delay_seconds: int = 0) -> None:
        self._sqs().send_message(
            QueueUrl=self.url, MessageBody=body, DelaySeconds=max(0, min(900, delay_seconds))
        )
