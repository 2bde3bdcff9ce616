"""GET /calls/{call_id}: the record, its status history and its transcript, for its owner only.

Another user's call answers 404, the same as a missing one, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import caller_id, error_response, json_response, rest_resolver
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("get_call")
tracer = build_tracer("get_call")
app = rest_resolver()


@app.get("/calls/<call_id>")
@tracer.capture_method(capture_response=False)
def get_call(call_id: str) -> Response[str]:
    user_id = caller_id(app.current_event)
    if user_id is None:
        return error_response(403, "forbidden", "an API key is required")
    logger.set_correlation_id(call_id)
    history = repo.get_call_history(call_id)
    if history is None or history.record.user_id != user_id:
        return error_response(404, "call_not_found", f"no call {call_id!r} for this API key")
    return json_response(200, history.to_json())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
