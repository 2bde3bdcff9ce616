"""Post-call analysis: persona configuration, the no-words outcome, validation and the one retry,
the offline extractor, and the Cerebras structured-output adapter against the fake's HTTP API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest
from callcore.analysis import (
    AnalysisConfigError,
    ModelReply,
    OfflineModel,
    analyse_call,
    parse_analysis_config,
    result_schema,
)
from callcore.models import CallRecord, CallStatus, TranscriptTurn
from callcore.personas import PersonaError, parse_persona
from callcore.structured_llm import CerebrasStructuredModel, StructuredModelError

from local.fake_providers.cerebras import FakeCerebras
from tests.factories import call_record, persona

DATA = {
    "type": "object",
    "properties": {"confirmed": {"type": "boolean"}, "new_time": {"type": "string"}},
    "required": ["confirmed", "new_time"],
    "additionalProperties": False,
}
CONFIG = {"summary": True, "data": DATA, "success": "The callee confirmed or moved the appointment."}
PERSONA = persona(analysis=CONFIG)
AT = "2026-11-30T12:00:00.000Z"


def _record(status: CallStatus = CallStatus.COMPLETED, answered_by: str | None = None) -> CallRecord:
    return call_record(status=status, at=AT, answered_by=answered_by)


def _turns(*lines: tuple[str, str]) -> list[TranscriptTurn]:
    return [
        TranscriptTurn(index=i, role=role, text=text, started_at=float(i), ended_at=float(i) + 1)  # type: ignore[arg-type]
        for i, (role, text) in enumerate(lines)
    ]


CONVERSATION = _turns(
    ("assistant", "Hi, can you make it tomorrow at 10:30?"),
    ("caller", "No, could we move it to 3 pm instead?"),
    ("assistant", "I'll note that."),
)


class ScriptedModel:
    """Answers from a list, counting calls (a stand-in for the model, not for the adapter)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    def complete_json(self, system: str, user: str, schema: Mapping[str, Any]) -> ModelReply:
        self.calls += 1
        return ModelReply(self.answers.pop(0), "scripted", input_tokens=100, output_tokens=20)


def test_valid_configuration_is_normalised() -> None:
    assert parse_analysis_config(None) is None
    maybe = {
        "type": "object",
        "properties": {"new_time": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["new_time"],
    }
    assert parse_analysis_config({"data": maybe}) == {"summary": True, "data": maybe, "success": None}
    assert parse_analysis_config({"data": DATA}) == {"summary": True, "data": DATA, "success": None}
    persona = parse_persona(
        {"voice_id": "v", "prompt": "p", "greeting": "g", "analysis": CONFIG}, persona_id="x"
    )
    assert persona.analysis == CONFIG and persona.to_json()["analysis"] == CONFIG


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("yes", "'analysis'"),
        ({"summary": "yes"}, "analysis.summary"),
        ({"data": {"type": "object", "properties": {"x": {"type": "banana"}}}}, "not a valid JSON Schema"),
        ({"data": {"type": "string"}}, "object schema"),
        (
            {
                "data": {
                    "type": "object",
                    "properties": {f"f{i}": {"type": "string", "description": "x" * 100} for i in range(100)},
                }
            },
            "bytes",
        ),
        (
            {
                "data": {
                    "type": "object",
                    "properties": {
                        "a": {
                            "type": "object",
                            "properties": {
                                "b": {
                                    "type": "object",
                                    "properties": {
                                        "c": {"type": "object", "properties": {"d": {"type": "string"}}}
                                    },
                                }
                            },
                        }
                    },
                }
            },
            "nest",
        ),
        (
            {"data": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}},
            r"'analysis.data' must list every property in 'required' \(missing: a, b\)",
        ),
        (
            {
                "data": {
                    "type": "object",
                    "properties": {"when": {"type": ["string", "null"]}},
                    "required": ["when"],
                }
            },
            "analysis.data.properties.when' gives 'type' as a list",
        ),
        (
            {
                "data": {
                    "type": "object",
                    "properties": {
                        "slots": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"day": {"type": "string"}}},
                        }
                    },
                    "required": ["slots"],
                }
            },
            r"analysis.data.properties.slots.items' must list every property in 'required' \(missing: day\)",
        ),
        ({"success": ""}, "analysis.success"),
        ({"summary": False}, "asks for nothing"),
        ({"summary": True, "extra": 1}, "unknown"),
    ],
)
def test_invalid_configuration_is_a_400_naming_the_field(raw: object, words: str) -> None:
    with pytest.raises(AnalysisConfigError, match=words):
        parse_analysis_config(raw)
    with pytest.raises(PersonaError):
        parse_persona({"voice_id": "v", "prompt": "p", "greeting": "g", "analysis": raw}, persona_id="x")


@pytest.mark.parametrize(
    ("status", "answered_by", "words"),
    [
        (CallStatus.BUSY, None, "busy"),
        (CallStatus.NO_ANSWER, None, "Nobody answered"),
        (CallStatus.COMPLETED, "machine_end_beep", "answering machine"),
    ],
)
def test_no_caller_words_means_no_model_call(status: CallStatus, answered_by: str | None, words: str) -> None:
    model = ScriptedModel()
    result = analyse_call(
        _record(status, answered_by), PERSONA, _turns(("assistant", "Hello?")), model, at=AT
    )
    assert result is not None and model.calls == 0
    assert words in result.analysis["summary"] and result.analysis["success"] is False
    assert result.analysis["data"] is None and result.analysis["model"] is None


def test_valid_answer_is_stored_with_model_and_time() -> None:
    answer = {
        "summary": "Moved.",
        "data": {"confirmed": False, "new_time": "3 pm"},
        "success": True,
        "success_reason": "moved",
    }
    model = ScriptedModel(json.dumps(answer))
    result = analyse_call(_record(), PERSONA, CONVERSATION, model, at=AT)
    assert result is not None and model.calls == 1
    assert result.analysis == {**answer, "model": "scripted", "at": AT, "caller_spoke": True}
    assert (result.input_tokens, result.output_tokens) == (100, 20)


def test_invalid_answer_is_retried_once_then_recorded_as_an_error() -> None:
    bad = json.dumps(
        {
            "summary": "x",
            "data": {"confirmed": "maybe", "new_time": "3 pm"},
            "success": True,
            "success_reason": "r",
        }
    )
    good = json.dumps(
        {"summary": "x", "data": {"confirmed": True, "new_time": ""}, "success": True, "success_reason": "r"}
    )
    retried = ScriptedModel(bad, good)
    result = analyse_call(_record(), PERSONA, CONVERSATION, retried, at=AT)
    assert result is not None and retried.calls == 2 and result.analysis["data"]["confirmed"] is True

    hopeless = ScriptedModel(bad, "not json")
    failed = analyse_call(_record(), PERSONA, CONVERSATION, hopeless, at=AT)
    assert failed is not None and hopeless.calls == 2
    assert "error" in failed.analysis and "data" not in failed.analysis  # never stored unvalidated


def test_persona_without_analysis_gets_none() -> None:
    plain = persona()
    assert analyse_call(_record(), plain, CONVERSATION, ScriptedModel(), at=AT) is None


def test_offline_extractor_is_deterministic_and_valid() -> None:
    first = analyse_call(_record(), PERSONA, CONVERSATION, OfflineModel(), at=AT)
    second = analyse_call(_record(), PERSONA, CONVERSATION, OfflineModel(), at=AT)
    assert first is not None and second is not None and first.analysis == second.analysis
    assert first.analysis["data"] == {"confirmed": False, "new_time": "3 pm"}
    assert first.analysis["model"] == "offline-extractor" and "summary" in first.analysis


async def test_cerebras_adapter_sends_structured_output_and_reads_the_answer() -> None:
    schema = result_schema(CONFIG)
    async with FakeCerebras(api_key="k-test") as fake:
        model = CerebrasStructuredModel(api_key="k-test", base_url=fake.base_url, model="gpt-oss-120b")
        reply = await asyncio.to_thread(model.complete_json, "system", "Transcript:\nCallee: yes", schema)
        sent = fake.requests[-1].body
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["schema"] == schema and sent["stream"] is False
        answer = json.loads(reply.text)
        assert set(answer) == set(schema["properties"]) and reply.model == "gpt-oss-120b"
        # End to end through analyse_call: the fake's answer validates against the schema.
        result = await asyncio.to_thread(analyse_call, _record(), PERSONA, CONVERSATION, model, at=AT)
        assert result is not None and "error" not in result.analysis and result.output_tokens > 0


async def test_cerebras_adapter_errors_and_the_retry_on_an_invalid_answer() -> None:
    async with FakeCerebras(api_key="k-test") as fake:
        wrong_key = CerebrasStructuredModel(api_key="nope", base_url=fake.base_url, model="gpt-oss-120b")
        with pytest.raises(StructuredModelError, match="401") as failed:
            await asyncio.to_thread(wrong_key.complete_json, "s", "u", {"type": "object"})
        assert "nope" not in str(failed.value)
        answers = iter(
            [
                '{"summary": 1}',
                json.dumps(
                    {
                        "summary": "ok",
                        "data": {"confirmed": True, "new_time": "3 pm"},
                        "success": True,
                        "success_reason": "r",
                    }
                ),
            ]
        )
        fake.config.structured_rule = lambda messages, schema: next(answers)
        model = CerebrasStructuredModel(api_key="k-test", base_url=fake.base_url, model="gpt-oss-120b")
        result = await asyncio.to_thread(analyse_call, _record(), PERSONA, CONVERSATION, model, at=AT)
        assert result is not None and result.analysis["summary"] == "ok" and len(fake.requests) == 2
