"""The working calendar on days whose answer is known: the 2026 schedule published by the
State Council (National Day 10-01 to 10-07 with 10-10 worked; Spring Festival 02-15 to
02-23 with 02-14 and 02-28 worked), 2027 from the organisation file, and a year nobody
knows."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.workcalendar import WorkCalendar, due_after_workdays

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE_ENDS = time(17, 30)
OFFICIAL = WorkCalendar()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-09-30", True),  # a Wednesday before National Day
        ("2026-10-01", False),  # National Day
        ("2026-10-07", False),  # the holiday's last day, a Wednesday
        ("2026-10-08", True),
        ("2026-10-10", True),  # a Saturday worked in exchange (调休)
        ("2026-10-11", False),  # an ordinary Sunday
        ("2026-02-14", True),  # Saturday before Spring Festival, worked
        ("2026-02-16", False),  # Spring Festival's eve week, a Monday
        ("2026-02-23", False),  # the holiday's last day, a Monday
        ("2026-02-24", True),
        ("2026-02-28", True),  # Saturday after Spring Festival, worked
    ],
)
def test_the_official_2026_calendar(day: str, working: bool) -> None:
    assert OFFICIAL.is_workday(date.fromisoformat(day)) is working


def test_one_working_day_over_national_day_is_due_at_the_end_of_the_8th() -> None:
    dispatched = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    due = due_after_workdays(dispatched, 1, OFFICE_ENDS, OFFICIAL, SHANGHAI)
    assert due == datetime(2026, 10, 8, 17, 30, tzinfo=SHANGHAI)


def test_three_working_days_count_the_adjusted_saturday() -> None:
    dispatched = datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI)  # Thursday
    # Friday 10-09, Saturday 10-10 (调休), then Monday 10-12.
    due = due_after_workdays(dispatched, 3, OFFICE_ENDS, OFFICIAL, SHANGHAI)
    assert due == datetime(2026, 10, 12, 17, 30, tzinfo=SHANGHAI)


def test_a_dispatch_on_a_holiday_counts_from_the_next_working_day() -> None:
    dispatched = datetime(2026, 2, 17, 11, 0, tzinfo=SHANGHAI)  # Spring Festival
    due = due_after_workdays(dispatched, 1, OFFICE_ENDS, OFFICIAL, SHANGHAI)
    assert due == datetime(2026, 2, 24, 17, 30, tzinfo=SHANGHAI)


def test_the_dispatch_day_is_taken_in_the_streets_zone() -> None:
    # 2026-09-30 17:00 UTC is already 10-01 01:00 in Shanghai: a holiday.
    dispatched = datetime(2026, 9, 30, 17, 0, tzinfo=ZoneInfo("UTC"))
    due = due_after_workdays(dispatched, 1, OFFICE_ENDS, OFFICIAL, SHANGHAI)
    assert due == datetime(2026, 10, 8, 17, 30, tzinfo=SHANGHAI)


def test_the_organisation_file_gives_a_year_the_library_does_not_know() -> None:
    file_2027 = WorkCalendar(
        holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset({date(2027, 2, 20)})
    )
    assert file_2027.is_workday(date(2027, 1, 1)) is False  # a Friday, New Year
    assert file_2027.is_workday(date(2027, 2, 20)) is True  # a Saturday, worked
    assert file_2027.is_workday(date(2027, 1, 4)) is True  # an ordinary Monday
    dispatched = datetime(2026, 12, 31, 16, 0, tzinfo=SHANGHAI)
    due = due_after_workdays(dispatched, 1, OFFICE_ENDS, file_2027, SHANGHAI)
    assert due == datetime(2027, 1, 4, 17, 30, tzinfo=SHANGHAI)
    assert file_2027.unknown_years([2026, 2027]) == []


def test_the_file_overrides_the_library() -> None:
    changed = WorkCalendar(holidays=frozenset({date(2026, 10, 8)}))
    assert changed.is_workday(date(2026, 10, 8)) is False


def test_a_year_nobody_knows_falls_back_to_monday_to_friday_and_is_named() -> None:
    assert OFFICIAL.is_workday(date(2031, 1, 1)) is True  # a Wednesday, really a holiday
    assert OFFICIAL.is_workday(date(2031, 1, 4)) is False  # a Saturday
    assert OFFICIAL.unknown_years([2026, 2031, 2030]) == [2030, 2031]


def test_a_count_of_working_days_starts_at_one() -> None:
    with pytest.raises(ValueError):
        OFFICIAL.nth_workday_after(date(2026, 10, 8), 0)
