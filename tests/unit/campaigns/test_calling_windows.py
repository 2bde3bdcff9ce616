"""Calling windows with real IANA zones and a fixed clock: days, DST, several zones per number."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from callcore.calling_windows import (
    CallingWindow,
    WindowError,
    is_open,
    next_open,
    number_time_zones,
    parse_time_zone,
    parse_window,
)

DEFAULT = CallingWindow()
LA = ("America/Los_Angeles",)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_number_zones_come_from_the_prefix() -> None:
    assert number_time_zones("+14155550123") == LA
    assert number_time_zones("+12125550123") == ("America/New_York",)
    assert number_time_zones("+442079460000") == ("Europe/London",)


def test_open_only_inside_local_hours_on_weekdays() -> None:
    # Monday 30 Nov 2026: 16:59 UTC is 08:59 in Los Angeles (PST, UTC-8).
    assert not is_open(DEFAULT, window_zones=LA, recipient_zones=LA, at=_utc(2026, 11, 30, 16, 59))
    assert is_open(DEFAULT, window_zones=LA, recipient_zones=LA, at=_utc(2026, 11, 30, 17, 0))
    assert not is_open(DEFAULT, window_zones=LA, recipient_zones=LA, at=_utc(2026, 12, 1, 4, 0))  # 20:00
    # Saturday noon local.
    assert not is_open(DEFAULT, window_zones=LA, recipient_zones=LA, at=_utc(2026, 12, 5, 20, 0))


def test_next_window_after_the_weekend() -> None:
    friday_evening = _utc(2026, 12, 5, 5, 0)  # Friday 4 Dec 21:00 PST
    assert next_open(DEFAULT, window_zones=LA, recipient_zones=LA, after=friday_evening) == _utc(
        2026, 12, 7, 17, 0
    )  # Monday 09:00 PST


def test_next_window_across_the_dst_change() -> None:
    # US DST starts Sunday 8 Mar 2026: Friday 09:00 is 17:00 UTC (PST), Monday 09:00 is 16:00 UTC (PDT).
    after_friday = _utc(2026, 3, 7, 4, 0)
    assert next_open(DEFAULT, window_zones=LA, recipient_zones=LA, after=after_friday) == _utc(
        2026, 3, 9, 16, 0
    )
    # And back: 1 Nov 2026 ends DST, Monday 2 Nov 09:00 PST is 17:00 UTC.
    assert next_open(DEFAULT, window_zones=LA, recipient_zones=LA, after=_utc(2026, 10, 31, 12, 0)) == _utc(
        2026, 11, 2, 17, 0
    )


def test_several_zones_use_the_most_restrictive() -> None:
    zones = ("America/New_York", "America/Los_Angeles")
    # 14:00 UTC Monday is 09:00 New York but 06:00 Los Angeles: closed until LA opens.
    start = _utc(2026, 11, 30, 14, 0)
    assert not is_open(DEFAULT, window_zones=zones, recipient_zones=zones, at=start)
    assert next_open(DEFAULT, window_zones=zones, recipient_zones=zones, after=start) == _utc(
        2026, 11, 30, 17, 0
    )
    # 01:00 UTC Tuesday is 20:00 New York (closed) and 17:00 LA (open): closed.
    assert not is_open(DEFAULT, window_zones=zones, recipient_zones=zones, at=_utc(2026, 12, 1, 1, 0))


def test_campaign_zone_window_still_honours_recipient_quiet_hours() -> None:
    window = CallingWindow(start=time(9, 0), end=time(17, 0))
    ny = ("America/New_York",)
    # 09:00 New York is 06:00 in Los Angeles: the recipient's 08:00 decides.
    at = _utc(2026, 11, 30, 14, 0)
    assert not is_open(window, window_zones=ny, recipient_zones=LA, at=at)
    assert next_open(window, window_zones=ny, recipient_zones=LA, after=at) == _utc(2026, 11, 30, 16, 0)
    late = CallingWindow(start=time(7, 0), end=time(22, 0), outside_default_hours=True)
    assert is_open(late, window_zones=LA, recipient_zones=LA, at=_utc(2026, 11, 30, 15, 30))  # 07:30 PST


@pytest.mark.parametrize(
    ("window", "days", "field"),
    [
        ({"start": "18:00", "end": "09:00"}, None, "window.start"),
        ({"start": "9am"}, None, "window.start"),
        ({"end": "25:00"}, None, "window.end"),
        ({"start": "07:30", "end": "12:00"}, None, "window.outside_default_hours"),
        ({"start": "10:00", "end": "21:30"}, None, "window.outside_default_hours"),
        ({"colour": "red"}, None, "window.colour"),
        (None, [], "days"),
        (None, ["mon", "funday"], "days"),
    ],
)
def test_bad_windows_name_the_field(window: object, days: object, field: str) -> None:
    with pytest.raises(WindowError) as error:
        parse_window(window, days)
    assert error.value.field == field and field in error.value.message


def test_defaults_and_flag() -> None:
    assert parse_window(None, None) == DEFAULT
    wide = parse_window({"start": "07:00", "end": "22:00", "outside_default_hours": True}, ["sat", "sun"])
    assert wide.weekdays == frozenset({5, 6}) and wide.outside_default_hours


def test_time_zone_names() -> None:
    assert parse_time_zone(None) == "recipient"
    assert parse_time_zone("America/Chicago") == "America/Chicago"
    for bad in ("Mars/Olympus_Mons", "../etc/passwd", 5):
        with pytest.raises(WindowError) as error:
            parse_time_zone(bad)
        assert error.value.field == "timezone"
