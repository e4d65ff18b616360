"""Deadlines, reminders and escalations: the one place that computes when things are due.

- Both clocks start when a department is given the issue (each dispatch restarts them):
  报到 within `ack_minutes`, 办结 within `resolve_hours`; the urgent values for 紧急.
- A category with `business_hours = true` counts only the owning department's working
  time: the union of its duty roster, or its office hours (default Mon–Fri 08:30–17:30).
  Example: a 4-hour deadline dispatched Friday 16:30 with office hours 08:30–17:30 uses
  1 hour on Friday and 3 on Monday: due Monday 11:30.
- For each clock: a reminder to the assignee at 80 % of the time between dispatch and
  deadline, escalation to the department head at the deadline, and to the admins one
  deadline-length after it.
- Quiet hours hold a non-urgent reminder until they end; escalations and urgent
  reminders never wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.organisation import Category, Shift

REMINDER_SHARE = 0.8
_SEARCH_DAYS = 400


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    resolve_by: datetime


class DeadlineClock(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


class AlertStep(StrEnum):
    REMIND = "remind"
    HEAD = "head"
    ADMINS = "admins"


@dataclass(frozen=True)
class Alert:
    clock: DeadlineClock
    step: AlertStep
    due: datetime
    deadline: datetime


def ack_window(category: Category, urgent: bool) -> timedelta:
    minutes = category.urgent_ack_minutes if urgent and category.urgent_ack_minutes else None
    return timedelta(minutes=minutes or category.ack_minutes)


def resolve_window(category: Category, urgent: bool) -> timedelta:
    hours = category.urgent_resolve_hours if urgent and category.urgent_resolve_hours else None
    return timedelta(hours=hours or category.resolve_hours)


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)


def add_working_time(
    start: datetime, amount: timedelta, shifts: Sequence[Shift], zone: ZoneInfo
) -> datetime:
    """The instant at which `amount` of working time (the union of `shifts`) has passed
    since `start`."""
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
            if day.weekday() in shift.days
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
) -> Deadlines:
    ack, resolve = ack_window(category, urgent), resolve_window(category, urgent)
    if category.business_hours and working_time and zone is not None:
        return Deadlines(
            acknowledge_by=add_working_time(dispatched_at, ack, working_time, zone),
            resolve_by=add_working_time(dispatched_at, resolve, working_time, zone),
        )
    return Deadlines(acknowledge_by=dispatched_at + ack, resolve_by=dispatched_at + resolve)


def alerts_for(clock: DeadlineClock, started: datetime, deadline: datetime) -> list[Alert]:
    span = deadline - started
    return [
        Alert(clock, AlertStep.REMIND, started + span * REMINDER_SHARE, deadline),
        Alert(clock, AlertStep.HEAD, deadline, deadline),
        Alert(clock, AlertStep.ADMINS, deadline + span, deadline),
    ]


def after_quiet_hours(moment: datetime, quiet: tuple[int, int] | None, zone: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
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
