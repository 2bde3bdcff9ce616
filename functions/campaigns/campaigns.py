"""Campaigns API: POST /campaigns (JSON or CSV), GET /campaigns, GET /campaigns/{id}, and
POST /campaigns/{id}/pause|resume|cancel. Only the key that created a campaign sees or steers it.

The engine that dials is elsewhere (``campaign_scheduler``, ``campaign_dialer``); this handler
validates and stores, and changes a campaign's state with conditional writes. Pausing takes effect
at the next dial (the dialer checks the state in the same transaction that takes a slot);
cancelling never cuts a call in progress.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from callcore.api import (
    RequestError,
    encode_page_cursor,
    error_response,
    json_response,
    keyed_route,
    page_cursor,
    page_limit,
    rest_resolver,
)
from callcore.campaign_repository import CampaignRepository
from callcore.campaign_submission import submit_campaign
from callcore.campaigns import Campaign, CampaignError, CampaignState, iso_utc
from callcore.logging import build_logger
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tracing import build_tracer

settings = Settings.from_env()
calls = CallRepository.from_settings(settings)
campaigns = CampaignRepository.from_settings(settings)
logger = build_logger("campaigns")
tracer = build_tracer("campaigns")
app = rest_resolver()

_MAX_PAGE = 500
_TRANSITIONS = {
    "pause": (CampaignState.PAUSED, [CampaignState.ACTIVE]),
    "resume": (CampaignState.ACTIVE, [CampaignState.PAUSED]),
    "cancel": (CampaignState.CANCELLED, [CampaignState.ACTIVE, CampaignState.PAUSED]),
}


_BAD_CURSOR = RequestError(
    400, "invalid_cursor", "'cursor' is not a cursor this API returned", field="cursor"
)


def _error(error: CampaignError) -> Response[str]:
    return json_response(error.status, error.to_json())


def _owned(campaign_id: str, user_id: str) -> Campaign | None:
    campaign = campaigns.get(campaign_id)
    return campaign if campaign is not None and campaign.user_id == user_id else None


def _not_found(campaign_id: str) -> Response[str]:
    return error_response(404, "campaign_not_found", f"no campaign {campaign_id!r} for this API key")


@app.post("/campaigns")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def create_campaign(user_id: str) -> Response[str]:
    event = app.current_event
    try:
        submitted = submit_campaign(
            calls=calls,
            campaigns=campaigns,
            settings=settings,
            user_id=user_id,
            content_type=event.headers.get("content-type") or "application/json",
            body=event.decoded_body or "",
            query=event.query_string_parameters or {},
            now=datetime.now(UTC),
        )
    except CampaignError as error:
        logger.warning("campaign refused", extra={"error": error.code, "field": error.field})
        return _error(error)
    logger.info(
        "campaign created",
        extra={
            "campaign_id": submitted.campaign.campaign_id,
            "recipients": submitted.campaign.recipient_count,
            "refused": len(submitted.refused),
        },
    )
    return json_response(202, submitted.to_json())


@app.get("/campaigns")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def list_campaigns(user_id: str) -> Response[str]:
    query = app.current_event.query_string_parameters
    scope = f"CAMPAIGNS#{user_id}"
    limit = page_limit(query, default=20, maximum=_MAX_PAGE)
    position = page_cursor(query, scope=scope)
    found, last = campaigns.list_for_user(user_id, limit=limit, cursor=_index_key(position))
    next_cursor = encode_page_cursor(json.dumps(last, sort_keys=True) if last else None, scope=scope)
    return json_response(200, {"campaigns": [c.to_json() for c in found], "next_cursor": next_cursor})


def _index_key(position: str | None) -> dict[str, Any] | None:
    """The listing's DynamoDB key inside a (scope-checked) cursor position."""
    if position is None:
        return None
    key = json.loads(position)
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise RequestError(
            400, "invalid_cursor", "'cursor' is not a cursor this API returned", field="cursor"
        )
    return key


@app.get("/campaigns/<campaign_id>")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def get_campaign(user_id: str, campaign_id: str) -> Response[str]:
    campaign = _owned(campaign_id, user_id)
    if campaign is None:
        return _not_found(campaign_id)
    query = app.current_event.query_string_parameters
    scope = f"CAMPAIGN#{campaign_id}"
    limit = page_limit(query, default=100, maximum=_MAX_PAGE)
    position = page_cursor(query, scope=scope)
    if position is not None and not position.isdigit():
        raise RequestError(
            400, "invalid_cursor", "'cursor' is not a cursor this API returned", field="cursor"
        )
    recipients, last_row = campaigns.list_recipients(
        campaign_id, limit=limit, after_row=int(position) if position else None
    )
    return json_response(
        200,
        {
            **campaign.to_json(),
            "recipient_page": [r.to_json() for r in recipients],
            "next_cursor": encode_page_cursor(str(last_row) if last_row is not None else None, scope=scope),
        },
    )


def _transition(user_id: str, campaign_id: str, action: str) -> Response[str]:
    campaign = _owned(campaign_id, user_id)
    if campaign is None:
        return _not_found(campaign_id)
    target, sources = _TRANSITIONS[action]
    if not campaigns.set_state(campaign_id, target, allowed_from=sources, at=iso_utc(datetime.now(UTC))):
        current = campaigns.get(campaign_id)
        state = current.state.value if current else "gone"
        return error_response(409, "invalid_state", f"cannot {action} a campaign that is {state}")
    if target is not CampaignState.PAUSED:
        campaigns.register(campaign_id)  # the scheduler resumes it, or sweeps the cancelled rest
    logger.info("campaign %s", action, extra={"campaign_id": campaign_id})
    return json_response(202, {"campaign_id": campaign_id, "state": target.value})


@app.post("/campaigns/<campaign_id>/pause")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def pause(user_id: str, campaign_id: str) -> Response[str]:
    return _transition(user_id, campaign_id, "pause")


@app.post("/campaigns/<campaign_id>/resume")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def resume(user_id: str, campaign_id: str) -> Response[str]:
    return _transition(user_id, campaign_id, "resume")


@app.post("/campaigns/<campaign_id>/cancel")
@tracer.capture_method(capture_response=False)
@keyed_route(app)
def cancel(user_id: str, campaign_id: str) -> Response[str]:
    return _transition(user_id, campaign_id, "cancel")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
