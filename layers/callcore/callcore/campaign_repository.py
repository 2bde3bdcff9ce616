"""DynamoDB access for campaigns and their recipients (same single table as calls).

Items (see docs/interfaces.md):
* ``CAMPAIGN#<id>`` / ``META``: options, state, ``live`` (calls placed and not yet ended) and one
  counter per recipient state (``n_pending``, ``n_calling``…); listed per key through GSI1
  (``CAMPAIGNS#<user>``).
* ``CAMPAIGN#<id>`` / ``R#<row>``: a recipient. While it waits for the scheduler it carries the
  sparse GSI1 entry ``CAMPAIGNDUE#<id>`` (pending) or ``CAMPAIGNWATCH#<id>`` (queued or calling,
  due when overdue) / ``<due iso>#<row>``, so "who is due now" is one Query of each partition,
  and pending recipients are read only as far as there are free slots.
* ``CAMPAIGNS_ACTIVE`` / ``<id>``: the campaigns the scheduler still has to visit.

Every recipient move is one transaction: the recipient's conditional update (expected state,
attempt and call) plus the campaign counters, and, when a call is placed, ``live < max_concurrent``
on the campaign. Two dialers holding the same message, or a late duplicate callback, therefore
cannot both win, and the counters never drift from the recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from callcore.campaigns import (
    Campaign,
    CampaignState,
    Recipient,
    RecipientState,
    campaign_key,
    campaign_options_from_item,
    campaign_options_to_item,
    due_index,
    due_partition,
    recipient_key,
)
from callcore.models import from_dynamo, to_dynamo
from callcore.repository import build_table
from callcore.settings import Settings
from callcore.table import ClientTable, ResourceTable, Table

__all__ = ["CampaignRepository", "Move", "MoveResult"]

_REGISTRY_PK = "CAMPAIGNS_ACTIVE"
MoveResult = Literal["moved", "recipient_changed", "campaign_refused"]


def _condition_codes(error: ClientError) -> list[str] | None:
    """Per-item cancellation codes of a refused transaction, or None for any other error."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return ["ConditionalCheckFailed"]
    if code != "TransactionCanceledException":
        return None
    reasons = error.response.get("CancellationReasons") or []
    codes = [str(r.get("Code") or "None") for r in reasons]
    if not set(codes) <= {"ConditionalCheckFailed", "None"}:
        return None
    return codes


def _counter(state: RecipientState) -> str:
    return f"n_{state.value}"


@dataclass(frozen=True)
class Move:
    """One recipient transition; the conditions say what the mover believed the recipient was."""

    campaign_id: str
    row: int
    source: RecipientState
    target: RecipientState
    at: str
    fields: Mapping[str, Any]
    due_at: str | None = None  # GSI1 entry (scheduler attention) after the move; None removes it
    expect_attempts: int | None = None
    expect_call_id: str | None = None
    live_delta: int = 0
    max_live: int | None = None  # campaign condition: live < max_live (taking a slot)
    require_active: bool = False  # campaign condition: state = active


class CampaignRepository:
    def __init__(self, table: Any) -> None:
        """``table``: a ``callcore.table`` Table, or a boto3 Table resource (tests, local stack)."""
        self._db: Table = table if isinstance(table, (ClientTable, ResourceTable)) else ResourceTable(table)

    @classmethod
    def from_settings(cls, settings: Settings) -> CampaignRepository:
        return cls(build_table(settings))

    # -- campaigns ---------------------------------------------------------------------------

    def create(self, campaign: Campaign, recipients: Iterable[Recipient]) -> None:
        """Recipients first, then the campaign, then the scheduler's registry entry: a campaign is
        visible (and dialled) only once all its recipients exist."""
        batch: list[dict[str, Any]] = []
        for recipient in recipients:
            batch.append({"PutRequest": {"Item": recipient.to_item()}})
            if len(batch) == 25:
                self._batch_write(batch)
                batch = []
        if batch:
            self._batch_write(batch)
        self._db.call(
            "put_item", Item=self._campaign_item(campaign), ConditionExpression="attribute_not_exists(PK)"
        )
        self.register(campaign.campaign_id)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._db.name: requests}
        for _ in range(10):
            response = self._db.call("batch_write_item", RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
        raise RuntimeError("DynamoDB left campaign recipients unprocessed after 10 tries")

    @staticmethod
    def _campaign_item(campaign: Campaign) -> dict[str, Any]:
        item: dict[str, Any] = {
            **campaign_key(campaign.campaign_id),
            "GSI1PK": f"CAMPAIGNS#{campaign.user_id}",
            "GSI1SK": f"{campaign.created_at}#{campaign.campaign_id}",
            "entity": "campaign",
            "campaign_id": campaign.campaign_id,
            "user_id": campaign.user_id,
            "state": campaign.state.value,
            "created_at": campaign.created_at,
            "updated_at": campaign.updated_at,
            "recipient_count": campaign.recipient_count,
            "refused_count": campaign.refused_count,
            "live": campaign.live,
            **{k: v for k, v in campaign_options_to_item(campaign.options).items() if v is not None},
        }
        for state in RecipientState:
            item[_counter(state)] = int(campaign.counts.get(state.value, 0))
        return to_dynamo(item)  # type: ignore[no-any-return]

    @staticmethod
    def _campaign_from_item(item: Mapping[str, Any]) -> Campaign:
        data = from_dynamo(item)
        return Campaign(
            campaign_id=data["campaign_id"],
            user_id=data["user_id"],
            options=campaign_options_from_item(data),
            state=CampaignState(data["state"]),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            recipient_count=int(data.get("recipient_count", 0)),
            refused_count=int(data.get("refused_count", 0)),
            live=int(data.get("live", 0)),
            counts={s.value: int(data.get(_counter(s), 0)) for s in RecipientState},
        )

    def get(self, campaign_id: str) -> Campaign | None:
        item = self._db.call("get_item", Key=campaign_key(campaign_id), ConsistentRead=True).get("Item")
        return self._campaign_from_item(item) if item else None

    def list_for_user(
        self, user_id: str, *, limit: int, cursor: Mapping[str, Any] | None = None
    ) -> tuple[list[Campaign], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": f"CAMPAIGNS#{user_id}"},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = dict(cursor)
        page = self._db.call("query", **kwargs)
        return [self._campaign_from_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")

    def set_state(
        self, campaign_id: str, target: CampaignState, *, allowed_from: Iterable[CampaignState], at: str
    ) -> bool:
        """Move the campaign's own state (pause, resume, cancel, complete); False if not allowed now."""
        sources = [s.value for s in allowed_from]
        values: dict[str, Any] = {":to": target.value, ":at": at}
        names = {"#state": "state"}
        placeholders = []
        for i, value in enumerate(sources):
            values[f":s{i}"] = value
            placeholders.append(f":s{i}")
        try:
            self._db.call(
                "update_item",
                Key=campaign_key(campaign_id),
                UpdateExpression="SET #state = :to, updated_at = :at",
                ConditionExpression=f"attribute_exists(PK) AND #state IN ({', '.join(placeholders)})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _condition_codes(error) is None:
                raise
            return False
        return True

    # -- the scheduler's registry ------------------------------------------------------------

    def register(self, campaign_id: str) -> None:
        self._db.call("put_item", Item={"PK": _REGISTRY_PK, "SK": campaign_id, "entity": "campaign_registry"})

    def unregister(self, campaign_id: str) -> None:
        self._db.call("delete_item", Key={"PK": _REGISTRY_PK, "SK": campaign_id})

    def registered(self) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": _REGISTRY_PK},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.call("query", **kwargs)
            ids.extend(str(i["SK"]) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- recipients --------------------------------------------------------------------------

    def get_recipient(self, campaign_id: str, row: int) -> Recipient | None:
        item = self._db.call("get_item", Key=recipient_key(campaign_id, row), ConsistentRead=True).get("Item")
        return Recipient.from_item(item) if item else None

    def list_recipients(
        self, campaign_id: str, *, limit: int, after_row: int | None = None
    ) -> tuple[list[Recipient], int | None]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :r)",
            "ExpressionAttributeValues": {":pk": campaign_key(campaign_id)["PK"], ":r": "R#"},
            "Limit": limit,
        }
        if after_row is not None:
            kwargs["ExclusiveStartKey"] = recipient_key(campaign_id, after_row)
        page = self._db.call("query", **kwargs)
        recipients = [Recipient.from_item(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return recipients, (int(str(last["SK"])[2:]) if last else None)

    def due(
        self, campaign_id: str, *, until: str | None, limit: int, watched: bool = False
    ) -> list[Recipient]:
        """Pending recipients (``watched``: queued or calling ones) needing the scheduler by
        ``until`` (None: all), earliest first: one Query of a sparse GSI1 partition, whose entries
        carry the whole item (projection ALL), so no recipient is read again. The index is
        eventually consistent, so a recipient may be a moment old: every caller acts on it only
        through a write conditioned on what it read."""
        expression = "GSI1PK = :pk"
        values: dict[str, Any] = {":pk": due_partition(campaign_id, watched=watched)}
        if until is not None:
            expression += " AND GSI1SK <= :until"
            values[":until"] = f"{until}#999999"
        page = self._db.call(
            "query",
            IndexName="GSI1",
            KeyConditionExpression=expression,
            ExpressionAttributeValues=values,
            Limit=limit,
        )
        return [Recipient.from_item(i) for i in page.get("Items", [])]

    def set_due(
        self,
        campaign_id: str,
        row: int,
        *,
        state: RecipientState,
        due_at: str,
        fields: Mapping[str, Any],
        expect_attempts: int | None = None,
    ) -> bool:
        """Re-time a recipient's scheduler entry without changing its state (False if it moved on)."""
        sets = ["GSI1PK = :gpk", "GSI1SK = :gsk"]
        values: dict[str, Any] = {":state": state.value, **_index_values(campaign_id, due_at, row, state)}
        names = {"#state": "state"}
        condition = "#state = :state"
        if expect_attempts is not None:
            condition += " AND attempts = :attempts"
            values[":attempts"] = expect_attempts
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = to_dynamo(value)
            sets.append(f"#f{i} = :f{i}")
        try:
            self._db.call(
                "update_item",
                Key=recipient_key(campaign_id, row),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _condition_codes(error) is None:
                raise
            return False
        return True

    def move(self, move: Move) -> MoveResult:
        """Apply one recipient transition and the campaign counters atomically."""
        names: dict[str, str] = {"#state": "state"}
        values: dict[str, Any] = {":from": move.source.value, ":to": move.target.value, ":at": move.at}
        sets = ["#state = :to", "updated_at = :at"]
        removes: list[str] = []
        for i, (name, value) in enumerate(move.fields.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
                continue
            values[f":f{i}"] = to_dynamo(value)
            sets.append(f"#f{i} = :f{i}")
        if move.due_at is not None:
            sets += ["GSI1PK = :gpk", "GSI1SK = :gsk"]
            values.update(_index_values(move.campaign_id, move.due_at, move.row, move.target))
        else:
            removes += ["GSI1PK", "GSI1SK"]
        conditions = ["#state = :from"]
        if move.expect_attempts is not None:
            conditions.append("attempts = :attempts")
            values[":attempts"] = move.expect_attempts
        if move.expect_call_id is not None:
            conditions.append("current_call_id = :call")
            values[":call"] = move.expect_call_id
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._db.name,
                    "Key": recipient_key(move.campaign_id, move.row),
                    "UpdateExpression": expression,
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        campaign_update = self._counter_update(move)
        if campaign_update is not None:
            items.append({"Update": campaign_update})
        try:
            self._db.call("transact_write_items", TransactItems=items)
        except ClientError as error:
            codes = _condition_codes(error)
            if codes is None:
                raise
            if codes[0] == "ConditionalCheckFailed":
                return "recipient_changed"
            return "campaign_refused"
        return "moved"

    def _counter_update(self, move: Move) -> dict[str, Any] | None:
        adds: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if move.source is not move.target:
            names.update({"#from": _counter(move.source), "#to": _counter(move.target)})
            values.update({":minus": -1, ":plus": 1})
            adds += ["#from :minus", "#to :plus"]
        if move.live_delta:
            adds.append("live :live")
            values[":live"] = move.live_delta
        if not adds:
            return None
        conditions = ["attribute_exists(PK)"]
        if move.max_live is not None:
            conditions.append("live < :max")
            values[":max"] = move.max_live
        if move.require_active:
            conditions.append("#cstate = :active")
            names["#cstate"] = "state"
            values[":active"] = CampaignState.ACTIVE.value
        update: dict[str, Any] = {
            "TableName": self._db.name,
            "Key": campaign_key(move.campaign_id),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return update


def _index_values(campaign_id: str, due_at: str, row: int, state: RecipientState) -> dict[str, str]:
    index = due_index(campaign_id, due_at, row, state)
    return {":gpk": index["GSI1PK"], ":gsk": index["GSI1SK"]}
