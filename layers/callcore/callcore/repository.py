"""DynamoDB access for calls, personas, turns and stream tokens (the single table).

Sync boto3 on purpose: Lambda handlers are synchronous and the stream host runs these calls in a
thread, off the audio path. Every write that could race (slot counter, status moves, turns, token
nonces) is a conditional write, so concurrent Lambdas and retried callbacks cannot corrupt state.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from callcore.aws_session import AwsTimeouts, aws_client
from callcore.fleet import FLEET_PARTITION, TaskSlots, task_slots_item
from callcore.listing import CallListQuery, PageQuery, encode_cursor
from callcore.models import (
    LIVE_CALLS_PARTITION,
    CallRecord,
    CallStatus,
    CallSummary,
    DoNotCallEntry,
    Persona,
    StatusEvent,
    TranscriptTurn,
    call_key,
    do_not_call_key,
    persona_key,
    to_dynamo,
)
from callcore.table import ClientTable, ResourceTable, Table

if TYPE_CHECKING:
    from callcore.settings import Settings

__all__ = ["PERSONAS_PARTITION", "CallHistory", "CallRepository", "StoredPersona", "build_table"]

_DEFAULT_TTL = 90 * 24 * 3600
_MAX_READS_PER_PAGE = 10
PERSONAS_PARTITION = "PERSONAS"


def _is_condition_failure(error: ClientError) -> bool:
    """A refused condition (expected, e.g. a duplicate); any other cancellation is a real fault."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        codes = {r.get("Code") for r in reasons}
        return "ConditionalCheckFailed" in codes and codes <= {"ConditionalCheckFailed", "None", None}
    return False


def _key_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The table and GSI1 key of an item: where a page that ended on it resumes."""
    return {name: item[name] for name in ("PK", "SK", "GSI1PK", "GSI1SK") if name in item}


def _wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values ready for the table (``callcore.table`` types them); floats become Decimal."""
    return {k: to_dynamo(v) for k, v in item.items()}


def _assignments(
    fields: Mapping[str, Any], names: dict[str, str], values: dict[str, Any], keep_existing: frozenset[str]
) -> list[str]:
    """``SET`` clauses for ``fields`` (None values skipped); names in ``keep_existing`` only fill a gap."""
    sets = []
    for i, (name, value) in enumerate(fields.items()):
        if value is None:
            continue
        names[f"#f{i}"] = name
        values[f":f{i}"] = to_dynamo(value)
        if name in keep_existing:
            sets.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
        else:
            sets.append(f"#f{i} = :f{i}")
    return sets


def build_table(settings: Settings, *, timeouts: AwsTimeouts | None = None) -> ClientTable:
    """The table TABLE_NAME through a plain DynamoDB client, honouring DYNAMODB_ENDPOINT.

    The client (and botocore itself) is only loaded on the first request: a cold start pays for
    it once, inside the invocation that needs it, and never for a request refused before any read.
    """

    def dynamodb_client() -> Any:
        return aws_client(
            "dynamodb",
            region_name=settings.aws_region,
            endpoint_url=settings.dynamodb_endpoint,
            timeouts=timeouts,
        )

    return ClientTable(settings.table_name, dynamodb_client)


class CallHistory:
    """A call with everything stored under it: one Query, split by sort-key prefix."""

    def __init__(self, record: CallRecord, events: list[StatusEvent], turns: list[TranscriptTurn]) -> None:
        self.record = record
        self.events = events
        self.turns = turns

    def to_json(self) -> dict[str, Any]:
        return {
            **self.record.to_json(),
            "status_history": [e.to_json() for e in self.events],
            "turns": [t.to_json() for t in self.turns],
        }


@dataclasses.dataclass(frozen=True)
class StoredPersona:
    """A persona with its owner: an API key's user id, or None for an operator's read-only template.

    Templates are what the operator seeds (``examples/personas``, ``make seed``); every key can
    read and copy them and none can change them. A key's own personas are visible to it alone.
    """

    persona: Persona
    owner: str | None

    @property
    def is_template(self) -> bool:
        return self.owner is None

    def visible_to(self, user_id: str) -> bool:
        return self.owner is None or self.owner == user_id

    def to_json(self) -> dict[str, Any]:
        return {**self.persona.to_json(), "template": self.is_template}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StoredPersona:
        owner = item.get("owner")
        return cls(Persona.from_item(item), str(owner) if owner else None)


class CallRepository:
    """All reads and writes of the table; callers never build keys or expressions themselves."""

    def __init__(
        self, table: Any, *, item_ttl_seconds: int = _DEFAULT_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        """``table`` is a ``callcore.table.ClientTable`` (see ``from_settings``) or a boto3 Table
        resource (tests, local stack); both behave the same."""
        self.table = table
        self._db: Table = table if isinstance(table, (ClientTable, ResourceTable)) else ResourceTable(table)
        self._ttl = item_ttl_seconds
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, timeouts: AwsTimeouts | None = None) -> CallRepository:
        """``timeouts`` bounds each request (the stream host passes ``LIVE_CALL_TIMEOUTS``)."""
        return cls(
            build_table(settings, timeouts=timeouts), item_ttl_seconds=settings.call_ttl_days * 24 * 3600
        )

    def warm_client(self) -> None:
        """Build the DynamoDB client now rather than on the first request.

        A ``ClientTable`` builds its botocore client lazily (botocore and the service model: a
        long, blocking load), so a long-lived process calls this once at start-up, off its event
        loop, to keep that cost away from the first live call. Over a boto3 Table resource (tests,
        local stack) the client already exists and this does nothing. Safe to call more than once.
        """
        if isinstance(self._db, ClientTable):
            _ = self._db.client

    def _expiration(self) -> int:
        return int(self._clock()) + self._ttl

    # -- calls -------------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallRecord | None:
        item = self._db.call("get_item", Key=call_key(call_id), ConsistentRead=True).get("Item")
        return CallRecord.from_item(item) if item else None

    def create_call(self, record: CallRecord) -> bool:
        """Write a new call record; False if one with this id already exists (a retry)."""
        try:
            self._db.call("put_item", Item=record.to_item(), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def mark_dial_started(self, call_id: str, at: str) -> bool:
        """Claim the right to ask Twilio for this call; only the first claimant ever dials.

        This is the crash-window guard: if a Lambda dies after Twilio accepted the call but before
        the CallSid was stored, a retry finds the claim and does not dial a second time.
        """
        try:
            self._db.call(
                "update_item",
                Key=call_key(call_id),
                UpdateExpression="SET dial_started_at = :at",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(dial_started_at)",
                ExpressionAttributeValues={":at": at},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def link_call_sid(self, call_id: str, call_sid: str) -> None:
        """Store the CallSid on the record and the CallSid → call mapping (idempotent)."""
        self._db.call(
            "transact_write_items",
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._db.name,
                        "Key": _wire(call_key(call_id)),
                        "UpdateExpression": "SET call_sid = :sid",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": _wire({":sid": call_sid}),
                    }
                },
                {
                    "Put": {
                        "TableName": self._db.name,
                        "Item": _wire(
                            {
                                "PK": f"CALLSID#{call_sid}",
                                "SK": "META",
                                "entity": "call_sid",
                                "call_id": call_id,
                                "expiration": self._expiration(),
                            }
                        ),
                    }
                },
            ],
        )

    def find_call_id_by_sid(self, call_sid: str) -> str | None:
        item = self._db.call("get_item", Key={"PK": f"CALLSID#{call_sid}", "SK": "META"}).get("Item")
        return str(item["call_id"]) if item else None

    def get_call_history(self, call_id: str) -> CallHistory | None:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": f"CALL#{call_id}"},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.call("query", **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        meta = next((i for i in items if i["SK"] == "META"), None)
        if meta is None:
            return None
        events = [StatusEvent.from_item(i) for i in items if str(i["SK"]).startswith("STATUS#")]
        turns = [TranscriptTurn.from_item(i) for i in items if str(i["SK"]).startswith("TURN#")]
        return CallHistory(CallRecord.from_item(meta), events, turns)

    def list_calls_for_user(self, user_id: str, *, limit: int = 20) -> list[CallRecord]:
        records, _ = self.list_calls(user_id, CallListQuery(page=PageQuery(limit=limit)))
        return records

    def list_calls(self, user_id: str, query: CallListQuery) -> tuple[list[CallRecord], str | None]:
        """One page of the user's calls, newest first, and the cursor of the next page (or None).

        Filters on ``status`` are applied by DynamoDB after it reads each page, so a filtered page
        may need several reads; they stop once the page is full (at most ``_MAX_READS_PER_PAGE``,
        then a short page is returned with a cursor, never an endless scan).
        """
        partition = f"USER#{user_id}"
        condition = "GSI1PK = :pk"
        values: dict[str, Any] = {":pk": partition}
        if query.created_from or query.created_to:
            condition += " AND GSI1SK BETWEEN :from AND :to"
            values[":from"] = query.created_from or ""
            values[":to"] = query.created_to or "~"  # after every digit: no upper bound
        kwargs: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
        }
        if query.status is not None:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = query.status.value
        kwargs["ExpressionAttributeValues"] = values
        items, next_key = self._page("query", kwargs, query.page)
        cursor = encode_cursor(next_key, partition=partition) if next_key else None
        return [CallRecord.from_item(i) for i in items], cursor

    def _page(
        self, operation: str, kwargs: dict[str, Any], page: PageQuery
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Read until ``page.limit`` items are collected; the key to resume after, if any remain."""
        items: list[dict[str, Any]] = []
        start = page.start_key
        for _ in range(_MAX_READS_PER_PAGE):
            request = {**kwargs, "Limit": page.limit - len(items) + 1}
            if start:
                request["ExclusiveStartKey"] = start
            result = self._db.call(operation, **request)
            batch = result.get("Items", [])
            room = page.limit - len(items)
            items.extend(batch[:room])
            if len(batch) > room:  # one more item exists: the page ends at the last kept one
                return items, _key_of(items[-1])
            start = result.get("LastEvaluatedKey")
            if not start:
                return items, None
            if len(items) == page.limit:
                return items, _key_of(items[-1])
        return items, start

    # -- status ------------------------------------------------------------------------------

    def advance_status(
        self,
        record: CallRecord,
        status: CallStatus,
        *,
        fields: Mapping[str, Any],
        event: StatusEvent,
        keep_existing: frozenset[str] = frozenset(),
    ) -> bool:
        """Move the call to a higher-ranked status, atomically with its history and slot release.

        Fields named in ``keep_existing`` are only written when the record has none yet (the first
        ``error`` that explains a call stays).

        The condition ``status_rank < :rank`` makes duplicates and late (out-of-order) callbacks
        no-ops, and terminal states final. The user's active-call slot is released in the same
        transaction, so it is released exactly once no matter how many terminal callbacks arrive.
        Returns False when the move was stale.
        """
        names = {"#status": "status", "#rank": "status_rank"}
        values: dict[str, Any] = {":status": status.value, ":rank": status.rank}
        sets = ["#status = :status", "#rank = :rank"]
        sets.extend(_assignments(fields, names, values, keep_existing))
        release = status.is_terminal and record.holds_slot
        if release:
            sets.append("holds_slot = :false")
            values[":false"] = False
        # A final call leaves the live-calls index (GSI2): the reconciler never sees it again.
        remove = " REMOVE GSI2PK, GSI2SK" if status.is_terminal else ""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._db.name,
                    "Key": _wire(call_key(record.call_id)),
                    "UpdateExpression": "SET " + ", ".join(sets) + remove,
                    "ConditionExpression": "attribute_exists(PK) AND #rank < :rank",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": _wire(values),
                }
            },
            {
                "Put": {
                    "TableName": self._db.name,
                    "Item": _wire(event.to_item(expiration=self._expiration())),
                }
            },
        ]
        if release:
            items.append(
                {
                    "Update": {
                        "TableName": self._db.name,
                        "Key": _wire({"PK": f"USER#{record.user_id}", "SK": "ACTIVE"}),
                        "UpdateExpression": "ADD active :minus",
                        "ConditionExpression": "active > :zero",
                        "ExpressionAttributeValues": _wire({":minus": -1, ":zero": 0}),
                    }
                }
            )
        try:
            self._db.call("transact_write_items", TransactItems=items)
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            reasons = error.response.get("CancellationReasons") or []
            if release and len(reasons) == 3 and reasons[0].get("Code") in (None, "None"):
                # Only the counter refused (already zero): never block the status move on it.
                return self.advance_status(
                    dataclasses.replace(record, holds_slot=False),
                    status,
                    fields={**fields, "holds_slot": False},
                    event=event,
                    keep_existing=keep_existing,
                )
            return False
        return True

    def annotate_call(
        self,
        call_id: str,
        fields: Mapping[str, Any],
        event: StatusEvent,
        keep_existing: frozenset[str] = frozenset(),
    ) -> bool:
        """Record facts that do not move the state (AMD result, recording, stream events)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = _assignments(fields, names, values, keep_existing)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._db.name,
                    "Item": _wire(event.to_item(expiration=self._expiration())),
                }
            }
        ]
        if sets:
            items.insert(
                0,
                {
                    "Update": {
                        "TableName": self._db.name,
                        "Key": _wire(call_key(call_id)),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": _wire(values),
                    }
                },
            )
        try:
            self._db.call("transact_write_items", TransactItems=items)
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def set_call_fields(self, call_id: str, fields: Mapping[str, Any]) -> bool:
        """Write outcome facts (``usage``, ``cost_usd``, ``analysis``) on an existing call."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = _assignments(fields, names, values, frozenset())
        if not sets:
            return True
        try:
            self._db.call(
                "update_item",
                Key=call_key(call_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def record_delivery(self, call_id: str, event_id: str, entry: Mapping[str, Any]) -> None:
        """Keep the latest state of one webhook event's delivery under ``webhook_deliveries``."""
        names = {"#d": "webhook_deliveries", "#e": event_id}
        try:
            self._db.call(
                "update_item",
                Key=call_key(call_id),
                UpdateExpression="SET #d.#e = :entry",
                ConditionExpression="attribute_exists(PK) AND attribute_exists(#d)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":entry": to_dynamo(dict(entry))},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            # A record written before deliveries were kept has no map yet: create it with this entry.
            try:
                self._db.call(
                    "update_item",
                    Key=call_key(call_id),
                    UpdateExpression="SET #d = :map",
                    ConditionExpression="attribute_exists(PK) AND attribute_not_exists(#d)",
                    ExpressionAttributeNames={"#d": "webhook_deliveries"},
                    ExpressionAttributeValues={":map": to_dynamo({event_id: dict(entry)})},
                )
            except ClientError as again:
                if not _is_condition_failure(again):
                    raise

    # -- per-user concurrency ----------------------------------------------------------------

    def acquire_slot(self, user_id: str, limit: int) -> bool:
        """Take one of the user's ``limit`` concurrent-call slots; False when all are taken."""
        try:
            self._db.call(
                "update_item",
                Key={"PK": f"USER#{user_id}", "SK": "ACTIVE"},
                UpdateExpression="ADD active :one",
                ConditionExpression="attribute_not_exists(active) OR active < :limit",
                ExpressionAttributeValues={":one": 1, ":limit": limit},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def release_slot(self, user_id: str) -> None:
        """Give a slot back when no call record holds it (e.g. the record write failed)."""
        try:
            self._db.call(
                "update_item",
                Key={"PK": f"USER#{user_id}", "SK": "ACTIVE"},
                UpdateExpression="ADD active :minus",
                ConditionExpression="active > :zero",
                ExpressionAttributeValues={":minus": -1, ":zero": 0},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    # -- per-user daily budget ----------------------------------------------------------------

    def charge_daily_budget(
        self, user_id: str, day: str, *, seconds: int, max_calls: int, max_seconds: int
    ) -> str | None:
        """Count one call and reserve ``seconds`` of talk on ``day``; None when charged, else
        ``"calls"`` or ``"minutes"``: the budget that is spent. One conditional write."""
        if seconds > max_seconds or max_calls < 1:
            return "minutes" if max_calls >= 1 else "calls"
        try:
            self._db.call(
                "update_item",
                Key={"PK": f"USER#{user_id}", "SK": f"BUDGET#{day}"},
                UpdateExpression="ADD calls :one, reserved_seconds :seconds SET expiration = :expires",
                ConditionExpression=(
                    "(attribute_not_exists(calls) OR calls < :max_calls) AND "
                    "(attribute_not_exists(reserved_seconds) OR reserved_seconds <= :room)"
                ),
                ExpressionAttributeValues={
                    ":one": 1,
                    ":seconds": seconds,
                    ":max_calls": max_calls,
                    ":room": max_seconds - seconds,
                    ":expires": int(self._clock()) + 3 * 24 * 3600,
                },
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            used = self.daily_budget_used(user_id, day)
            return "calls" if used[0] >= max_calls else "minutes"
        return None

    def refund_daily_budget(self, user_id: str, day: str, *, seconds: int, calls: int = 0) -> None:
        """Give back reserved seconds a call did not use (and the call itself if it never ran)."""
        if seconds <= 0 and calls <= 0:
            return
        self._db.call(
            "update_item",
            Key={"PK": f"USER#{user_id}", "SK": f"BUDGET#{day}"},
            UpdateExpression="ADD calls :calls, reserved_seconds :seconds",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":calls": -calls, ":seconds": -seconds},
        )

    def daily_budget_used(self, user_id: str, day: str) -> tuple[int, int]:
        """(calls, reserved seconds) charged to ``user_id`` on ``day``."""
        item = self._db.call(
            "get_item", Key={"PK": f"USER#{user_id}", "SK": f"BUDGET#{day}"}, ConsistentRead=True
        ).get("Item")
        if not item:
            return (0, 0)
        return (int(item.get("calls", 0)), int(item.get("reserved_seconds", 0)))

    def active_calls(self, user_id: str) -> int:
        item = self._db.call(
            "get_item", Key={"PK": f"USER#{user_id}", "SK": "ACTIVE"}, ConsistentRead=True
        ).get("Item")
        return int(item["active"]) if item else 0

    # -- the reconciler's view: calls not final past their time limit --------------------------

    def stuck_call_ids(self, *, now_iso: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of calls not yet final whose ``reconcile_after`` has passed, the
        longest-stuck first (one query of the sparse GSI2; bounded however many calls are live)."""
        items = self._db.call(
            "query",
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :live AND GSI2SK < :now",
            ExpressionAttributeValues={":live": LIVE_CALLS_PARTITION, ":now": now_iso},
            Limit=limit,
        ).get("Items", [])
        return [str(item["PK"]).removeprefix("CALL#") for item in items]  # GSI2 projects keys only

    def leave_live_index(self, call_id: str) -> None:
        """Drop a call that is already final from GSI2 (a record written before the removal)."""
        self._db.call("update_item", Key=call_key(call_id), UpdateExpression="REMOVE GSI2PK, GSI2SK")

    # -- stream-host fleet slots (callcore.fleet) ---------------------------------------------

    def report_task_slots(self, slots: TaskSlots) -> None:
        """One stream-host task's live calls and capacity (overwrites its previous report)."""
        self._db.call("put_item", Item=task_slots_item(slots))

    def withdraw_task_slots(self, task_id: str) -> None:
        """A stopped task has no slots at all: its report goes (idempotent)."""
        self._db.call("delete_item", Key={"PK": FLEET_PARTITION, "SK": f"TASK#{task_id}"})

    def task_slot_reports(self) -> list[TaskSlots]:
        """Every task's last report (one small partition: one item per task)."""
        items = self._db.call(
            "query",
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": FLEET_PARTITION},
        ).get("Items", [])
        return [TaskSlots.from_item(item) for item in items]

    # -- personas ----------------------------------------------------------------------------

    def get_persona(self, persona_id: str) -> Persona | None:
        """Any persona by id, whoever owns it (the stream host and webhooks; never an API caller)."""
        stored = self.get_stored_persona(persona_id)
        return stored.persona if stored else None

    def get_stored_persona(self, persona_id: str) -> StoredPersona | None:
        item = self._db.call("get_item", Key=persona_key(persona_id)).get("Item")
        return StoredPersona.from_item(item) if item else None

    def get_persona_for(self, user_id: str, persona_id: str) -> Persona | None:
        """The persona if ``user_id`` may use it (its own, or a template); else None, as if missing."""
        stored = self.get_stored_persona(persona_id)
        return stored.persona if stored is not None and stored.visible_to(user_id) else None

    def put_persona(self, persona: Persona) -> None:
        """Store an operator template (seeding); unconditional, and never through the API."""
        self._db.call("put_item", Item=to_dynamo(persona.to_item()))

    def save_owned_persona(self, persona: Persona, owner: str) -> bool:
        """Create or replace ``owner``'s persona; False when the id is a template or another key's.

        One conditional write, so two keys racing for a new id cannot both win it.
        """
        item = {**persona.to_item(), "owner": owner, "GSI1PK": f"{PERSONAS_PARTITION}#{owner}"}
        try:
            self._db.call(
                "put_item",
                Item=to_dynamo(item),
                ConditionExpression="attribute_not_exists(PK) OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def list_personas(self, owner: str | None = None) -> list[Persona]:
        """The templates, plus ``owner``'s own personas when an owner is given."""
        return [stored.persona for stored in self.list_stored_personas(owner)]

    def list_stored_personas(self, owner: str | None = None) -> list[StoredPersona]:
        partitions = [PERSONAS_PARTITION] + ([f"{PERSONAS_PARTITION}#{owner}"] if owner else [])
        found: list[StoredPersona] = []
        for partition in partitions:
            kwargs: dict[str, Any] = {
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": {":pk": partition},
            }
            while True:
                page = self._db.call("query", **kwargs)
                found.extend(StoredPersona.from_item(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def list_stored_personas_page(
        self, owner: str, page: PageQuery
    ) -> tuple[list[StoredPersona], str | None]:
        """One page of what ``owner`` may see: its own personas (id order), then the templates.

        The cursor is bound to the partition it stopped in (see ``callcore.listing``), so a page
        that starts in the templates never re-reads the owner's personas.
        """
        partitions = [f"{PERSONAS_PARTITION}#{owner}", PERSONAS_PARTITION]
        start = page.start_key
        if start is not None and start.get("GSI1PK") == PERSONAS_PARTITION:
            partitions = partitions[1:]
        found: list[StoredPersona] = []
        for index, partition in enumerate(partitions):
            kwargs: dict[str, Any] = {
                "IndexName": "GSI1",
                "KeyConditionExpression": "GSI1PK = :pk",
                "ExpressionAttributeValues": {":pk": partition},
            }
            resume = start if start is not None and start.get("GSI1PK") == partition else None
            items, next_key = self._page(
                "query", kwargs, PageQuery(limit=page.limit - len(found), start_key=resume)
            )
            found.extend(StoredPersona.from_item(item) for item in items)
            if next_key:
                return found, encode_cursor(next_key, partition=partition)
            if len(found) >= page.limit and index + 1 < len(partitions):
                # This partition ended exactly at the page's end: resume after its last item.
                return found, encode_cursor(_key_of(items[-1]), partition=partition)
        return found, None

    # -- stream host -------------------------------------------------------------------------

    def put_turn(self, call_id: str, turn: TranscriptTurn) -> None:
        """Write a transcript turn once; a retry with the same index is a no-op."""
        try:
            self._db.call(
                "put_item",
                Item=turn.to_item(call_id, expiration=self._expiration()),
                ConditionExpression="attribute_not_exists(SK)",
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def consume_stream_token(self, nonce: str, expires_at: int, *, claimant: str) -> bool:
        """Burn a stream token's nonce for one media socket; False means another socket used it
        first (a replay).

        ``claimant`` is unique to the socket asking (never sent by the caller). The conditional
        write is retried by botocore after a timeout (``LIVE_CALL_TIMEOUTS``), and a retry of a
        write that did land meets its own claim: that socket still holds the token, so the claim
        is read back (strongly consistent) before anything is called a replay.
        """
        key = {"PK": f"STREAMTOKEN#{nonce}", "SK": "USED"}
        try:
            self._db.call(
                "put_item",
                Item={**key, "claimant": claimant, "expiration": int(expires_at) + 3600},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            held = self._db.call("get_item", Key=key, ConsistentRead=True).get("Item") or {}
            return bool(held.get("claimant") == claimant)
        return True

    def finish_call(self, call_id: str, summary: CallSummary) -> None:
        """Record how the stream host ended the call; the status itself comes from Twilio.

        An unknown call id is ignored: the stream host must not crash while hanging up.
        """
        try:
            self._finish(call_id, summary)
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def _finish(self, call_id: str, summary: CallSummary) -> None:
        sets = "SET ended_at = :e, end_reason = :r, turn_count = :t, stream_duration_seconds = :d"
        values: dict[str, Any] = {
            ":e": summary.ended_at,
            ":r": summary.end_reason,
            ":t": summary.turns,
            ":d": summary.duration_seconds,
        }
        if summary.usage is not None:
            sets += ", #usage = :u"
            values[":u"] = to_dynamo(summary.usage)
        extra: dict[str, Any] = {}
        if summary.usage is not None:
            extra["ExpressionAttributeNames"] = {"#usage": "usage"}
        self._db.call(
            "update_item",
            Key=call_key(call_id),
            UpdateExpression=sets,
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues=values,
            **extra,
        )

    # -- do-not-call -------------------------------------------------------------------------

    def is_on_do_not_call_list(self, user_id: str, number: str) -> bool:
        """Checked before every dial (strongly consistent: a number added a moment ago counts)."""
        item = self._db.call(
            "get_item", Key=do_not_call_key(user_id, number), ConsistentRead=True, ProjectionExpression="PK"
        ).get("Item")
        return item is not None

    def get_do_not_call(self, user_id: str, number: str) -> DoNotCallEntry | None:
        item = self._db.call("get_item", Key=do_not_call_key(user_id, number), ConsistentRead=True).get(
            "Item"
        )
        return DoNotCallEntry.from_item(item) if item else None

    def put_do_not_call(self, entry: DoNotCallEntry) -> DoNotCallEntry:
        """Add a number (idempotent: an existing entry keeps its first date and source)."""
        try:
            self._db.call("put_item", Item=entry.to_item(), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            return self.get_do_not_call(entry.user_id, entry.number) or entry
        return entry

    def record_opt_out(self, call_id: str, *, at: str) -> DoNotCallEntry | None:
        """The callee asked never to be called again: list the number the call reached, then mark
        the call record ``opted_out``.

        The list entry is written first: it is what every later dial checks, so a failure between
        the two writes can leave an unmarked record but never a number that is dialled again.
        The number is the far end of the call: ``to_number`` outbound, ``from_number`` inbound.
        Returns the entry (the first one if the number was already listed), None for an unknown call.
        """
        record = self.get_call(call_id)
        if record is None:
            return None
        number = record.to_number if record.direction == "outbound" else record.from_number
        entry = self.put_do_not_call(
            DoNotCallEntry(
                user_id=record.user_id, number=number, added_at=at, source="opt_out", call_id=call_id
            )
        )
        self._db.call(
            "update_item",
            Key=call_key(call_id),
            UpdateExpression="SET opted_out = :t, opted_out_at = if_not_exists(opted_out_at, :at)",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":t": True, ":at": at},
        )
        return entry

    def record_disclosure(self, call_id: str, *, at: str) -> None:
        """The opening disclosure was heard in full (the first time counts)."""
        self._set_once(call_id, "disclosure_played_at", at)

    def record_consent(self, call_id: str, *, given: bool, at: str) -> None:
        """The callee's answer to the recording question (the first answer counts)."""
        self._set_once(call_id, "recording_consent", "given" if given else "refused", at_field=at)

    def record_update_refusal(self, call_id: str, refusal: Mapping[str, Any]) -> None:
        """A live update (transfer, digits) did not happen: ``update_error`` (the latest) plus an
        ``update`` event in the status history (every one). ``refusal`` is
        ``callcore.twilio_errors.update_refusal``'s; the call's ``error`` is left alone."""
        at = str(refusal["at"])
        event = StatusEvent(
            call_id=call_id,
            kind="update",
            at=at,
            seq=f"update-{refusal.get('update', 'call')}",
            status="refused",
            detail={
                k: refusal[k] for k in ("update", "source", "code", "message", "http_status") if k in refusal
            },
        )
        self.annotate_call(call_id, {"update_error": dict(refusal), "updated_at": at}, event)

    def _set_once(self, call_id: str, name: str, value: str, *, at_field: str | None = None) -> None:
        sets = f"{name} = if_not_exists({name}, :v)"
        values: dict[str, Any] = {":v": value}
        if at_field is not None:
            sets += f", {name}_at = if_not_exists({name}_at, :at)"
            values[":at"] = at_field
        try:
            self._db.call(
                "update_item",
                Key=call_key(call_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def delete_do_not_call(self, user_id: str, number: str) -> bool:
        """Remove a number; False when it was not on the list."""
        response = self._db.call("delete_item", Key=do_not_call_key(user_id, number), ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def list_do_not_call(
        self, user_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[DoNotCallEntry], str | None]:
        """One page of the user's list in number order, and the number to continue after (or None)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": do_not_call_key(user_id, "")["PK"]},
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = do_not_call_key(user_id, after)
        page = self._db.call("query", **kwargs)
        entries = [DoNotCallEntry.from_item(i) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return entries, (str(last["SK"]) if last else None)
