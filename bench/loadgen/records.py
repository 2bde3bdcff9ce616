"""What our stream host needs in DynamoDB before Twilio connects: a persona, a call record, a token.

Done through the product's own repository and token code, as the answer webhook would, so the
host's per-call checks (token signature, single use, call lookup) run exactly as in production.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from callcore.models import CallRecord, CallStatus, Persona
from callcore.repository import CallRepository
from callcore.tokens import issue_stream_token

__all__ = ["BENCH_GREETING", "bench_persona", "register_call"]

BENCH_GREETING = "Hello, how can I help?"


def bench_persona(persona_id: str = "bench", *, end_of_turn_silence_ms: int = 700) -> Persona:
    return Persona(
        persona_id=persona_id,
        name="Bench",
        voice_id="benchVoice0000000001",  # shaped like an ElevenLabs id: the fake refuses others
        prompt="Be brief.",
        greeting=BENCH_GREETING,
        end_of_turn_silence_ms=end_of_turn_silence_ms,
        idle_timeout_seconds=30,
    )


def register_call(table: Any, secret: str, *, call_sid: str, persona_id: str) -> dict[str, str]:
    """Store an in-progress call for `call_sid` and return the `<Parameter>`s its TwiML would carry."""
    repository = CallRepository(table)
    call_id = uuid.uuid4().hex
    now = datetime.now(UTC).isoformat()
    repository.create_call(
        CallRecord(
            call_id=call_id,
            user_id="bench",
            to_number="+15555550100",
            from_number="+15555550199",
            persona_id=persona_id,
            status=CallStatus.IN_PROGRESS,
            created_at=now,
            updated_at=now,
            call_sid=call_sid,
        )
    )
    repository.link_call_sid(call_id, call_sid)
    token = issue_stream_token(secret, call_id=call_id, call_sid=call_sid, now=time.time())
    return {"call_id": call_id, "token": token, "persona_id": persona_id}
