"""Extensions (延期) and 挂账: the rules, with no Telegram and no SQL in them.

The member holding an issue (acknowledged or reopened) asks for more time, or for the
issue to be 挂账 (parked: it cannot be solved for now), giving a reason and a date. An
extension is decided by the department's head, or by the admins when the head holds the
issue; a 挂账 always by an admin. One request per issue waits at a time. The new date is
a working day (by the organisation's calendar) after the current resolve deadline and at
most `MAX_DAYS` ahead; the deadline falls at the end of that day's office hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.lifecycle import Action, State
from bot.workcalendar import WorkCalendar


class Kind(StrEnum):
    EXTEND = "extend"
    HOLD = "hold"


ASK: dict[Kind, Action] = {Kind.EXTEND: Action.ASK_EXTENSION, Kind.HOLD: Action.ASK_HOLD}
APPROVE: dict[Kind, Action] = {Kind.EXTEND: Action.EXTEND, Kind.HOLD: Action.HOLD}
REFUSE: dict[Kind, Action] = {Kind.EXTEND: Action.REFUSE_EXTENSION, Kind.HOLD: Action.REFUSE_HOLD}

CHOICES: dict[Kind, tuple[int, ...]] = {Kind.EXTEND: (1, 3, 7), Kind.HOLD: (10, 20, 60)}
"""The working-day buttons offered for each kind's new date."""
MAX_DAYS: dict[Kind, int] = {Kind.EXTEND: 60, Kind.HOLD: 366}
"""How far ahead of today (calendar days) a typed date may lie."""
HOLD_EXTEND_WORKDAYS = 20
"""A reviewed 挂账 extended (延长挂账) without a chosen date: its new review date, in
working days. At the review the admin picks +N working days (`CHOICES[Kind.HOLD]`) or
types a date, checked like a 挂账 request's."""

HOLDER_STATES = frozenset({State.ACKNOWLEDGED, State.REOPENED})


@dataclass(frozen=True)
class Messages:
    """The catalogue keys of one kind's conversation, from the question to the decision."""

    ask_reason: str
    decide: str
    requested: str
    approved: str
    approved_done: str
    refused: str


MESSAGES: dict[Kind, Messages] = {
    Kind.EXTEND: Messages(
        ask_reason="extend_ask_reason",
        decide="extend_decide",
        requested="extend_requested",
        approved="extend_approved",
        approved_done="extend_approved_done",
        refused="extend_refused",
    ),
    Kind.HOLD: Messages(
        ask_reason="hold_ask_reason",
        decide="hold_decide",
        requested="hold_requested",
        approved="hold_approved",
        approved_done="hold_approved_done",
        refused="hold_refused",
    ),
}

REVIEW_ACTIONS: dict[str, Action] = {
    "go": Action.RESUME,
    "more": Action.EXTEND_HOLD,
    "close": Action.CLOSE_HELD,
}
"""A 挂账's review: "go" back to work, "more" time on hold, or "close" it."""
REVIEW_NOTICES: dict[Action, str] = {
    Action.RESUME: "hold_go_notice",
    Action.EXTEND_HOLD: "hold_more_notice",
    Action.CLOSE_HELD: "hold_close_notice",
}
"""What the holder is told of a review."""
REVIEW_DONE: dict[Action, str] = {
    Action.RESUME: "hold_go_done",
    Action.EXTEND_HOLD: "hold_more_done",
    Action.CLOSE_HELD: "hold_close_done",
}
"""What the reviewing admin is answered."""

_DATE = re.compile(r"^\s*(?:(\d{4})-)?(\d{1,2})-(\d{1,2})\s*$")


class Approver(StrEnum):
    HEAD = "head"
    ADMINS = "admins"


def approver(kind: Kind, holder: int | None, head: int | None) -> Approver:
    """Who decides: a 挂账 the admins; an extension the head, unless the head holds the
    issue (or the department has none)."""
    if kind == Kind.HOLD or head is None or head == holder:
        return Approver.ADMINS
    return Approver.HEAD


RECENT_PAST_DAYS = 31
"""A month and day that fell this many days ago at most is read as that past day (and then
refused as past), not as next year's: "12-09" typed on 12-10 is yesterday, a slip, and
reading it as a year ahead would hold an issue for a year."""


def parse_date(typed: str, today: date) -> date | None:
    """A typed date: YYYY-MM-DD, or MM-DD — the next day of that name from today, unless the
    last one was at most RECENT_PAST_DAYS ago (then that past day). None for anything else."""
    found = _DATE.match(typed.replace("/", "-").replace(".", "-"))
    if found is None:
        return None
    year_text, month, day = found.groups()
    if year_text:
        try:
            return date(int(year_text), int(month), int(day))
        except ValueError:
            return None
    named = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            named.append(date(year, int(month), int(day)))
        except ValueError:
            continue
    past = [d for d in named if d < today]
    if past and (today - past[-1]).days <= RECENT_PAST_DAYS:
        return past[-1]
    coming = [d for d in named if d >= today]
    return coming[0] if coming else None


class DateProblem(StrEnum):
    NOT_AFTER = "ext_date_not_after"
    TOO_FAR = "ext_date_too_far"
    NOT_WORKDAY = "ext_date_not_workday"


@dataclass(frozen=True)
class Limits:
    """What a new date is checked against: the current deadline (the issue's resolve
    deadline, or a 挂账's review date) and today, both in the street's zone."""

    after: date
    today: date


def check_date(
    kind: Kind, chosen: date, limits: Limits, calendar: WorkCalendar
) -> DateProblem | None:
    if chosen <= limits.after or chosen <= limits.today:
        return DateProblem.NOT_AFTER
    if (chosen - limits.today).days > MAX_DAYS[kind]:
        return DateProblem.TOO_FAR
    if kind == Kind.EXTEND and not calendar.is_workday(chosen):
        return DateProblem.NOT_WORKDAY
    return None


def after_workdays(start: date, count: int, calendar: WorkCalendar) -> date:
    """The date a +N working days button stands for."""
    return calendar.nth_workday_after(start, count)


def due_at(day: date, day_ends: time, zone: ZoneInfo) -> datetime:
    """The deadline on `day`: the end of that day's office hours."""
    return datetime.combine(day, day_ends, tzinfo=zone)
