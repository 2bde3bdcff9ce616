"""The stream token binds the persona: an unsigned ``persona_id`` parameter cannot swap it."""

from __future__ import annotations

import dataclasses
import time

from callcore.tokens import issue_stream_token

from tests.unit.stream_server.conftest import PERSONA, SECRET, Host
from tests.unit.stream_server.test_stream_host import greeted

IMPOSTOR = dataclasses.replace(PERSONA, persona_id="impostor", greeting="I am somebody else entirely.")


async def test_the_token_persona_wins_over_an_unsigned_parameter(host: Host) -> None:
    host.repository.put_persona(IMPOSTOR)
    call_id, call_sid, params = host.new_call(persona_id=PERSONA.persona_id)
    token = issue_stream_token(
        SECRET, call_id=call_id, call_sid=call_sid, now=time.time(), persona_id=PERSONA.persona_id
    )
    call = await host.connect()
    await call.start(call_sid, {**params, "token": token, "persona_id": "impostor"})
    await greeted(call)
    assert PERSONA.greeting in host.tts.texts and IMPOSTOR.greeting not in host.tts.texts
    await call.stop(call_sid)


async def test_without_a_persona_claim_the_call_record_decides(host: Host) -> None:
    host.repository.put_persona(IMPOSTOR)
    _call_id, call_sid, params = host.new_call(persona_id=PERSONA.persona_id)
    call = await host.connect()
    await call.start(call_sid, {**params, "persona_id": "impostor"})
    await greeted(call)
    assert PERSONA.greeting in host.tts.texts and IMPOSTOR.greeting not in host.tts.texts
    await call.stop(call_sid)
