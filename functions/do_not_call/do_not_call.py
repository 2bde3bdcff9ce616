"""The API key's do-not-call list: PUT/DELETE /do-not-call/{number}, GET /do-not-call.

``GET /do-not-call?number=+1…`` answers whether one number is listed; without ``number`` it pages
through the list (``limit``, ``cursor``). The list is enforced in ``callcore.calls.place_call``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import RequestError, json_response, keyed_route, page_cursor, page_limit, rest_resolver
from callcore.do_not_call import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    DoNotCallInputError,
    add_number,
    list_page,
    list_scope,
    parse_number,
)
from callcore.logging import build_logger, mask_phone
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("do_not_call")
tracer = build_tracer("do_not_call")
app = rest_resolver()


def _number(raw: str | None, *, field: str = "number") -> str:
    try:
        return parse_number(raw, field=field)
    except DoNotCallInputError as error:
        raise RequestError(400, error.code, error.message) from None


@app.put("/do-not-call/<number>")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def put_number(user_id: str, number: str) -> Response[str]:
    parsed = _number(number)
    entry = add_number(repo, user_id, parsed, now=datetime.now(UTC))
    logger.info("do-not-call added", extra={"to": mask_phone(parsed)})
    return json_response(200, {**entry.to_json(), "listed": True})


@app.delete("/do-not-call/<number>")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def delete_number(user_id: str, number: str) -> Response[str]:
    parsed = _number(number)
    removed = repo.delete_do_not_call(user_id, parsed)
    logger.info("do-not-call removed", extra={"to": mask_phone(parsed), "was_listed": removed})
    return json_response(200, {"number": parsed, "listed": False, "removed": removed})


@app.get("/do-not-call")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def get_list(user_id: str) -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    if "number" in query:
        number = _number(query["number"])
        entry = repo.get_do_not_call(user_id, number)
        if entry is None:
            return json_response(200, {"number": number, "listed": False})
        return json_response(200, {**entry.to_json(), "listed": True})
    limit = page_limit(query, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    after = page_cursor(query, scope=list_scope(user_id))
    return json_response(200, list_page(repo, user_id, limit=limit, after=after))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
