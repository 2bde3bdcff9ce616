"""POST /calls: place an outbound call for the API key's user.

Idempotency: with an ``Idempotency-Key`` header the request runs through Powertools idempotency
(records in the same table, ``PK=IDEMPOTENCY#trigger_call``), keyed on user + key and validated
against the body, so a repeat returns the first response without touching Twilio. Underneath,
``callcore.calls`` derives the call id from user + key and claims the dial conditionally, which
covers the crash window Powertools cannot (Twilio accepted, Lambda died before the response).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import (
    RequestError,
    caller_id,
    error_response,
    event_api_base_url,
    json_response,
    parse_json_body,
    rest_resolver,
)
from callcore.aws_session import aws_client
from callcore.calls import CallPlacementError, parse_call_request, place_call
from callcore.logging import build_logger, mask_phone
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer
from callcore.twilio_rest import twilio_client

settings = Settings.from_env()
repo = CallRepository.from_settings(settings)
logger = build_logger("trigger_call")
tracer = build_tracer("trigger_call", patch_modules=("botocore", "requests"))
metrics = Metrics(service="trigger_call")
app = rest_resolver()

_persistence = DynamoDBPersistenceLayer(
    table_name=settings.table_name,
    key_attr="PK",
    sort_key_attr="SK",
    static_pk_value="IDEMPOTENCY#trigger_call",
    # A plain low-level client (Powertools types values itself), from the session the repository's
    # client will also come from: one botocore session per cold start instead of two.
    boto3_client=aws_client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=settings.dynamodb_endpoint
    ),
)
_idempotency = IdempotencyConfig(
    event_key_jmespath="[user_id, idempotency_key]",
    payload_validation_jmespath="body",
    expires_after_seconds=24 * 3600,
)
MAX_KEY_LENGTH = 255


def _dial(kwargs: dict[str, Any]) -> str:
    """Send the prepared request to Twilio (TWILIO_API_BASE_URL) and return the CallSid."""
    call = twilio_client(settings).calls.create(**kwargs)
    return str(call.sid)


def _place(user_id: str, body: object, idempotency_key: str | None, base_url: str) -> dict[str, Any]:
    """Run the domain and return a JSON-able response (what Powertools stores for replays)."""
    try:
        request = parse_call_request(body, settings)
        placed = place_call(
            repo=repo,
            settings=settings,
            user_id=user_id,
            request=request,
            idempotency_key=idempotency_key,
            base_url=base_url,
            now=datetime.now(UTC),
            dial=_dial,
        )
    except CallPlacementError as error:
        metrics.add_metric(
            name="CallsRejected" if error.status < 500 else "CallsFailed", unit=MetricUnit.Count, value=1
        )
        logger.warning("call refused", extra={"error": error.code, "call_id": error.call_id})
        return {"status_code": error.status, "body": error.to_json()}
    logger.set_correlation_id(placed.call_id)
    if placed.dialled:
        metrics.add_metric(name="CallsPlaced", unit=MetricUnit.Count, value=1)
        logger.info(
            "call placed",
            extra={"call_id": placed.call_id, "call_sid": placed.call_sid, "to": mask_phone(request.to)},
        )
    return {"status_code": 202, "body": placed.to_json()}


@idempotent_function(  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
    data_keyword_argument="request", config=_idempotency, persistence_store=_persistence
)
def _place_once(request: dict[str, Any]) -> dict[str, Any]:
    outcome = _place(request["user_id"], request["body"], request["idempotency_key"], request["base_url"])
    if outcome["status_code"] >= 500 or outcome["status_code"] == 429:
        # Not cached for a day: a full slot frees up, and callcore answers Twilio-failure retries itself.
        raise _NotCached(outcome)
    return outcome


class _NotCached(Exception):
    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__("not cached")
        self.outcome = outcome


@app.post("/calls")
@tracer.capture_method(capture_response=False)
def post_calls() -> Response[str]:
    event = app.current_event
    user_id = caller_id(event)
    if user_id is None:
        return error_response(403, "forbidden", "an API key is required")
    try:
        body = parse_json_body(event.body)
    except RequestError as error:
        return error_response(error.status, error.code, error.message)
    base_url = event_api_base_url(event, settings)
    if base_url is None:
        return error_response(500, "misconfigured", "PUBLIC_API_URL is unset and the request has no Host")
    key = event.headers.get("idempotency-key")
    if key is not None and not 0 < len(key.strip()) <= MAX_KEY_LENGTH:
        return error_response(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters"
        )
    if not key:
        outcome = _place(user_id, body, None, base_url)
    else:
        request = {"user_id": user_id, "idempotency_key": key.strip(), "body": body, "base_url": base_url}
        try:
            outcome = _place_once(request=request)
        except _NotCached as failure:
            outcome = failure.outcome
        except IdempotencyAlreadyInProgressError:
            return error_response(
                409, "request_in_progress", "a request with this Idempotency-Key is in progress"
            )
        except IdempotencyValidationError:
            return error_response(
                422, "idempotency_key_reused", "this Idempotency-Key was used with a different request body"
            )
    return json_response(outcome["status_code"], outcome["body"])


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _idempotency.register_lambda_context(context)
    return app.resolve(event, context)
