"""Reading calls: GET /calls (the key's own calls, newest first, paged) and GET /calls/{call_id}.

A call is only ever shown to the API key that placed it: another user's call answers 404, the same
as a missing one, so ids cannot be probed, and a list cursor only works for the key it was made for.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import error_response, json_response, keyed_route, rest_resolver
from callcore.listing import ListQueryError, parse_call_list_query
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("get_call")
tracer = build_tracer("get_call")
app = rest_resolver()


@app.get("/calls")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def list_calls(user_id: str) -> Response[str]:
    try:
        query = parse_call_list_query(app.current_event.query_string_parameters, user_id=user_id)
    except ListQueryError as error:
        return json_response(400, error.to_json())
    records, cursor = repo.list_calls(user_id, query)
    return json_response(200, {"calls": [r.to_json() for r in records], "next_cursor": cursor})


@app.get("/calls/<call_id>")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def get_call(user_id: str, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    history = repo.get_call_history(call_id)
    if history is None or history.record.user_id != user_id:
        return error_response(404, "call_not_found", f"no call {call_id!r} for this API key")
    return json_response(200, history.to_json())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
