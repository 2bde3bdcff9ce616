"""Persona validation and seeding.

A persona is configuration that reaches a paid voice, a paid model and a phone line, so PUT
rejects anything out of range with a message naming the field, and unknown fields are refused
rather than silently dropped (a typo must not quietly disable answering-machine detection).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcore.analysis import AnalysisConfigError, parse_analysis_config
from callcore.models import Persona
from callcore.phone import DialPolicy, PhoneNumberError, is_e164
from callcore.variables import TEMPLATE_FIELDS, template_errors

if TYPE_CHECKING:
    from callcore.repository import CallRepository

__all__ = ["SUPPORTED_LANGUAGES", "PersonaError", "changed_fields", "parse_persona", "seed_personas"]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(-[A-Z]{2})?$")
# What a call can both hear (Scribe realtime) and speak (TTS eleven_flash_v2_5), as the vendor
# spells it: ISO 639-1, except Filipino. The region of `en-US` is dropped before any vendor sees it.
SUPPORTED_LANGUAGES = frozenset(
    {
        *("ar", "bg", "cs", "da", "de", "el", "en", "es", "fi", "fil", "fr", "hi", "hr", "hu", "id", "it"),
        *("ja", "ko", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sv", "ta", "tr", "uk", "vi", "zh"),
    }
)
_VOICE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class PersonaError(ValueError):
    """An invalid persona: the message says why, ``field`` names the member at fault (the ``field``
    of the 400), or None when no one field is (not an object, unknown fields). A nested member is a
    dotted path with list indexes in brackets, as the campaigns API spells them:
    ``analysis.data.properties.when``, ``filler_phrases[2]``."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.field = field


def _text(
    data: Mapping[str, Any], name: str, *, max_len: int, required: bool = True, default: str = ""
) -> str:
    value = data.get(name, None if required else default)
    if value is None:
        raise PersonaError(f"'{name}' is required", field=name)
    if not isinstance(value, str):
        raise PersonaError(f"'{name}' must be a string", field=name)
    value = value.strip()
    if required and not value:
        raise PersonaError(f"'{name}' must not be empty", field=name)
    if len(value) > max_len:
        raise PersonaError(f"'{name}' must be at most {max_len} characters", field=name)
    return value


def _optional_text(data: Mapping[str, Any], name: str, *, max_len: int) -> str | None:
    """A text that may be absent or null; an empty one is refused rather than read as "none"."""
    if data.get(name) is None:
        return None
    value = _text(data, name, max_len=max_len)
    return value


def _int(data: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PersonaError(f"'{name}' must be an integer", field=name)
    if not low <= value <= high:
        raise PersonaError(f"'{name}' must be between {low} and {high}", field=name)
    return value


def _bool(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise PersonaError(f"'{name}' must be true or false", field=name)
    return value


def _analysis(raw: object) -> dict[str, Any] | None:
    try:
        return parse_analysis_config(raw)
    except AnalysisConfigError as error:
        raise PersonaError(str(error), field=error.field) from None


def parse_persona(
    data: object, *, persona_id: str | None = None, dial_policy: DialPolicy | None = None
) -> Persona:
    """Validate JSON data into a Persona. ``persona_id`` (from the URL) wins over the body's.

    With ``dial_policy`` the ``transfer_number`` must pass the same dial policy as ``POST /calls``
    (a transfer is a dial the caller does not pay for); without it only its syntax is checked.
    """
    if not isinstance(data, Mapping):
        raise PersonaError("a persona must be a JSON object", field=None)
    known = set(Persona.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise PersonaError(f"unknown field(s): {', '.join(unknown)}", field=None)
    pid = persona_id if persona_id is not None else data.get("persona_id")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise PersonaError(
            "'persona_id' must be 1-64 of a-z, 0-9, '_' or '-', starting with a letter or digit",
            field="persona_id",
        )
    if "persona_id" in data and data["persona_id"] != pid:
        raise PersonaError("'persona_id' in the body does not match the URL", field="persona_id")
    voice_id = _text(data, "voice_id", max_len=100)
    if not _VOICE.match(voice_id):
        raise PersonaError("'voice_id' has unexpected characters", field="voice_id")
    language = _text(data, "language", max_len=6, required=False, default="en")
    tag = _LANGUAGE.match(language)
    if not tag:
        raise PersonaError("'language' must be a language code such as 'en' or 'en-US'", field="language")
    if tag.group(1) not in SUPPORTED_LANGUAGES:
        raise PersonaError(
            f"'language' {tag.group(1)!r} is not one the call can both hear and speak "
            f"(ElevenLabs Scribe and Flash v2.5); use one of {', '.join(sorted(SUPPORTED_LANGUAGES))}, "
            "optionally with a region such as 'en-US'",
            field="language",
        )
    transfer = data.get("transfer_number")
    if transfer is not None and not is_e164(transfer):
        raise PersonaError("'transfer_number' must be an E.164 number or null", field="transfer_number")
    if transfer is not None and dial_policy is not None:
        try:
            dial_policy.check(transfer, field_name="transfer_number")
        except PhoneNumberError as error:
            raise PersonaError(error.message, field="transfer_number") from None
    voicemail = data.get("voicemail_message")
    if voicemail is not None:
        voicemail = _text(data, "voicemail_message", max_len=1000)
    fillers = data.get("filler_phrases", [])
    if not isinstance(fillers, list) or len(fillers) > 20:
        raise PersonaError("'filler_phrases' must be a list of at most 20 strings", field="filler_phrases")
    for index, filler in enumerate(fillers):
        if not isinstance(filler, str) or not 0 < len(filler.strip()) <= 100:
            raise PersonaError(
                f"'filler_phrases[{index}]' must be a non-empty string of at most 100 characters",
                field=f"filler_phrases[{index}]",
            )
    persona = Persona(
        persona_id=pid,
        name=_text(data, "name", max_len=100, required=False, default=pid) or pid,
        voice_id=voice_id,
        prompt=_text(data, "prompt", max_len=8000),
        greeting=_text(data, "greeting", max_len=500),
        language=language,
        llm_model=_text(data, "llm_model", max_len=100, required=False, default="gpt-oss-120b")
        or "gpt-oss-120b",
        max_duration_seconds=_int(data, "max_duration_seconds", 600, 30, 4 * 3600),
        goodbye=_text(
            data, "goodbye", max_len=500, required=False, default="Thank you for your time. Goodbye."
        ),
        idle_prompt=_text(data, "idle_prompt", max_len=500, required=False, default="Are you still there?"),
        idle_timeout_seconds=_int(data, "idle_timeout_seconds", 8, 2, 120),
        max_idle_prompts=_int(data, "max_idle_prompts", 2, 0, 10),
        voicemail_message=voicemail,
        transfer_number=transfer,
        transfer_message=_optional_text(data, "transfer_message", max_len=500),
        machine_detection=_bool(data, "machine_detection", False),
        record=_bool(data, "record", False),
        recording_consent=_bool(data, "recording_consent", False),
        disclosure=_optional_text(data, "disclosure", max_len=500),
        end_of_turn_silence_ms=_int(data, "end_of_turn_silence_ms", 700, 100, 5000),
        filler_phrases=tuple(f.strip() for f in fillers),
        analysis=_analysis(data.get("analysis")),
        dtmf_sensitive=_bool(data, "dtmf_sensitive", True),
    )
    if persona.recording_consent and not persona.record:
        raise PersonaError(
            "'recording_consent' needs 'record': true (there is no recording to consent to)",
            field="recording_consent",
        )
    for name in TEMPLATE_FIELDS:
        text = getattr(persona, name)
        if text and (problem := template_errors(name, text)):
            raise PersonaError(problem, field=name)
    for index, phrase in enumerate(persona.filler_phrases):
        if "{{" in phrase or "}}" in phrase:
            raise PersonaError(
                f"'filler_phrases[{index}]' cannot hold placeholders (they are pre-rendered)",
                field=f"filler_phrases[{index}]",
            )
    return persona


def changed_fields(before: Persona | None, after: Persona) -> list[str]:
    """The public fields a write changed (all of them for a new persona): the audit log's "what"."""
    new = after.to_json()
    old = before.to_json() if before is not None else {}
    return sorted(name for name, value in new.items() if name not in old or old[name] != value)


def seed_personas(repo: CallRepository, directory: str | Path) -> list[str]:
    """Validate and store every ``*.json`` persona in ``directory``; returns the ids written.

    All files are validated before any is written, so a bad file leaves the table unchanged.
    """
    personas = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            personas.append(parse_persona(data))
        except (ValueError, PersonaError) as error:
            raise PersonaError(
                f"{path.name}: {error}", field=error.field if isinstance(error, PersonaError) else None
            ) from error
    for persona in personas:
        repo.put_persona(persona)
    return [p.persona_id for p in personas]
