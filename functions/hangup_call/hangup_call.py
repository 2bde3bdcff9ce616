"""POST /calls/{call_id}/hangup: end one of the key's own live calls through the Twilio REST API.

202 when Twilio was asked (the status moves when Twilio's callback arrives), 409 when the call has
already ended, 404 for a call that is not this key's. Repeating the request is harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import error_response, json_response, keyed_route, rest_resolver
from callcore.hangup import TWILIO_NOT_IN_PROGRESS, HangupError, hang_up
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer
from callcore.twilio_rest import twilio_client

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("hangup_call")
tracer = build_tracer("hangup_call", patch_modules=("botocore", "requests"))
app = rest_resolver()


def _end_call(call_sid: str, twilio_status: str) -> None:
    """Update the call at Twilio; "not in progress" means it ended while we asked (409)."""
    from twilio.base.exceptions import TwilioRestException

    try:
        call = twilio_client(settings).calls(call_sid).update(status=twilio_status)
        if twilio_status == "canceled" and call.status == "in-progress":
            # Answered while we asked: "canceled" does not end an answered call, "completed" does.
            twilio_client(settings).calls(call_sid).update(status="completed")
    except TwilioRestException as error:
        if error.code == TWILIO_NOT_IN_PROGRESS or error.status == 404:
            raise HangupError(409, "call_ended", "the call has already ended") from None
        logger.warning("Twilio refused the hang-up", extra={"twilio_code": error.code})
        raise HangupError(
            502, "twilio_error", f"Twilio refused to end the call (error {error.code})"
        ) from None


@app.post("/calls/<call_id>/hangup")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def post_hangup(user_id: str, call_id: str) -> Response[str]:
    logger.set_correlation_id(call_id)
    record = repo.get_call(call_id)
    if record is None or record.user_id != user_id:
        return error_response(404, "call_not_found", f"no call {call_id!r} for this API key")
    try:
        result = hang_up(repo=repo, record=record, now=datetime.now(UTC), end_call=_end_call)
    except HangupError as error:
        return json_response(error.status, error.to_json())
    logger.info("hang-up requested", extra={"call_id": call_id, "status": record.status.value})
    return json_response(202, result.to_json())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
