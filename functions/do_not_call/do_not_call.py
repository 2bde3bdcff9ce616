"""The API key's do-not-call list: PUT/DELETE /do-not-call/{number}, GET /do-not-call.

``GET /do-not-call?number=+1…`` answers whether one number is listed; without ``number`` it pages
through the list (``limit``, ``cursor``). The list is enforced in ``callcore.calls.place_call``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import caller_id, error_response, json_response, rest_resolver
from callcore.do_not_call import DoNotCallInputError, add_number, list_page, parse_number, parse_page_size
from callcore.logging import build_logger, mask_phone
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("do_not_call")
tracer = build_tracer("do_not_call")
app = rest_resolver()


def _bad(error: DoNotCallInputError) -> Response[str]:
    return error_response(400, error.code, error.message)


@app.put("/do-not-call/<number>")
@tracer.capture_method(capture_response=False)
def put_number(number: str) -> Response[str]:
    user_id = caller_id(app.current_event)
    if user_id is None:
        return error_response(403, "forbidden", "an API key is required")
    try:
        parsed = parse_number(number)
    except DoNotCallInputError as error:
        return _bad(error)
    entry = add_number(repo, user_id, parsed, now=datetime.now(UTC))
    logger.info("do-not-call added", extra={"to": mask_phone(parsed)})
    return json_response(200, {**entry.to_json(), "listed": True})


@app.delete("/do-not-call/<number>")
@tracer.capture_method(capture_response=False)
def delete_number(number: str) -> Response[str]:
    user_id = caller_id(app.current_event)
    if user_id is None:
        return error_response(403, "forbidden", "an API key is required")
    try:
        parsed = parse_number(number)
    except DoNotCallInputError as error:
        return _bad(error)
    removed = repo.delete_do_not_call(user_id, parsed)
    logger.info("do-not-call removed", extra={"to": mask_phone(parsed), "was_listed": removed})
    return json_response(200, {"number": parsed, "listed": False, "removed": removed})


@app.get("/do-not-call")
@tracer.capture_method(capture_response=False)
def get_list() -> Response[str]:
    user_id = caller_id(app.current_event)
    if user_id is None:
        return error_response(403, "forbidden", "an API key is required")
    query = app.current_event.query_string_parameters or {}
    try:
        if "number" in query:
            number = parse_number(query["number"])
            entry = repo.get_do_not_call(user_id, number)
            if entry is None:
                return json_response(200, {"number": number, "listed": False})
            return json_response(200, {**entry.to_json(), "listed": True})
        return json_response(
            200,
            list_page(repo, user_id, limit=parse_page_size(query.get("limit")), cursor=query.get("cursor")),
        )
    except DoNotCallInputError as error:
        return _bad(error)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
