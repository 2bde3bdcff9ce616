from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from callcore.personas import PersonaError, parse_persona, seed_personas
from callcore.phone import PhoneNumberError, calling_code, is_e164, require_allowed_destination
from callcore.repository import CallRepository

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "personas"


@pytest.mark.parametrize("number", ["+14155550123", "+447700900123", "+3531234567"])
def test_valid_e164(number: str) -> None:
    assert is_e164(number)


@pytest.mark.parametrize(
    "number", ["14155550123", "+0123456789", "+1 415 555 0123", "+1", "+1234567890123456", 5]
)
def test_invalid_e164(number: object) -> None:
    assert not is_e164(number)


def test_calling_code_is_parsed_not_prefix_matched() -> None:
    assert calling_code("+14155550123") == "1"
    assert calling_code("+353861234567") == "353"
    assert calling_code("+881612345678") == "881"


def test_destination_rules() -> None:
    assert require_allowed_destination("+14155550123", ("1",)) == "+14155550123"
    with pytest.raises(PhoneNumberError) as bad:
        require_allowed_destination("+447700900123", ("1",))
    assert bad.value.code == "destination_not_allowed" and "7700900123" not in bad.value.message
    with pytest.raises(PhoneNumberError) as syntax:
        require_allowed_destination("555-0123", ("1",))
    assert syntax.value.code == "invalid_phone_number"


def _persona(**overrides: Any) -> dict[str, Any]:
    return {"voice_id": "v1", "prompt": "Be nice.", "greeting": "Hello!", **overrides}


def test_persona_defaults_and_url_id() -> None:
    p = parse_persona(_persona(), persona_id="sales")
    assert (p.persona_id, p.language, p.machine_detection, p.record) == ("sales", "en", False, False)


@pytest.mark.parametrize(
    "overrides",
    [
        {"voice_id": ""},
        {"prompt": None},
        {"greeting": "x" * 501},
        {"language": "english"},
        {"max_duration_seconds": 5},
        {"max_duration_seconds": "600"},
        {"machine_detection": "yes"},
        {"transfer_number": "12345"},
        {"filler_phrases": "um"},
        {"surprise": 1},
        {"persona_id": "other"},
    ],
)
def test_persona_rejections(overrides: dict[str, Any]) -> None:
    with pytest.raises(PersonaError):
        parse_persona(_persona(**overrides), persona_id="sales")


@pytest.mark.parametrize("tag", ["en", "en-US", "pt-BR", "fil", "zh"])
def test_persona_languages_with_or_without_a_region_are_accepted_as_written(tag: str) -> None:
    assert parse_persona(_persona(language=tag), persona_id="sales").language == tag


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("eng", "can both hear and speak"),
        ("xx", "can both hear and speak"),
        ("xx-US", "can both hear and speak"),
        ("la", "use one of ar, bg"),
        ("en-us", "such as 'en' or 'en-US'"),
        ("en_US", "such as 'en' or 'en-US'"),
    ],
)
def test_persona_languages_the_call_cannot_hear_and_speak_are_refused_with_why(tag: str, why: str) -> None:
    with pytest.raises(PersonaError, match="'language'") as refused:
        parse_persona(_persona(language=tag), persona_id="sales")
    assert why in str(refused.value)


def test_examples_validate_and_seed(ddb_table: Any, tmp_path: Path) -> None:
    repo = CallRepository(ddb_table)
    ids = seed_personas(repo, EXAMPLES)
    assert sorted(ids) == ["appointment-reminder", "receptionist"]
    assert repo.get_persona("appointment-reminder") is not None
    (tmp_path / "bad.json").write_text(json.dumps({"persona_id": "bad"}))
    (tmp_path / "good.json").write_text((EXAMPLES / "receptionist.json").read_text())
    with pytest.raises(PersonaError, match=r"bad\.json"):
        seed_personas(repo, tmp_path)
