"""China's working calendar: which days are working days, and limits counted in them.

Grid practice (GB/T 30428, 12345's service standards) counts many limits in working days.
A working day follows the official calendar: weekends off, 法定节假日 off, and the 调休
make-up days (a Saturday or Sunday worked in exchange for a longer holiday) on.

Where each day's answer comes from, first match wins:
1. the organisation file's `[calendar]` — `holidays` and `workdays`, the State Council's
   schedule for a year the library does not know yet (it is published each November or
   December);
2. the `chinese-calendar` package, for the years its release knows (2004–2026 in 1.11);
3. Monday to Friday, for a year neither knows — `unknown_years` names such years so that
   `whistle org check` can warn until the file or the library has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import chinese_calendar

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = get_args(DayName)
"""The weekdays as the organisation file and the settings write them, Monday first (the
index is `date.weekday()`)."""

_SEARCH_DAYS = 400
"""Longer than any run of days off (Spring Festival with its weekends is about 9)."""


def _library_says(day: date) -> bool | None:
    """The library's answer, or None for a year it has no data for."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


@dataclass(frozen=True)
class WorkCalendar:
    """Working days by the official calendar, with the organisation file's own entries
    taking precedence over the library's."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        known = _library_says(day)
        if known is not None:
            return known
        return day.weekday() < 5

    def knows(self, year: int) -> bool:
        """Whether the file or the library has this year's schedule."""
        if any(d.year == year for d in self.holidays | self.workdays):
            return True
        return _library_says(date(year, 1, 1)) is not None

    def unknown_years(self, years: Iterable[int]) -> list[int]:
        return sorted(y for y in set(years) if not self.knows(y))

    def nth_workday_after(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (not counting `day` itself)."""
        if count < 1:
            raise ValueError("a count of working days starts at 1")
        cursor = day
        for _ in range(_SEARCH_DAYS + count):
            cursor += timedelta(days=1)
            if self.is_workday(cursor):
                count -= 1
                if count == 0:
                    return cursor
        raise ValueError(f"no working day within {_SEARCH_DAYS} days after {day}")


def due_after_workdays(
    dispatched_at: datetime,
    count: int,
    day_ends_at: time,
    calendar: WorkCalendar,
    zone: ZoneInfo,
) -> datetime:
    """A limit of `count` working days: due at the end of office hours (`day_ends_at`, in
    the street's zone) on the `count`-th working day after the day of the dispatch.

    Example: dispatched 2026-09-30 16:00, one working day, office hours ending 17:30 — the
    National Day holiday runs 10-01 to 10-07, so it is due 2026-10-08 17:30."""
    local_day = dispatched_at.astimezone(zone).date()
    due_day = calendar.nth_workday_after(local_day, count)
    return datetime.combine(due_day, day_ends_at, tzinfo=zone)
