"""Quiet hours follow the official calendar (#17): for a department with quiet hours, a day
off is quiet all day — a non-urgent reminder waits for the end of the quiet hours on the
next working day — unless that comes only at or after its deadline, when the night's window
alone holds it. Known dates: National Day 2026 (10-01 to 10-07 off, 10-10 a 调休 Saturday)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.deadlines import after_quiet_hours
from bot.workcalendar import WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = (22 * 60, 7 * 60)  # quiet = "22:00-07:00"
CALENDAR = WorkCalendar()
FAR = datetime(2027, 1, 1, tzinfo=SHANGHAI)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def test_the_calendar_knows_the_days_the_tests_rely_on() -> None:
    assert not CALENDAR.is_workday(date(2026, 10, 1))
    assert not CALENDAR.is_workday(date(2026, 10, 7))
    assert CALENDAR.is_workday(date(2026, 10, 8))
    assert CALENDAR.is_workday(date(2026, 10, 10))  # 调休 Saturday
    assert not CALENDAR.is_workday(date(2026, 11, 28))  # an ordinary Saturday


def test_a_reminder_on_the_eve_of_national_day_waits_for_the_first_working_morning() -> None:
    held = after_quiet_hours(at(2026, 9, 30, 23), NIGHT, SHANGHAI, CALENDAR, FAR)
    assert held == at(2026, 10, 8, 7)


def test_a_reminder_during_the_holiday_by_day_waits_too() -> None:
    held = after_quiet_hours(at(2026, 10, 3, 14), NIGHT, SHANGHAI, CALENDAR, FAR)
    assert held == at(2026, 10, 8, 7)


def test_a_make_up_saturday_is_a_working_day() -> None:
    moment = at(2026, 10, 10, 10)
    assert after_quiet_hours(moment, NIGHT, SHANGHAI, CALENDAR, FAR) == moment
    # Its night is quiet as any; Sunday 10-11 is a day off: the next working morning.
    held = after_quiet_hours(at(2026, 10, 10, 23), NIGHT, SHANGHAI, CALENDAR, FAR)
    assert held == at(2026, 10, 12, 7)


def test_an_ordinary_weekend_waits_for_monday() -> None:
    held = after_quiet_hours(at(2026, 11, 28, 10), NIGHT, SHANGHAI, CALENDAR, FAR)
    assert held == at(2026, 11, 30, 7)


def test_a_deadline_before_the_working_morning_leaves_only_the_night_window() -> None:
    deadline = at(2026, 10, 2, 12)
    held = after_quiet_hours(at(2026, 9, 30, 23), NIGHT, SHANGHAI, CALENDAR, deadline)
    assert held == at(2026, 10, 1, 7)
    by_day = at(2026, 10, 3, 14)
    assert after_quiet_hours(by_day, NIGHT, SHANGHAI, CALENDAR, at(2026, 10, 4, 9)) == by_day


def test_a_working_day_only_has_its_night_window() -> None:
    assert after_quiet_hours(at(2026, 11, 25, 23), NIGHT, SHANGHAI, CALENDAR, FAR) == at(
        2026, 11, 26, 7
    )
    assert after_quiet_hours(at(2026, 11, 25, 10), NIGHT, SHANGHAI, CALENDAR, FAR) == at(
        2026, 11, 25, 10
    )


def test_no_quiet_hours_means_no_holding_even_on_a_holiday() -> None:
    moment = at(2026, 10, 3, 14)
    assert after_quiet_hours(moment, None, SHANGHAI, CALENDAR, FAR) == moment


def test_the_organisation_files_own_days_count() -> None:
    own = WorkCalendar(holidays=frozenset({date(2027, 1, 1)}))
    held = after_quiet_hours(at(2026, 12, 31, 23), NIGHT, SHANGHAI, own, FAR.replace(year=2028))
    assert held == at(2027, 1, 4, 7)  # Friday the 1st off, then the weekend
