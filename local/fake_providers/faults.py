"""The fault-injection switch shared by the fakes: a per-request schedule of failures.

Every fake keeps a queue of what its next requests meet, one entry each, in order ("ok" lets one
through), so a test or a person at the local stack can fail exactly the Nth commit or reply:

    python -m local.fake_providers --faults "stt_commit=ok,normal_close;llm=http_500"
    curl -X POST localhost:8790/_fake/faults -d '{"stt_commit": ["commit_throttled"]}'

Queues: ``stt_session`` (how the next Scribe sockets open), ``stt_commit`` (what the next commits
meet, counted over all sessions), ``tts`` (the next TTS requests), ``llm`` (the next chat
requests). An unknown queue or fault is refused with the list of known ones, never ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from local.fake_providers.cerebras import CEREBRAS_FAULTS, FakeCerebras
from local.fake_providers.elevenlabs import STT_COMMIT_FAULTS, STT_SESSION_FAULTS, TTS_FAULTS, FakeElevenLabs

__all__ = ["FAULT_QUEUES", "FaultSpecError", "apply_faults", "install_fault_control", "parse_fault_spec"]

FAULT_QUEUES: Mapping[str, tuple[str, ...]] = {
    "stt_session": STT_SESSION_FAULTS,
    "stt_commit": STT_COMMIT_FAULTS,
    "tts": TTS_FAULTS,
    "llm": CEREBRAS_FAULTS,
}


class FaultSpecError(ValueError):
    """A fault schedule names a queue or a fault the fakes do not have."""


def parse_fault_spec(spec: str) -> dict[str, list[str]]:
    """``"stt_commit=ok,normal_close;llm=http_500"`` -> ``{"stt_commit": [...], "llm": [...]}``."""
    schedule: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        queue, sep, faults = part.partition("=")
        if not sep:
            raise FaultSpecError(f"{part!r} is not queue=fault,fault,...")
        schedule.setdefault(queue.strip(), []).extend(f.strip() for f in faults.split(",") if f.strip())
    validate(schedule)
    return schedule


def validate(schedule: Mapping[str, Any]) -> None:
    for queue, faults in schedule.items():
        known = FAULT_QUEUES.get(queue)
        if known is None:
            raise FaultSpecError(f"unknown fault queue {queue!r}: use one of {', '.join(FAULT_QUEUES)}")
        if not isinstance(faults, Sequence) or isinstance(faults, str):
            raise FaultSpecError(f"{queue}: expected a list of faults")
        for fault in faults:
            if fault not in known:
                raise FaultSpecError(f"{queue}: unknown fault {fault!r}: use one of {', '.join(known)}")


def apply_faults(
    schedule: Mapping[str, Sequence[str]], *, eleven: FakeElevenLabs | None, cerebras: FakeCerebras | None
) -> None:
    """Append each queue's faults to the fake that owns it (validated first)."""
    validate(schedule)
    for queue, faults in schedule.items():
        if queue == "stt_session" and eleven is not None:
            eleven.inject_stt(*faults)  # type: ignore[arg-type]
        elif queue == "stt_commit" and eleven is not None:
            eleven.inject_stt_commit(*faults)  # type: ignore[arg-type]
        elif queue == "tts" and eleven is not None:
            eleven.inject_tts(*faults)  # type: ignore[arg-type]
        elif queue == "llm" and cerebras is not None:
            cerebras.inject(*faults)  # type: ignore[arg-type]


def install_fault_control(
    app: web.Application, *, eleven: FakeElevenLabs | None, cerebras: FakeCerebras | None
) -> None:
    """``POST /_fake/faults`` with a JSON object of queues -> lists: 204, or 400 saying what is wrong."""

    async def set_faults(request: web.Request) -> web.Response:
        try:
            schedule = await request.json()
            if not isinstance(schedule, dict):
                raise FaultSpecError("the body must be a JSON object of queue -> list of faults")
            apply_faults(schedule, eleven=eleven, cerebras=cerebras)
        except (json.JSONDecodeError, FaultSpecError) as error:
            return web.json_response({"message": str(error)}, status=400)
        return web.Response(status=204)

    app.router.add_post("/_fake/faults", set_faults)
