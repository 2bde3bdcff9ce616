"""When a call must disclose, what it says, and how recording follows consent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from callcore.calls import build_dial_request
from callcore.disclosure import (
    DEFAULT_AI_DISCLOSURE,
    RECORDING_CONSENT_QUESTION,
    RECORDING_NOTICE,
    is_campaign_call,
    opening_disclosure,
)
from callcore.models import Persona
from callcore.personas import PersonaError, parse_persona
from callcore.variables import fill_persona, placeholders

from tests.factories import call_record

PERSONA = Persona(persona_id="p", name="Ada", voice_id="v", prompt="Be nice.", greeting="Hello!")
AI = DEFAULT_AI_DISCLOSURE.format(name="Ada")


def test_a_plain_call_need_not_disclose_but_campaign_and_recorded_calls_always_do() -> None:
    assert opening_disclosure(PERSONA, campaign_call=False) is None
    assert opening_disclosure(PERSONA, campaign_call=True) == AI
    assert (
        opening_disclosure(replace(PERSONA, record=True), campaign_call=False) == f"{AI} {RECORDING_NOTICE}"
    )
    asks = replace(PERSONA, record=True, recording_consent=True)
    assert opening_disclosure(asks, campaign_call=True) == f"{AI} {RECORDING_CONSENT_QUESTION}"


def test_a_persona_rewords_the_ai_sentence_but_cannot_drop_the_recording_one() -> None:
    own = replace(PERSONA, disclosure="You're talking to Ada, a virtual assistant from the clinic.")
    assert opening_disclosure(own, campaign_call=False) == own.disclosure
    recorded = replace(own, record=True)
    assert opening_disclosure(recorded, campaign_call=False) == f"{own.disclosure} {RECORDING_NOTICE}"


def test_campaign_calls_are_told_by_their_metadata() -> None:
    assert is_campaign_call({"campaign_id": "c1", "campaign_row": 3})
    assert (
        not is_campaign_call({}) and not is_campaign_call(None) and not is_campaign_call({"campaign_id": 1})
    )


def _fields(**overrides: Any) -> dict[str, Any]:
    return {"voice_id": "v1", "prompt": "Be nice.", "greeting": "Hello!", **overrides}


def test_persona_fields_are_validated() -> None:
    p = parse_persona(_fields(record=True, recording_consent=True, disclosure=" AI here. "), persona_id="a")
    assert p.recording_consent and p.disclosure == "AI here."
    assert p.to_json()["recording_consent"] is True and p.to_json()["disclosure"] == "AI here."
    assert parse_persona(_fields(), persona_id="a").disclosure is None
    with pytest.raises(PersonaError, match="'recording_consent' needs 'record'"):
        parse_persona(_fields(recording_consent=True), persona_id="a")
    with pytest.raises(PersonaError, match="'disclosure' must not be empty"):
        parse_persona(_fields(disclosure="  "), persona_id="a")
    with pytest.raises(PersonaError, match="'disclosure' must be at most 500"):
        parse_persona(_fields(disclosure="x" * 501), persona_id="a")


def test_the_disclosure_takes_placeholders_like_the_greeting() -> None:
    p = replace(PERSONA, disclosure="Hi {{first_name}}, I'm an AI assistant.")
    assert placeholders(p) == {"first_name"}
    assert fill_persona(p, {"first_name": "Ann"}).disclosure == "Hi Ann, I'm an AI assistant."


def test_a_consent_persona_does_not_record_from_the_dial() -> None:
    record = call_record()
    base = "https://api.example.com"
    recorded = build_dial_request(record, replace(PERSONA, record=True), base_url=base)
    assert recorded["record"] is True and recorded["recording_channels"] == "dual"
    asks = build_dial_request(record, replace(PERSONA, record=True, recording_consent=True), base_url=base)
    assert "record" not in asks and "recording_status_callback" not in asks
