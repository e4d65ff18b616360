"""Deadlines, reminders and escalations: the one place that computes when things are due.

- Both clocks start when a department is given the issue (each dispatch restarts them):
  报到 within `ack_minutes`, 办结 within `resolve_hours`; the urgent values for 紧急.
- A category with `business_hours = true` counts only the owning department's working
  time: the union of its duty roster, or its office hours (default Mon–Fri 08:30–17:30)
  on the official calendar's working days (a public holiday is not office time, a 调休
  Saturday is). Example: a 4-hour deadline dispatched Friday 16:30 with office hours
  08:30–17:30 uses 1 hour on Friday and 3 on Monday: due Monday 11:30.
- A category may give its resolve limit in working days (`resolve_workdays`): due at the
  end of office hours on the N-th working day after the dispatch day. Example: one
  working day from 2026-09-30 16:00 is due 2026-10-08 17:30 (National Day is 10-01–10-07).
- For each clock: a reminder to the assignee at 80 % of the time between dispatch and
  deadline, escalation to the department head at the deadline, and to the admins one
  deadline-length after it.
- Quiet hours hold a non-urgent reminder until they end; escalations and urgent
  reminders never wait. They follow the same calendar: for a department with quiet
  hours, a day off (a weekend day that is not a 调休 working day, a 法定节假日) is quiet all
  day, so a reminder waits for the end of the quiet hours on the next working day — unless
  that is not before its deadline, when a warning that late would carry nothing: then only
  the night's quiet hours hold it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.organisation import Category, Organisation, Shift
from bot.workcalendar import WorkCalendar, due_after_workdays

REMINDER_SHARE = 0.8
_SEARCH_DAYS = 400


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    resolve_by: datetime


class DeadlineKind(StrEnum):
    """Which deadline an alert watches: acknowledging, resolving, or a 挂账's review."""

    ACK = "ack"
    RESOLVE = "resolve"
    HOLD = "hold"
    """A 挂账's review date: the admins are reminded to review it."""


class AlertStep(StrEnum):
    REMIND = "remind"
    HEAD = "head"
    ADMINS = "admins"


@dataclass(frozen=True)
class Alert:
    kind: DeadlineKind
    step: AlertStep
    due: datetime
    deadline: datetime


def ack_window(category: Category, urgent: bool) -> timedelta:
    minutes = category.urgent_ack_minutes if urgent and category.urgent_ack_minutes else None
    return timedelta(minutes=minutes or category.ack_minutes)


def resolve_window(category: Category, urgent: bool) -> timedelta | int:
    """The resolve limit: a length of time, or a count of working days."""
    if urgent and category.urgent_resolve_hours:
        return timedelta(hours=category.urgent_resolve_hours)
    if urgent and category.urgent_resolve_workdays:
        return category.urgent_resolve_workdays
    if category.resolve_workdays:
        return category.resolve_workdays
    assert category.resolve_hours is not None  # the organisation file requires one
    return timedelta(hours=category.resolve_hours)


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)


def add_working_time(
    start: datetime,
    amount: timedelta,
    shifts: Sequence[Shift],
    zone: ZoneInfo,
    calendar: WorkCalendar | None = None,
) -> datetime:
    """The instant at which `amount` of working time (the union of `shifts`) has passed
    since `start`. Office-hours shifts work on the calendar's working days."""
    calendar = calendar or WorkCalendar()
    remaining = amount
    cursor = start
    day = start.astimezone(zone).date() - timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        spans = sorted(
            (
                _local(day, shift.start_minute, zone),
                _local(
                    day,
                    shift.end_minute + (0 if shift.start_minute < shift.end_minute else 24 * 60),
                    zone,
                ),
            )
            for shift in shifts
            if (shift.office_day(day, calendar) if shift.office else day.weekday() in shift.days)
        )
        for begin, end in spans:
            begin = max(begin, cursor)
            if begin >= end:
                continue
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
            cursor = end
        day += timedelta(days=1)
    raise ValueError("no working time found in the roster or office hours")


def deadlines_from(
    category: Category,
    urgent: bool,
    dispatched_at: datetime,
    working_time: Sequence[Shift] = (),
    zone: ZoneInfo | None = None,
    calendar: WorkCalendar | None = None,
    office_day_ends: time = time(17, 30),
) -> Deadlines:
    ack, resolve = ack_window(category, urgent), resolve_window(category, urgent)
    calendar = calendar or WorkCalendar()
    business = category.business_hours and bool(working_time) and zone is not None

    def after(window: timedelta | int) -> datetime:
        if isinstance(window, int):
            return due_after_workdays(
                dispatched_at, window, office_day_ends, calendar, zone or ZoneInfo("UTC")
            )
        if business:
            assert zone is not None
            return add_working_time(dispatched_at, window, working_time, zone, calendar)
        return dispatched_at + window

    return Deadlines(acknowledge_by=after(ack), resolve_by=after(resolve))


def deadlines_in(
    org: Organisation, department: str, category: Category, urgent: bool, dispatched_at: datetime
) -> Deadlines:
    """The deadlines of an issue of `category` given to `department` at `dispatched_at`,
    by the organisation's working time, calendar and office hours."""
    return deadlines_from(
        category,
        urgent,
        dispatched_at,
        org.working_time(department),
        org.timezone,
        org.calendar,
        org.office_day_ends(department),
    )


def alerts_for(kind: DeadlineKind, started: datetime, deadline: datetime) -> list[Alert]:
    span = deadline - started
    return [
        Alert(kind, AlertStep.REMIND, started + span * REMINDER_SHARE, deadline),
        Alert(kind, AlertStep.HEAD, deadline, deadline),
        Alert(kind, AlertStep.ADMINS, deadline + span, deadline),
    ]


DAYS_OFF_IN_A_ROW = 366
"""More days off than any calendar has in a row: the bound of the search for a working day."""


def after_quiet_hours(
    moment: datetime,
    quiet: tuple[int, int] | None,
    zone: ZoneInfo,
    calendar: WorkCalendar | None = None,
    deadline: datetime | None = None,
) -> datetime:
    """`moment`, or the end of the quiet hours it falls in; with a `calendar`, a day off is
    quiet all day (the quiet hours end on the next working day), unless that end is not
    before `deadline` — then only the quiet hours' own window counts."""
    held = _after_quiet_window(moment, quiet, zone)
    if quiet is None or calendar is None:
        return held
    day = held.astimezone(zone).date()
    if calendar.is_workday(day):
        return held
    for _ in range(DAYS_OFF_IN_A_ROW):
        day += timedelta(days=1)
        if calendar.is_workday(day):
            # An end at 24:00 ends the window that began the evening before at 00:00 of
            # the working day (not at its close, which skipped the whole day).
            working = max(held, _local(day, quiet[1] % (24 * 60), zone))
            return working if deadline is None or working < deadline else held
    return held


def _after_quiet_window(
    moment: datetime, quiet: tuple[int, int] | None, zone: ZoneInfo
) -> datetime:
    """`moment`, or the end of the daily quiet window it falls in."""
    if quiet is None:
        return moment
    start, end = quiet
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if start < end:
        inside = start <= minute < end
        end_day = local.date()
    else:
        inside = minute >= start or minute < end
        end_day = local.date() + timedelta(days=1) if minute >= start else local.date()
    if not inside:
        return moment
    return _local(end_day, end, zone)
