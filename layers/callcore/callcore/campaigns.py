"""Campaigns: the nouns (campaign, recipient, outcome, retry policy) and validating a submission.

A submission is checked whole before anything is written: the options (window, days, time zone,
concurrency, retry policy) and the persona's placeholders are 400s naming the field; each recipient
row is either accepted or listed as refused with its reason (invalid or disallowed number, no
known time zone, on the do-not-call list, a duplicate of an earlier row). Nothing is dropped
silently. CSV (``to,<variable>…``) and JSON arrive at the same ``RecipientRow`` list.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from callcore.calling_windows import (
    DAY_NAMES,
    CallingWindow,
    WindowError,
    next_open,
    number_time_zones,
    parse_time_zone,
    parse_window,
)
from callcore.models import from_dynamo, to_dynamo
from callcore.phone import DialPolicy
from callcore.variables import VariablesError, parse_variables
from callcore.webhooks import WebhookUrlError, validate_webhook_url

__all__ = [
    "MAX_RECIPIENTS",
    "Campaign",
    "CampaignError",
    "CampaignOptions",
    "CampaignState",
    "CheckedRecipients",
    "Outcome",
    "Recipient",
    "RecipientRow",
    "RecipientState",
    "RefusedRow",
    "RetryPolicy",
    "campaign_key",
    "check_recipients",
    "due_index",
    "due_partition",
    "iso_utc",
    "next_attempt",
    "options_from_query",
    "parse_csv_rows",
    "parse_iso",
    "parse_json_rows",
    "parse_options",
    "recipient_key",
    "retry_after",
    "window_zones",
]

MAX_RECIPIENTS = 10_000
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # a CSV column is a variable name
MAX_RETRIES = 10
MAX_BACKOFF_MINUTES = 7 * 24 * 60


class CampaignError(Exception):
    """A 4xx refusal of the whole request; ``field`` names what is wrong, ``details`` may list rows."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class CampaignState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"  # no new dials; calls in progress finish
    COMPLETED = "completed"


class Outcome(enum.StrEnum):
    """How one attempt ended, as the retry policy sees it."""

    HUMAN = "human"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    OPTED_OUT = "opted_out"


class RecipientState(enum.StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at (and its window)
    QUEUED = "queued"  # on the queue for a dialer
    CALLING = "calling"  # a call is placed and not yet ended
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    OPTED_OUT = "opted_out"
    DO_NOT_CALL = "do_not_call"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in _WAITING


_WAITING = {RecipientState.PENDING, RecipientState.QUEUED, RecipientState.CALLING}
FINAL_STATE_OF = {
    Outcome.HUMAN: RecipientState.ANSWERED,
    Outcome.VOICEMAIL: RecipientState.VOICEMAIL,
    Outcome.NO_ANSWER: RecipientState.NO_ANSWER,
    Outcome.BUSY: RecipientState.BUSY,
    Outcome.FAILED: RecipientState.FAILED,
    Outcome.OPTED_OUT: RecipientState.OPTED_OUT,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How many *extra* attempts each outcome earns, and the wait before each one."""

    no_answer: int = 2
    busy: int = 2
    voicemail: int = 0
    failed: int = 1
    backoff_minutes: int = 60

    def retries_for(self, outcome: Outcome) -> int:
        return {
            Outcome.NO_ANSWER: self.no_answer,
            Outcome.BUSY: self.busy,
            Outcome.VOICEMAIL: self.voicemail,
            Outcome.FAILED: self.failed,
        }.get(outcome, 0)

    def to_json(self) -> dict[str, int]:
        return {
            "no_answer": self.no_answer,
            "busy": self.busy,
            "voicemail": self.voicemail,
            "failed": self.failed,
            "backoff_minutes": self.backoff_minutes,
        }


@dataclass(frozen=True)
class CampaignOptions:
    """Everything about a campaign except its recipients (validated)."""

    persona_id: str
    window: CallingWindow
    timezone: str  # "recipient" or an IANA name
    max_concurrent: int
    retry: RetryPolicy
    webhook_url: str | None = None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Campaign:
    """``CAMPAIGN#<id>`` / ``META``: options, state, and the per-state recipient counters."""

    campaign_id: str
    user_id: str
    options: CampaignOptions
    state: CampaignState
    created_at: str
    updated_at: str
    recipient_count: int
    refused_count: int = 0
    live: int = 0  # calls placed and not yet ended (held to max_concurrent)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        o = self.options
        return {
            "campaign_id": self.campaign_id,
            "name": o.name,
            "state": self.state.value,
            "persona_id": o.persona_id,
            "window": o.window.to_json(),
            "days": o.window.day_names(),
            "timezone": o.timezone,
            "max_concurrent": o.max_concurrent,
            "retry": o.retry.to_json(),
            "webhook_url": o.webhook_url,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "recipients": self.recipient_count,
            "refused": self.refused_count,
            "live_calls": self.live,
            "counts": {s.value: int(self.counts.get(s.value, 0)) for s in RecipientState},
        }

    @property
    def unfinished(self) -> int:
        return sum(int(self.counts.get(s.value, 0)) for s in _WAITING)


def campaign_options_to_item(options: CampaignOptions) -> dict[str, Any]:
    return {
        "persona_id": options.persona_id,
        "window_start": options.window.start.strftime("%H:%M"),
        "window_end": options.window.end.strftime("%H:%M"),
        "outside_default_hours": options.window.outside_default_hours,
        "days": options.window.day_names(),
        "timezone": options.timezone,
        "max_concurrent": options.max_concurrent,
        "retry": options.retry.to_json(),
        "webhook_url": options.webhook_url,
        "name": options.name,
    }


def campaign_options_from_item(item: Mapping[str, Any]) -> CampaignOptions:
    data = from_dynamo(item)
    window = CallingWindow(
        start=time.fromisoformat(data["window_start"]),
        end=time.fromisoformat(data["window_end"]),
        weekdays=frozenset(DAY_NAMES.index(d) for d in data["days"]),
        outside_default_hours=bool(data.get("outside_default_hours", False)),
    )
    return CampaignOptions(
        persona_id=data["persona_id"],
        window=window,
        timezone=data["timezone"],
        max_concurrent=int(data["max_concurrent"]),
        retry=RetryPolicy(**{k: int(v) for k, v in data["retry"].items()}),
        webhook_url=data.get("webhook_url"),
        name=data.get("name"),
    )


@dataclass(frozen=True, kw_only=True)
class Recipient:
    """``CAMPAIGN#<id>`` / ``R#<row:06d>``: one number, its variables and its progress."""

    campaign_id: str
    row: int
    to: str
    variables: dict[str, str]
    zones: tuple[str, ...]
    state: RecipientState = RecipientState.PENDING
    attempts: int = 0
    outcome_counts: dict[str, int] = field(default_factory=dict)
    last_outcome: str | None = None
    next_attempt_at: str | None = None
    call_ids: tuple[str, ...] = ()
    current_call_id: str | None = None
    updated_at: str | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **recipient_key(self.campaign_id, self.row),
            "entity": "campaign_recipient",
            "campaign_id": self.campaign_id,
            "row": self.row,
            "to": self.to,
            "variables": dict(self.variables),
            "zones": list(self.zones),
            "state": self.state.value,
            "attempts": self.attempts,
            "outcome_counts": dict(self.outcome_counts),
            "call_ids": list(self.call_ids),
        }
        for name in ("last_outcome", "next_attempt_at", "current_call_id", "updated_at"):
            value = getattr(self, name)
            if value is not None:
                item[name] = value
        if self.state is RecipientState.PENDING and self.next_attempt_at:
            item.update(due_index(self.campaign_id, self.next_attempt_at, self.row, self.state))
        return to_dynamo(item)  # type: ignore[no-any-return]

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Recipient:
        data = from_dynamo(item)
        return cls(
            campaign_id=data["campaign_id"],
            row=int(data["row"]),
            to=data["to"],
            variables=dict(data.get("variables") or {}),
            zones=tuple(data.get("zones") or ()),
            state=RecipientState(data["state"]),
            attempts=int(data.get("attempts", 0)),
            outcome_counts={k: int(v) for k, v in (data.get("outcome_counts") or {}).items()},
            last_outcome=data.get("last_outcome"),
            next_attempt_at=data.get("next_attempt_at"),
            call_ids=tuple(data.get("call_ids") or ()),
            current_call_id=data.get("current_call_id"),
            updated_at=data.get("updated_at"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "row": self.row,
            "to": self.to,
            "state": self.state.value,
            "attempts": self.attempts,
            "last_outcome": self.last_outcome,
            "next_attempt_at": self.next_attempt_at if self.state is RecipientState.PENDING else None,
            "call_ids": list(self.call_ids),
        }
        if self.variables:
            out["variables"] = dict(self.variables)
        return out


def campaign_key(campaign_id: str) -> dict[str, str]:
    return {"PK": f"CAMPAIGN#{campaign_id}", "SK": "META"}


def recipient_key(campaign_id: str, row: int) -> dict[str, str]:
    return {"PK": f"CAMPAIGN#{campaign_id}", "SK": f"R#{row:06d}"}


def due_partition(campaign_id: str, *, watched: bool) -> str:
    """GSI1 partition of a campaign's scheduler entries: ``CAMPAIGNDUE#`` for pending recipients
    (to dial when a slot is free), ``CAMPAIGNWATCH#`` for queued and calling ones (to look at
    again only if no dialer or final callback came by then)."""
    return f"{'CAMPAIGNWATCH' if watched else 'CAMPAIGNDUE'}#{campaign_id}"


def due_index(campaign_id: str, at: str, row: int, state: RecipientState) -> dict[str, str]:
    """The sparse GSI1 entry of a recipient in ``state`` that needs the scheduler at ``at``."""
    watched = state is not RecipientState.PENDING
    return {"GSI1PK": due_partition(campaign_id, watched=watched), "GSI1SK": f"{at}#{row:06d}"}


# -- validating a submission ---------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientRow:
    """One submitted row before validation; ``row`` is 1-based (CSV: the data row after the header)."""

    row: int
    to: object
    variables: Mapping[str, object]


@dataclass(frozen=True)
class RefusedRow:
    row: int
    to: str
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "to": self.to, "error": self.code, "reason": self.reason}


def _int_field(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name.rsplit(".", 1)[-1], default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CampaignError(
            400, "invalid_field", f"'{name}' must be an integer from {low} to {high}", field=name
        )
    return value


def _webhook_url(value: object, *, allow_loopback_http: bool) -> str | None:
    """The same rules (and SSRF guard) as POST /calls' ``webhook_url``: each campaign call uses it."""
    if value is None:
        return None
    try:
        return validate_webhook_url(value, allow_loopback_http=allow_loopback_http)
    except WebhookUrlError as error:
        raise CampaignError(400, "invalid_webhook_url", str(error), field="webhook_url") from None


_OPTION_FIELDS = {
    "persona_id",
    "recipients",
    "window",
    "days",
    "timezone",
    "max_concurrent",
    "retry",
    "webhook_url",
    "name",
}


def parse_options(
    body: Mapping[str, Any], *, key_limit: int, allow_loopback_http: bool = False
) -> CampaignOptions:
    """The campaign's options from a JSON body (or the CSV form's query string, see
    ``options_from_query``); 400 naming the field."""
    unknown = sorted(set(body) - _OPTION_FIELDS)
    if unknown:
        raise CampaignError(400, "unknown_field", f"unknown field '{unknown[0]}'", field=unknown[0])
    persona_id = body.get("persona_id")
    if not isinstance(persona_id, str) or not persona_id.strip():
        raise CampaignError(400, "missing_field", "'persona_id' is required", field="persona_id")
    try:
        window = parse_window(body.get("window"), body.get("days"))
        timezone = parse_time_zone(body.get("timezone"))
    except WindowError as error:
        raise CampaignError(400, "invalid_field", error.message, field=error.field) from None
    max_concurrent = body.get("max_concurrent", key_limit)
    if (
        isinstance(max_concurrent, int)
        and not isinstance(max_concurrent, bool)
        and max_concurrent > key_limit
    ):
        raise CampaignError(
            400,
            "max_concurrent_above_key_limit",
            f"'max_concurrent' {max_concurrent} is above this key's limit of {key_limit} live calls",
            field="max_concurrent",
        )
    max_concurrent = _int_field(body, "max_concurrent", key_limit, 1, key_limit)
    retry_body = body.get("retry") or {}
    if not isinstance(retry_body, Mapping):
        raise CampaignError(400, "invalid_field", "'retry' must be an object", field="retry")
    unknown_retry = sorted(set(retry_body) - {"no_answer", "busy", "voicemail", "failed", "backoff_minutes"})
    if unknown_retry:
        raise CampaignError(
            400,
            "unknown_field",
            f"unknown field 'retry.{unknown_retry[0]}'",
            field=f"retry.{unknown_retry[0]}",
        )
    default = RetryPolicy()
    retry = RetryPolicy(
        no_answer=_int_field(retry_body, "retry.no_answer", default.no_answer, 0, MAX_RETRIES),
        busy=_int_field(retry_body, "retry.busy", default.busy, 0, MAX_RETRIES),
        voicemail=_int_field(retry_body, "retry.voicemail", default.voicemail, 0, MAX_RETRIES),
        failed=_int_field(retry_body, "retry.failed", default.failed, 0, MAX_RETRIES),
        backoff_minutes=_int_field(
            retry_body, "retry.backoff_minutes", default.backoff_minutes, 1, MAX_BACKOFF_MINUTES
        ),
    )
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise CampaignError(
            400, "invalid_field", "'name' must be a string of at most 200 characters", field="name"
        )
    return CampaignOptions(
        persona_id=persona_id.strip(),
        window=window,
        timezone=timezone,
        max_concurrent=max_concurrent,
        retry=retry,
        webhook_url=_webhook_url(body.get("webhook_url"), allow_loopback_http=allow_loopback_http),
        name=name,
    )


def options_from_query(query: Mapping[str, str]) -> dict[str, Any]:
    """The CSV form's options: ``?persona_id=…&window_start=09:00&window_end=17:00&days=mon,tue
    &timezone=…&max_concurrent=2&retry_no_answer=2&backoff_minutes=30&outside_default_hours=true``,
    turned into the JSON body's shape (so one validator serves both)."""
    body: dict[str, Any] = {}
    window: dict[str, Any] = {}
    retry: dict[str, Any] = {}
    for key, value in query.items():
        if key in ("persona_id", "timezone", "webhook_url", "name"):
            body[key] = value
        elif key == "days":
            body["days"] = [d for d in value.split(",") if d]
        elif key == "max_concurrent":
            body["max_concurrent"] = _query_int(key, value)
        elif key in ("window_start", "window_end"):
            window[key.removeprefix("window_")] = value
        elif key == "outside_default_hours":
            if value not in ("true", "false"):
                raise CampaignError(
                    400, "invalid_field", "'outside_default_hours' must be true or false", field=key
                )
            window["outside_default_hours"] = value == "true"
        elif key in ("retry_no_answer", "retry_busy", "retry_voicemail", "retry_failed", "backoff_minutes"):
            retry[key.removeprefix("retry_")] = _query_int(key, value)
        else:
            raise CampaignError(400, "unknown_field", f"unknown query parameter '{key}'", field=key)
    if window:
        body["window"] = window
    if retry:
        body["retry"] = retry
    return body


def _query_int(name: str, value: str) -> int:
    if not value.strip().isdigit():
        raise CampaignError(400, "invalid_field", f"'{name}' must be an integer", field=name)
    return int(value)


def _check_count(count: int) -> None:
    if count == 0:
        raise CampaignError(400, "no_recipients", "the campaign has no recipients", field="recipients")
    if count > MAX_RECIPIENTS:
        raise CampaignError(
            400,
            "too_many_recipients",
            f"a campaign takes at most {MAX_RECIPIENTS} recipients (got {count}); split the list",
            field="recipients",
        )


def _check_variables(variables: Mapping[str, object], where: str) -> dict[str, str]:
    """The POST /calls rules for ``variables`` (``callcore.variables``), as a 400 naming the row."""
    try:
        return parse_variables(variables)
    except VariablesError as error:
        raise CampaignError(400, "invalid_variables", f"{where}: {error}", field=where) from None


def parse_json_rows(recipients: object) -> list[RecipientRow]:
    """``recipients: [{"to": …, "variables": {…}}]`` → rows; a malformed row is a 400 naming it."""
    if not isinstance(recipients, list):
        raise CampaignError(
            400, "invalid_field", "'recipients' must be a list of {to, variables}", field="recipients"
        )
    _check_count(len(recipients))
    rows: list[RecipientRow] = []
    for index, entry in enumerate(recipients):
        where = f"recipients[{index}]"
        if not isinstance(entry, Mapping) or set(entry) - {"to", "variables"}:
            raise CampaignError(
                400,
                "invalid_row",
                f"{where} must be an object with 'to' and optional 'variables'",
                field=where,
            )
        variables = entry.get("variables") or {}
        if not isinstance(variables, Mapping):
            raise CampaignError(400, "invalid_row", f"{where}.variables must be an object", field=where)
        checked = _check_variables(variables, where)
        rows.append(RecipientRow(row=index + 1, to=entry.get("to"), variables=checked))
    return rows


def parse_csv_rows(text: str) -> list[RecipientRow]:
    """``to,<variable>…`` with a header line; a row with the wrong number of fields is a 400."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise CampaignError(400, "invalid_csv", "the CSV is empty; the first line must be 'to,…'") from None
    except csv.Error as error:
        raise CampaignError(400, "invalid_csv", f"line 1: {error}", field="line 1") from None
    names = [h.strip() for h in header]
    if not names or names[0].lower() != "to":
        raise CampaignError(400, "invalid_csv", "line 1: the CSV header must start with 'to'", field="line 1")
    variables = names[1:]
    for name in variables:
        if not _VARIABLE_NAME.match(name):
            raise CampaignError(
                400, "invalid_csv", f"column {name!r} is not a valid variable name", field=f"column {name}"
            )
    if len(set(variables)) != len(variables):
        raise CampaignError(
            400, "invalid_csv", "line 1: a column name appears twice in the header", field="line 1"
        )
    rows: list[RecipientRow] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines
            if len(record) != len(names):
                raise CampaignError(
                    400,
                    "invalid_csv_row",
                    f"line {line} has {len(record)} fields; the header has {len(names)}",
                    field=f"line {line}",
                )
            # An empty cell gives no value (so a placeholder that needs it is reported missing).
            cells = {name: cell.strip() for name, cell in zip(variables, record[1:], strict=True)}
            values = _check_variables({k: v for k, v in cells.items() if v}, f"line {line}")
            rows.append(RecipientRow(row=len(rows) + 1, to=record[0].strip(), variables=values))
            if len(rows) > MAX_RECIPIENTS:
                break
    except csv.Error as error:
        raise CampaignError(
            400, "invalid_csv_row", f"line {reader.line_num}: {error}", field=f"line {reader.line_num}"
        ) from None
    _check_count(len(rows))
    return rows


@dataclass(frozen=True)
class CheckedRecipients:
    accepted: list[Recipient]
    refused: list[RefusedRow]


def check_recipients(
    rows: Sequence[RecipientRow],
    options: CampaignOptions,
    *,
    campaign_id: str,
    placeholders: frozenset[str],
    dial_policy: DialPolicy,
    on_do_not_call_list: Callable[[str], bool],
    now: datetime,
) -> CheckedRecipients:
    """Accept or refuse every row (see the module docstring); 400 when a variable is unknown to
    the persona or a placeholder is left unfilled (listing the variables and their rows)."""
    unknown: dict[str, list[int]] = {}
    missing: dict[str, list[int]] = {}
    for row in rows:
        for name in row.variables:
            if name not in placeholders:
                unknown.setdefault(name, []).append(row.row)
        for name in sorted(placeholders - set(row.variables)):
            missing.setdefault(name, []).append(row.row)
    if unknown:
        names = sorted(unknown)
        raise CampaignError(
            400,
            "unknown_variable",
            f"the persona has no placeholder for {', '.join(repr(n) for n in names)} "
            f"(it uses: {', '.join(sorted(placeholders)) or 'none'})",
            field=f"variables.{names[0]}",
            details={name: unknown[name][:20] for name in names},
        )
    if missing:
        names = sorted(missing)
        raise CampaignError(
            400,
            "missing_variables",
            f"the persona's placeholders {', '.join(names)} are not filled for every row",
            field=f"variables.{names[0]}",
            details={name: missing[name][:20] for name in names},
        )
    accepted: list[Recipient] = []
    refused: list[RefusedRow] = []
    first_row: dict[str, int] = {}
    window_zone = None if options.timezone == "recipient" else (options.timezone,)
    for row in rows:
        shown = row.to if isinstance(row.to, str) else repr(row.to)
        verdict = dial_policy.verdict(row.to)  # the POST /calls policy, row by row
        if not verdict.allowed:
            assert verdict.code is not None and verdict.reason is not None
            refused.append(RefusedRow(row.row, shown, verdict.code, verdict.reason))
            continue
        to = verdict.number
        if to in first_row:
            refused.append(RefusedRow(row.row, to, "duplicate", f"same number as row {first_row[to]}"))
            continue
        first_row[to] = row.row
        # A number with no known zone (e.g. a 555 test number) takes the campaign's fixed zone, if any.
        zones = number_time_zones(to) or (window_zone or ())
        if not zones:
            refused.append(
                RefusedRow(
                    row.row,
                    to,
                    "unknown_time_zone",
                    "no time zone is known for this number; give the campaign a 'timezone'",
                )
            )
            continue
        if on_do_not_call_list(to):
            refused.append(
                RefusedRow(row.row, to, "do_not_call", "the number is on this key's do-not-call list")
            )
            continue
        opens = next_open(options.window, window_zones=window_zone or zones, recipient_zones=zones, after=now)
        if opens is None:
            refused.append(
                RefusedRow(
                    row.row,
                    to,
                    "window_never_open",
                    f"the window is never open in all of its time zones at once ({', '.join(zones)})",
                )
            )
            continue
        accepted.append(
            Recipient(
                campaign_id=campaign_id,
                row=row.row,
                to=to,
                variables={k: str(v) for k, v in row.variables.items()},
                zones=zones,
                next_attempt_at=iso_utc(opens),
            )
        )
    return CheckedRecipients(accepted, refused)


def iso_utc(moment: datetime) -> str:
    """Sortable UTC ISO-8601 with milliseconds (the same form as ``callcore.calls.iso``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def window_zones(options: CampaignOptions, recipient: Recipient) -> tuple[str, ...]:
    return recipient.zones if options.timezone == "recipient" else (options.timezone,)


def next_attempt(options: CampaignOptions, recipient: Recipient, *, not_before: datetime) -> datetime | None:
    """The first moment at or after ``not_before`` the recipient may be rung."""
    return next_open(
        options.window,
        window_zones=window_zones(options, recipient),
        recipient_zones=recipient.zones,
        after=not_before,
    )


def retry_after(options: CampaignOptions, now: datetime) -> datetime:
    return now + timedelta(minutes=options.retry.backoff_minutes)
