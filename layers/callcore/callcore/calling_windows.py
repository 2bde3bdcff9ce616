"""When a campaign may ring a recipient: local calling windows across time zones, days and DST.

Pure functions of (window, zones, instant); no clock is read here. A recipient's zones come from
its number (``phonenumbers`` time-zone data, by prefix) or from the campaign's IANA zone. A number
that maps to several zones is open only when it is open in *every* one of them (the most
restrictive reading). Quiet hours (08:00-21:00 recipient-local) apply on top of any window unless
the campaign sets ``window.outside_default_hours``; a window that itself reaches outside them
needs that flag too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAY_NAMES",
    "DEFAULT_DAYS",
    "QUIET_END",
    "QUIET_START",
    "CallingWindow",
    "WindowError",
    "is_open",
    "next_open",
    "number_time_zones",
    "parse_time_zone",
    "parse_window",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DAYS = ("mon", "tue", "wed", "thu", "fri")
DEFAULT_START = time(9, 0)
DEFAULT_END = time(20, 0)
QUIET_START = time(8, 0)  # recipient-local; earlier needs outside_default_hours
QUIET_END = time(21, 0)  # recipient-local; later needs outside_default_hours
_SEARCH_DAYS = 9  # a week plus the DST day either side: every weekday appears at least once


class WindowError(ValueError):
    """A 400: ``field`` names the request field (``window.start``, ``days``, ``timezone``…)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CallingWindow:
    """Local start (inclusive) and end (exclusive) on the allowed weekdays (0 = Monday)."""

    start: time = DEFAULT_START
    end: time = DEFAULT_END
    weekdays: frozenset[int] = frozenset(range(5))
    outside_default_hours: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "outside_default_hours": self.outside_default_hours,
        }

    def day_names(self) -> list[str]:
        return [DAY_NAMES[d] for d in sorted(self.weekdays)]


def _clock_time(value: object, field: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise WindowError(field, f'\'{field}\' must be a 24-hour local time "HH:MM", e.g. "09:00"')
    try:
        hours, minutes = int(value[:2]), int(value[3:])
        return time(hours, minutes)
    except ValueError:
        raise WindowError(field, f'\'{field}\' must be a 24-hour local time "HH:MM", e.g. "09:00"') from None


def parse_window(window: object, days: object) -> CallingWindow:
    """Validate ``window`` ``{start, end, outside_default_hours}`` and ``days`` (``["mon", …]``)."""
    if window is None:
        window = {}
    if not isinstance(window, Mapping):
        raise WindowError("window", "'window' must be an object {start, end, outside_default_hours}")
    unknown = sorted(set(window) - {"start", "end", "outside_default_hours"})
    if unknown:
        raise WindowError(f"window.{unknown[0]}", f"unknown field 'window.{unknown[0]}'")
    start = _clock_time(window.get("start", "09:00"), "window.start")
    end = _clock_time(window.get("end", "20:00"), "window.end")
    if start >= end:
        raise WindowError(
            "window.start", "'window.start' must be before 'window.end' (windows do not cross midnight)"
        )
    flag = window.get("outside_default_hours", False)
    if not isinstance(flag, bool):
        raise WindowError(
            "window.outside_default_hours", "'window.outside_default_hours' must be true or false"
        )
    if (start < QUIET_START or end > QUIET_END) and not flag:
        raise WindowError(
            "window.outside_default_hours",
            "a window reaching outside 08:00-21:00 recipient-local time needs "
            "'window.outside_default_hours': true",
        )
    return CallingWindow(start=start, end=end, weekdays=_weekdays(days), outside_default_hours=flag)


def _weekdays(days: object) -> frozenset[int]:
    if days is None:
        return frozenset(range(5))
    if not isinstance(days, list) or not days:
        raise WindowError("days", '\'days\' must be a non-empty list such as ["mon", "tue"]')
    chosen: set[int] = set()
    for day in days:
        name = day.strip().lower() if isinstance(day, str) else day
        if name not in DAY_NAMES:
            raise WindowError("days", f"'days' entries must be one of {', '.join(DAY_NAMES)}; got {day!r}")
        chosen.add(DAY_NAMES.index(name))
    return frozenset(chosen)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_time_zone(value: object) -> str:
    """``"recipient"`` (zones from each number) or an IANA name known to this runtime."""
    if value is None or value == "recipient":
        return "recipient"
    if not isinstance(value, str) or not value or value.startswith("/") or ".." in value:
        raise WindowError(
            "timezone", "'timezone' must be \"recipient\" or an IANA time zone such as America/Chicago"
        )
    try:
        _zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError("timezone", f"'timezone' {value!r} is not a known IANA time zone") from None
    return value


@lru_cache(maxsize=4096)
def number_time_zones(number: str) -> tuple[str, ...]:
    """The IANA zones ``phonenumbers`` associates with the number's prefix (empty if unknown)."""
    import phonenumbers
    from phonenumbers import timezone as phone_timezone

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = phone_timezone.time_zones_for_number(parsed)
    known: list[str] = []
    for name in zones:
        try:
            _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue  # "Etc/Unknown" and zones this runtime lacks
        known.append(name)
    return tuple(sorted(set(known)))


def _open_in(window: CallingWindow, zone: str, at: datetime) -> bool:
    local = at.astimezone(_zone(zone))
    return local.weekday() in window.weekdays and window.start <= local.time() < window.end


def _quiet_open(zone: str, at: datetime) -> bool:
    return QUIET_START <= at.astimezone(_zone(zone)).time() < QUIET_END


def is_open(
    window: CallingWindow, *, window_zones: Iterable[str], recipient_zones: Iterable[str], at: datetime
) -> bool:
    """True when ``at`` is inside the window in every window zone and, unless the campaign opted
    out of default hours, inside 08:00-21:00 in every recipient zone."""
    window_zones = tuple(window_zones)
    if not window_zones:
        return False
    if not all(_open_in(window, z, at) for z in window_zones):
        return False
    if window.outside_default_hours:
        return True
    return all(_quiet_open(z, at) for z in recipient_zones)


def _local_starts(zone: str, starts: Iterable[time], after: datetime) -> list[datetime]:
    """UTC instants of the given local clock times on each of the next days in ``zone``."""
    tz = _zone(zone)
    first: date = after.astimezone(tz).date() - timedelta(days=1)
    instants: list[datetime] = []
    for offset in range(_SEARCH_DAYS + 1):
        day = first + timedelta(days=offset)
        for clock in starts:
            # A start inside a DST gap does not exist locally; zoneinfo maps it one hour on, which
            # is_open then confirms or rejects.
            instants.append(datetime.combine(day, clock, tzinfo=tz).astimezone(UTC))
    return instants


def next_open(
    window: CallingWindow,
    *,
    window_zones: Iterable[str],
    recipient_zones: Iterable[str],
    after: datetime,
) -> datetime | None:
    """The first instant at or after ``after`` when ``is_open`` holds, or None within ~a week.

    The intersection of local windows opens either right now or at one zone's opening moment, so
    the candidates are ``after`` itself and every zone's local start (window start and, for
    recipient zones, the 08:00 quiet-hours end) over the next days; the earliest open one wins.
    """
    window_zones = tuple(window_zones)
    recipient_zones = tuple(recipient_zones)
    after = after.astimezone(UTC)
    candidates = {after}
    for zone in window_zones:
        candidates.update(_local_starts(zone, (window.start,), after))
    if not window.outside_default_hours:
        for zone in recipient_zones:
            candidates.update(_local_starts(zone, (QUIET_START,), after))
    for candidate in sorted(c for c in candidates if c >= after):
        if is_open(window, window_zones=window_zones, recipient_zones=recipient_zones, at=candidate):
            return candidate
    return None
