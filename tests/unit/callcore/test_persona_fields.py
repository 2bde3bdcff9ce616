"""Every refusal of a persona names its field (``PersonaError.field``, the ``field`` of the 400)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from callcore.personas import PersonaError, parse_persona, seed_personas
from callcore.phone import DialPolicy
from callcore.repository import CallRepository

VALID: dict[str, Any] = {"voice_id": "voice-1", "prompt": "You book visits.", "greeting": "Hello!"}
MISSING = object()  # a field left out of the body


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    """An ``analysis.data`` object schema with these properties, all required (as strict mode asks)."""
    return {"type": "object", "properties": properties, "required": sorted(properties)}


# (what the body changes, the field the refusal names); one row per way parse_persona refuses.
REFUSALS: list[tuple[dict[str, Any], str | None]] = [
    ({"voice_id": MISSING}, "voice_id"),  # required
    ({"prompt": 5}, "prompt"),  # not a string
    ({"greeting": "   "}, "greeting"),  # empty
    ({"name": "x" * 101}, "name"),  # too long
    ({"transfer_message": ""}, "transfer_message"),  # optional text given empty
    ({"voicemail_message": "x" * 1001}, "voicemail_message"),
    ({"max_duration_seconds": "600"}, "max_duration_seconds"),  # not an integer
    ({"idle_timeout_seconds": 1}, "idle_timeout_seconds"),  # out of range
    ({"machine_detection": "yes"}, "machine_detection"),  # not a boolean
    ({"dtmf_sensitive": None}, "dtmf_sensitive"),
    ({"analysis": "yes"}, "analysis"),  # not an object
    ({"analysis": {"summary": False}}, "analysis"),  # asks for nothing: no one member is at fault
    # Nested members: a dotted path with list indexes in brackets, as the campaigns API spells them.
    ({"analysis": {"summary": "yes"}}, "analysis.summary"),
    ({"analysis": {"success": ""}}, "analysis.success"),
    ({"analysis": {"summary": True, "mood": 1}}, "analysis.mood"),  # an unknown member
    ({"analysis": {"data": {"type": "object"}}}, "analysis.data"),
    ({"analysis": {"data": _schema({"x": {"type": "banana"}})}}, "analysis.data.properties.x.type"),
    (
        {"analysis": {"data": _schema({"n": {"type": "integer", "minimum": "0"}})}},
        "analysis.data.properties.n.minimum",
    ),
    (
        {"analysis": {"data": _schema({"w": {"anyOf": [{"type": "string"}, {"type": ["string", "null"]}]}})}},
        "analysis.data.properties.w.anyOf[1]",
    ),  # a list index
    (
        {
            "analysis": {
                "data": _schema({"slot": {"type": "object", "properties": {"day": {"type": "string"}}}})
            }
        },
        "analysis.data.properties.slot",
    ),  # strict mode: every property required
    ({"surprise": 1}, None),  # unknown field(s): no one field of the persona
    ({"persona_id": "other"}, "persona_id"),  # the body disagrees with the URL
    ({"voice_id": "a voice"}, "voice_id"),  # unexpected characters
    ({"language": "en_US"}, "language"),  # not a language tag
    ({"language": "la"}, "language"),  # a tag the call cannot hear and speak
    ({"transfer_number": "12345"}, "transfer_number"),  # not E.164
    ({"transfer_number": "+19005550123"}, "transfer_number"),  # premium rate: the dial policy
    ({"filler_phrases": "um"}, "filler_phrases"),  # not a list
    ({"filler_phrases": [""]}, "filler_phrases[0]"),  # an empty entry
    ({"filler_phrases": ["Hmm.", 7]}, "filler_phrases[1]"),  # not a string
    ({"filler_phrases": ["Hmm.", "One moment {{name}}"]}, "filler_phrases[1]"),  # placeholders in a clip
    ({"recording_consent": True}, "recording_consent"),  # without record
    ({"goodbye": "Bye {{1x}}"}, "goodbye"),  # a malformed placeholder
    ({"disclosure": "This call is {{ recorded"}, "disclosure"),
]


def _body(changes: dict[str, Any]) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {k: v for k, v in body.items() if v is not MISSING}


@pytest.mark.parametrize(
    ("changes", "field"), REFUSALS, ids=[f"{i}-{f}" for i, (_, f) in enumerate(REFUSALS)]
)
def test_each_refusal_names_its_field(changes: dict[str, Any], field: str | None) -> None:
    with pytest.raises(PersonaError) as refused:
        parse_persona(_body(changes), persona_id="sales", dial_policy=DialPolicy())
    assert refused.value.field == field
    if field is not None:  # the message names the same field first, as the 400 shows it
        assert str(refused.value).startswith(f"'{field}")


@pytest.mark.parametrize(
    ("data", "persona_id", "field"),
    [
        ([VALID], "sales", None),
        (VALID, "Not An Id", "persona_id"),
        ({**VALID, "persona_id": "UPPER"}, None, "persona_id"),
    ],
    ids=["not-an-object", "bad-url-id", "bad-body-id"],
)
def test_the_body_and_the_id_name_their_field_too(
    data: object, persona_id: str | None, field: str | None
) -> None:
    with pytest.raises(PersonaError) as refused:
        parse_persona(data, persona_id=persona_id)
    assert refused.value.field == field


def test_a_seed_file_refusal_keeps_the_field(ddb_table: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({**VALID, "persona_id": "bad", "max_idle_prompts": 11}))
    with pytest.raises(PersonaError, match=r"^bad\.json: 'max_idle_prompts'") as refused:
        seed_personas(CallRepository(ddb_table), tmp_path)
    assert refused.value.field == "max_idle_prompts"
