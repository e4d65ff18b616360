"""Deadline arithmetic: calendar and business hours, alert times, quiet hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.deadlines import (
    AlertStep,
    DeadlineKind,
    add_working_time,
    after_quiet_hours,
    alerts_for,
    deadlines_from,
)
from bot.organisation import Category, Shift

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = (Shift("zj", 0, frozenset(range(5)), 8 * 60 + 30, 17 * 60 + 30),)
CATEGORY = Category(
    code="c",
    name="C",
    department="zj",
    ack_minutes=30,
    resolve_hours=4,
    urgent_ack_minutes=10,
    urgent_resolve_hours=2,
)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_calendar_deadlines_use_the_urgent_windows_for_urgent_reports() -> None:
    normal = deadlines_from(CATEGORY, False, at(2026, 11, 25, 10))
    urgent = deadlines_from(CATEGORY, True, at(2026, 11, 25, 10))
    assert (normal.acknowledge_by, normal.resolve_by) == (
        at(2026, 11, 25, 10, 30),
        at(2026, 11, 25, 14),
    )
    assert (urgent.acknowledge_by, urgent.resolve_by) == (
        at(2026, 11, 25, 10, 10),
        at(2026, 11, 25, 12),
    )


def test_business_hours_deadlines_skip_the_weekend() -> None:
    business = CATEGORY.model_copy(update={"business_hours": True})
    friday_afternoon = at(2026, 11, 27, 16, 30)
    due = deadlines_from(business, False, friday_afternoon, OFFICE, SHANGHAI)
    assert due.acknowledge_by == at(2026, 11, 27, 17, 0)
    assert due.resolve_by == at(2026, 11, 30, 11, 30)


def test_business_hours_start_counting_when_the_office_opens() -> None:
    saturday = at(2026, 11, 28, 22, 0)
    assert add_working_time(saturday, timedelta(minutes=30), OFFICE, SHANGHAI) == at(
        2026, 11, 30, 9, 0
    )


def test_overnight_rosters_count_across_midnight_without_double_counting() -> None:
    night = (
        Shift("cg", 1, frozenset(range(5)), 18 * 60, 8 * 60),
        Shift("cg", 2, frozenset({5, 6}), 0, 24 * 60),
    )
    friday_late = at(2026, 11, 27, 23, 0)
    assert add_working_time(friday_late, timedelta(hours=10), night, SHANGHAI) == at(
        2026, 11, 28, 9, 0
    )


def test_business_hours_without_working_time_fall_back_to_calendar_time() -> None:
    business = CATEGORY.model_copy(update={"business_hours": True})
    due = deadlines_from(business, False, at(2026, 11, 28, 10), (), SHANGHAI)
    assert due.acknowledge_by == at(2026, 11, 28, 10, 30)


def test_alerts_fall_at_80_100_and_200_percent() -> None:
    start, deadline = at(2026, 11, 25, 10), at(2026, 11, 25, 10, 30)
    alerts = alerts_for(DeadlineKind.ACK, start, deadline)
    assert [(a.step, a.due) for a in alerts] == [
        (AlertStep.REMIND, at(2026, 11, 25, 10, 24)),
        (AlertStep.HEAD, at(2026, 11, 25, 10, 30)),
        (AlertStep.ADMINS, at(2026, 11, 25, 11, 0)),
    ]


def test_quiet_hours_hold_until_they_end() -> None:
    quiet = (22 * 60, 7 * 60)
    assert after_quiet_hours(at(2026, 11, 25, 23, 0), quiet, SHANGHAI) == at(2026, 11, 26, 7)
    assert after_quiet_hours(at(2026, 11, 26, 3, 0), quiet, SHANGHAI) == at(2026, 11, 26, 7)
    assert after_quiet_hours(at(2026, 11, 26, 7, 0), quiet, SHANGHAI) == at(2026, 11, 26, 7)
    assert after_quiet_hours(at(2026, 11, 26, 21, 59), quiet, SHANGHAI) == at(2026, 11, 26, 21, 59)
    lunch = (12 * 60, 13 * 60)
    assert after_quiet_hours(at(2026, 11, 26, 12, 30), lunch, SHANGHAI) == at(2026, 11, 26, 13)
    assert after_quiet_hours(at(2026, 11, 26, 3, 0), None, SHANGHAI) == at(2026, 11, 26, 3)
