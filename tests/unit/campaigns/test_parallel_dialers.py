"""The concurrency cap under parallel dialers, against the local stack's DynamoDB (moto server,
one request at a time like DynamoDB's per-request atomicity), with every message delivered twice.

Eight dialer threads race for messages; "Twilio" ends each call a little later on another thread,
through the same outcome path as the status webhook, which refills the freed slot. The test counts
calls that are up at any moment from the phone side, independently of the engine's counters.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from callcore.campaign_engine import DialMessage

from local.storage import LocalStorage
from tests.unit.campaigns.harness import CampaignHarness, Dialled

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
MAX_CONCURRENT = 3
RECIPIENTS = 40


@pytest.fixture
def served_table(aws_env: None) -> Iterator[Any]:
    storage = LocalStorage(ROOT / "template.yaml", "campaign-race", None)  # one request at a time
    storage.start()
    try:
        yield boto3.resource("dynamodb", endpoint_url=storage.endpoint, region_name="us-east-1").Table(
            "campaign-race"
        )
    finally:
        storage.stop()


def test_cap_holds_and_each_attempt_dials_once_under_parallel_dialers(served_table: Any) -> None:
    harness = CampaignHarness(served_table, key_limit=MAX_CONCURRENT)
    numbers = [f"+1212555{n:04d}" for n in range(1000, 1000 + RECIPIENTS)]
    body = {
        "persona_id": "reminder",
        "max_concurrent": MAX_CONCURRENT,
        "retry": {"busy": 0, "no_answer": 0},
        "recipients": [{"to": n, "variables": {"name": "A", "time": "1"}} for n in numbers],
    }
    campaign_id = harness.submit(body, now=NOW).campaign.campaign_id

    started = time.monotonic()

    def clock() -> datetime:
        """One real second is a simulated minute: slot waits and refills play out quickly."""
        return NOW + timedelta(minutes=time.monotonic() - started)

    inbox: queue.Queue[DialMessage | None] = queue.Queue()
    ended: queue.Queue[str | None] = queue.Queue()
    up = 0
    most_up = 0
    lock = threading.Lock()
    rng = random.Random(7)

    def deliver(messages: list[DialMessage]) -> None:
        for message in messages:  # SQS at-least-once: every message arrives twice
            inbox.put(message)
            inbox.put(message)

    original_send = harness.queue.send

    def send_twice(messages: list[DialMessage]) -> None:
        original_send(messages)
        deliver(harness.queue.drain())

    harness.queue.send = send_twice  # type: ignore[method-assign]

    def on_dial(dialled: Dialled) -> None:
        nonlocal up, most_up
        with lock:
            up += 1
            most_up = max(most_up, up)
            if up == MAX_CONCURRENT:
                cap_reached.set()
        ended.put(dialled.call_id)

    harness.on_dial = on_dial
    cap_reached = threading.Event()

    def dialer() -> None:
        while (message := inbox.get()) is not None:
            harness.dial(message, clock())

    def phone_network() -> None:
        nonlocal up
        # The first calls stay up until the cap is reached (or long enough to show it never is), so
        # the cap is tested whatever the machine's load does to the threads' timing.
        cap_reached.wait(30)
        while (call_id := ended.get()) is not None:
            time.sleep(rng.uniform(0.0, 0.02))
            with lock:
                up -= 1
            harness.end_call(call_id, rng.choice(["completed", "busy", "no-answer"]), clock())

    threads = [threading.Thread(target=dialer) for _ in range(8)] + [threading.Thread(target=phone_network)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            campaign = harness.campaigns.get(campaign_id)
            assert campaign is not None
            if campaign.unfinished == 0:
                break
            deliver(harness.schedule(clock()))  # the one-minute pass, for anything the refills missed
            time.sleep(0.2)
    finally:
        for _ in range(8):
            inbox.put(None)
        ended.put(None)
        for thread in threads:
            thread.join(30)
    campaign = harness.campaigns.get(campaign_id)
    assert campaign is not None and campaign.unfinished == 0 and campaign.live == 0, campaign.counts
    assert most_up <= MAX_CONCURRENT
    assert most_up == MAX_CONCURRENT  # the cap was actually reached, so it was tested
    per_number = Counter(d.to for d in harness.dialled)
    assert set(per_number) == set(numbers) and set(per_number.values()) == {1}
    assert harness.calls.active_calls("u1") == 0
