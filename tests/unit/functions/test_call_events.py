"""The table-stream handler: a batch of changes that start no outcome job is still a clean invocation.

Most changes on the calls table (persona writes, slot counters, turns) start nothing. Powertools
warns "No application metrics to publish" on every invocation that added no metric, which in AWS
is one log line of noise per stream batch; the handler reports its count, zero included.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest


def _stream_event(*images: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {"eventName": "MODIFY", "dynamodb": {"NewImage": image, "SequenceNumber": str(n)}}
            for n, image in enumerate(images, start=1)
        ]
    }


def test_a_batch_that_queues_nothing_publishes_a_zero_count_and_no_warning(
    handler_env: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    module = handler_env("call_events")
    persona_change = {"PK": {"S": "PERSONA#p1"}, "SK": {"S": "META"}, "entity": {"S": "persona"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Powertools warning would fail the invocation here
        result = module.lambda_handler(_stream_event(persona_change), lambda_context)
    assert result == {"batchItemFailures": []}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [doc["OutcomeJobsQueued"] for doc in emf] == [[0.0]]
