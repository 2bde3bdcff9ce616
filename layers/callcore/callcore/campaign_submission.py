"""Accepting a campaign: parse (JSON or CSV), validate whole, then store it for the scheduler.

Kept apart from the engine: this runs once per ``POST /campaigns``, inside the API's time limit,
and must refuse bad input (400 naming the field or row) before anything is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcore.campaign_repository import CampaignRepository
from callcore.campaigns import (
    Campaign,
    CampaignError,
    CampaignState,
    RecipientState,
    check_recipients,
    iso_utc,
    options_from_query,
    parse_csv_rows,
    parse_json_rows,
    parse_options,
)
from callcore.phone import DialPolicy
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.variables import placeholders

__all__ = ["SubmittedCampaign", "submit_campaign"]


@dataclass(frozen=True)
class SubmittedCampaign:
    campaign: Campaign
    refused: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign.campaign_id,
            "state": self.campaign.state.value,
            "recipients": self.campaign.recipient_count,
            "refused": self.refused,
        }


def submit_campaign(
    *,
    calls: CallRepository,
    campaigns: CampaignRepository,
    settings: Settings,
    user_id: str,
    content_type: str,
    body: str,
    query: Mapping[str, str],
    now: datetime,
) -> SubmittedCampaign:
    """Validate and store a campaign; raises ``CampaignError`` (4xx) with nothing written."""
    if content_type.split(";")[0].strip().lower() == "text/csv":
        options_body = options_from_query(query)
        rows = parse_csv_rows(body)
    else:
        if query:
            raise CampaignError(
                400, "unknown_field", "query parameters are for the CSV form; put options in the JSON body"
            )
        try:
            data = json.loads(body or "")
        except ValueError:
            raise CampaignError(
                400, "invalid_json", "the body must be JSON, or CSV with Content-Type: text/csv"
            ) from None
        if not isinstance(data, Mapping):
            raise CampaignError(400, "invalid_body", "the body must be a JSON object")
        options_body = dict(data)
        if "recipients" not in data:
            raise CampaignError(400, "missing_field", "'recipients' is required", field="recipients")
        rows = parse_json_rows(data["recipients"])
    options = parse_options(
        options_body,
        key_limit=settings.max_concurrent_calls_per_user,
        allow_loopback_http=settings.webhook_allow_loopback_http,
    )
    persona = calls.get_persona(options.persona_id)
    if persona is None:
        raise CampaignError(
            404, "persona_not_found", f"persona {options.persona_id!r} does not exist", field="persona_id"
        )
    campaign_id = str(uuid.uuid4())
    checked = check_recipients(
        rows,
        options,
        campaign_id=campaign_id,
        placeholders=frozenset(placeholders(persona)),
        dial_policy=DialPolicy.from_settings(settings),
        on_do_not_call_list=lambda number: calls.is_on_do_not_call_list(user_id, number),
        now=now,
    )
    refused = [r.to_json() for r in checked.refused]
    if not checked.accepted:
        raise CampaignError(
            400, "no_recipients", "every row was refused; see details", field="recipients", details=refused
        )
    stamp = iso_utc(now)
    campaign = Campaign(
        campaign_id=campaign_id,
        user_id=user_id,
        options=options,
        state=CampaignState.ACTIVE,
        created_at=stamp,
        updated_at=stamp,
        recipient_count=len(checked.accepted),
        refused_count=len(refused),
        counts={RecipientState.PENDING.value: len(checked.accepted)},
    )
    campaigns.create(campaign, checked.accepted)
    return SubmittedCampaign(campaign, refused)
