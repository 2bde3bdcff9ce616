"""GET /personas (paged: limit, cursor), GET /personas/{persona_id}, PUT /personas/{persona_id}.

Tenancy: a persona belongs to the API key (user id) that created it, and only that key sees or
changes it. The operator's seeded personas are read-only templates every key can read and copy
(GET one, then PUT it under a new id). The inbound line's persona (INBOUND_PERSONA_ID) is the
operator's choice and cannot be created or changed through the API. Ids are unique in the
deployment: an id another key owns answers 409 without revealing that persona.

Every change is logged as an audit line: who (user id), which persona, which fields.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import (
    error_response,
    json_response,
    keyed_route,
    parse_json_body,
    rest_resolver,
)
from callcore.listing import ListQueryError, PageQuery, parse_page_query
from callcore.logging import build_logger
from callcore.personas import PersonaError, changed_fields, parse_persona
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
@keyed_route(app)
def list_personas(user_id: str) -> Response[str]:
    try:
        page = _page_query(user_id)
    except ListQueryError as error:
        return json_response(400, error.to_json())
    personas, cursor = repo.list_stored_personas_page(user_id, page)
    return json_response(200, {"personas": [p.to_json() for p in personas], "next_cursor": cursor})


def _page_query(user_id: str) -> PageQuery:
    """``limit`` and ``cursor``; a cursor may point into the key's own personas or the templates."""
    params = app.current_event.query_string_parameters
    try:
        return parse_page_query(params, partition=f"{PERSONAS_PARTITION}#{user_id}")
    except ListQueryError as error:
        if error.field != "cursor":
            raise
        return parse_page_query(params, partition=PERSONAS_PARTITION)


@app.get("/personas/<persona_id>")
@keyed_route(app)
def get_persona(user_id: str, persona_id: str) -> Response[str]:
    stored = repo.get_stored_persona(persona_id)
    if stored is None or not stored.visible_to(user_id):
        return error_response(404, "persona_not_found", f"persona {persona_id!r} does not exist")
    return json_response(200, stored.to_json())


@app.put("/personas/<persona_id>")
@keyed_route(app)
def put_persona(user_id: str, persona_id: str) -> Response[str]:
    body = parse_json_body(app.current_event.body)
    if isinstance(body, dict) and isinstance(body.get("template"), bool):
        body.pop("template")  # read-only, shown by GET: a GET → PUT round trip (a copy) just works
    try:
        persona = parse_persona(body, persona_id=persona_id, dial_policy=DialPolicy.from_settings(settings))
    except PersonaError as error:
        named = {"field": error.field} if error.field else {}
        return error_response(400, "invalid_persona", str(error), **named)
    if persona_id == settings.inbound_persona_id:
        return error_response(
            403,
            "persona_reserved",
            f"persona {persona_id!r} answers the inbound line; the operator configures it, not the API",
        )
    previous = repo.get_stored_persona(persona_id)
    if previous is not None and previous.is_template:
        return error_response(
            403,
            "persona_read_only",
            f"persona {persona_id!r} is a read-only template; copy it under a new id (GET it, then PUT it)",
        )
    if (previous is not None and previous.owner != user_id) or not repo.save_owned_persona(persona, user_id):
        return error_response(
            409, "persona_id_taken", f"persona id {persona_id!r} is already in use; choose another id"
        )
    logger.info(
        "audit: persona changed",
        extra={
            "audit": "persona_changed",
            "user_id": user_id,
            "persona_id": persona_id,
            "action": "created" if previous is None else "updated",
            "fields_changed": changed_fields(previous.persona if previous else None, persona),
        },
    )
    return json_response(200, {**persona.to_json(), "template": False})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
