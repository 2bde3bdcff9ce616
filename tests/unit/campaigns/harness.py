"""A campaign engine on moto with a fixed clock: submit, schedule, dial and end calls by hand.

Calls go through the real ``callcore.calls.place_call`` (records, slots, idempotency); only the
Twilio request is replaced by ``dial``, which records what would have been sent. Ending a call goes
through ``callcore.status.apply_call_callback`` and then ``record_call_outcome``, exactly what the
status webhook does.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcore.campaign_engine import DialMessage, dial_from_message, record_call_outcome, schedule_campaigns
from callcore.campaign_repository import CampaignRepository
from callcore.campaign_submission import SubmittedCampaign, submit_campaign
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.status import apply_call_callback

from tests.factories import persona

# A persona whose words need each recipient's variables.
PERSONA = persona(persona_id="reminder", prompt="Remind {{name}} at {{time}}.", greeting="Hello {{name}}!")


@dataclass
class ListQueue:
    """The dial queue as a list (SQS itself is tested in test_campaign_queue)."""

    messages: list[DialMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, messages: list[DialMessage]) -> None:
        with self.lock:
            self.messages.extend(messages)

    def drain(self) -> list[DialMessage]:
        with self.lock:
            out, self.messages = self.messages, []
        return out


@dataclass
class Dialled:
    to: str
    call_id: str
    sid: str
    at: datetime


class CampaignHarness:
    def __init__(self, table: Any, *, key_limit: int = 5) -> None:
        self.calls = CallRepository(table)
        self.campaigns = CampaignRepository(table)
        self.calls.put_persona(PERSONA)
        self.settings = Settings(
            max_concurrent_calls_per_user=key_limit,
            public_api_url="https://api.example.com",
            stream_public_url="wss://stream.example.com/media",
            webhook_allow_loopback_http=True,
        )
        self.queue = ListQueue()
        self.dialled: list[Dialled] = []
        self.on_dial: Callable[[Dialled], None] | None = None  # called as Twilio accepts each call
        self._sids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, body: dict[str, Any], *, now: datetime, user: str = "u1") -> SubmittedCampaign:
        return submit_campaign(
            calls=self.calls,
            campaigns=self.campaigns,
            settings=self.settings,
            user_id=user,
            content_type="application/json",
            body=json.dumps(body),
            query={},
            now=now,
        )

    def schedule(self, now: datetime) -> list[DialMessage]:
        schedule_campaigns(self.campaigns, self.calls, self.queue, now=now)
        return self.queue.drain()

    def dial(self, message: DialMessage, now: datetime) -> str:
        def send(kwargs: dict[str, Any]) -> str:
            sid = f"CA{next(self._sids):032x}"
            call_id = kwargs["url"].rsplit("/", 1)[-1]
            dialled = Dialled(kwargs["to"], call_id, sid, now)
            with self._lock:
                self.dialled.append(dialled)
            if self.on_dial is not None:
                self.on_dial(dialled)
            return sid

        return dial_from_message(
            message,
            campaigns=self.campaigns,
            calls=self.calls,
            settings=self.settings,
            base_url="https://api.example.com",
            now=now,
            dial=send,
        )

    def end_call(
        self, call_id: str, status: str, now: datetime, *, answered_by: str | None = None
    ) -> str | None:
        """Twilio's final callback for the call, then what the status webhook does with it."""
        form = {"CallStatus": status, "CallDuration": "3"}
        if answered_by:
            form["AnsweredBy"] = answered_by
        outcome = apply_call_callback(self.calls, call_id, form, now=now)
        assert outcome.outcome == "applied", outcome
        record = self.calls.get_call(call_id)
        assert record is not None
        return record_call_outcome(self.campaigns, self.calls, self.queue, record, now=now)
