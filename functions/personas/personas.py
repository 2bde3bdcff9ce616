"""GET /personas (paged: limit, cursor), GET /personas/{persona_id}, PUT /personas/{persona_id}.

Personas are shared configuration of this deployment (every API key sees the same list); PUT
validates every field with ``callcore.personas.parse_persona`` and replaces the whole persona.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import caller_id, error_response, json_response, rest_resolver
from callcore.listing import ListQueryError, parse_page_query
from callcore.logging import build_logger
from callcore.personas import PersonaError, parse_persona
from callcore.phone import DialPolicy
from callcore.repository import PERSONAS_PARTITION, CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("personas")
tracer = build_tracer("personas")
app = rest_resolver()


@app.get("/personas")
def list_personas() -> Response[str]:
    if caller_id(app.current_event) is None:
        return error_response(403, "forbidden", "an API key is required")
    try:
        page = parse_page_query(app.current_event.query_string_parameters, partition=PERSONAS_PARTITION)
    except ListQueryError as error:
        return json_response(400, error.to_json())
    personas, cursor = repo.list_personas_page(page)
    return json_response(200, {"personas": [p.to_json() for p in personas], "next_cursor": cursor})


@app.get("/personas/<persona_id>")
def get_persona(persona_id: str) -> Response[str]:
    if caller_id(app.current_event) is None:
        return error_response(403, "forbidden", "an API key is required")
    persona = repo.get_persona(persona_id)
    if persona is None:
        return error_response(404, "persona_not_found", f"persona {persona_id!r} does not exist")
    return json_response(200, persona.to_json())


@app.put("/personas/<persona_id>")
def put_persona(persona_id: str) -> Response[str]:
    if caller_id(app.current_event) is None:
        return error_response(403, "forbidden", "an API key is required")
    try:
        body = json.loads(app.current_event.body or "")
    except ValueError:
        return error_response(400, "invalid_json", "the body must be valid JSON")
    try:
        persona = parse_persona(body, persona_id=persona_id, dial_policy=DialPolicy.from_settings(settings))
    except PersonaError as error:
        return error_response(400, "invalid_persona", str(error))
    repo.put_persona(persona)
    logger.info("persona saved", extra={"persona_id": persona_id})
    return json_response(200, persona.to_json())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
