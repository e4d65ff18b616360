"""Weekly response statistics — the one definition, used by the bot, the command line,
the weekly push and the files.

- **Week**: Monday 00:00 to the next Monday 00:00 in the configured time zone
  (ISO weeks, labelled like ``2026-W47``).
- **Cohort**: the non-cancelled issues *reported* in that week. Figures are as of the
  moment the report is made (`as_of`): an issue reported last week and resolved today
  counts as resolved.
- **received**: the size of the cohort.
- **response rate** (响应率): acknowledged (报到) / received.
- **on-time response rate**: acknowledged at or before the ack deadline / received.
- **resolution rate** (解决率): resolved or closed / received.
- **on-time resolution rate**: resolved at or before the resolve deadline / received.
- **satisfaction rate** (满意率): (满意 + 基本满意) / rated.
- **time to acknowledge / to resolve**: median and p90 by nearest rank (the ⌈0.9·n⌉-th
  smallest) over the issues that got there; issues not yet acknowledged are counted
  (`not_acknowledged`), never averaged in. Overall, per grid and per category they are
  measured from `reported_at` (what the street waited); per department and per duty
  member from the dispatch to that department (what it is answerable for).
- **overdue**: still open past the resolve deadline, or resolved after it. The open ones
  are bucketed by how late they are now (0–1, 1–3, 3–7, > 7 days); the ten oldest
  (by report time) are listed.
- **reopened / escalated / transferred**: issues that were so at least once, each also
  as a rate of received.
- Per department (the department holding the issue when the report is made), per duty
  member (its assignee), per grid, per category and overall; each with its change from
  the previous week. Departments are ranked by on-time response rate, then on-time
  resolution rate, then received.

A rate whose denominator is zero is `None` (shown as "-"), never 0 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import to_epoch

DAY = 86400
OVERDUE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-1d", 0, 1 * DAY),
    ("1-3d", 1 * DAY, 3 * DAY),
    ("3-7d", 3 * DAY, 7 * DAY),
    (">7d", 7 * DAY, None),
)
OPEN = frozenset({"reported", "dispatched", "acknowledged", "transferred", "reopened"})
RESOLVED = frozenset({"resolved", "closed"})
GOOD_RATINGS = frozenset({"satisfied", "fair"})


@dataclass(frozen=True)
class IssueRow:
    """One issue of a cohort, as the statistics see it (epoch seconds)."""

    id: int
    reported_at: int
    state: str
    grid: str
    category: str
    department: str | None
    assignee: int | None
    urgent: bool
    dispatched_at: int | None
    acknowledged_at: int | None
    ack_deadline: int | None
    resolved_at: int | None
    resolve_deadline: int | None
    rating: str | None
    reopened: bool
    escalated: bool
    transferred: bool


# --- weeks ------------------------------------------------------------------------------


def parse_week(label: str) -> tuple[int, int]:
    """'2026-W47' → (2026, 47); ValueError for anything else."""
    text = label.strip().upper()
    if len(text) not in (8,) or text[4:6] != "-W" or not (text[:4] + text[6:]).isdigit():
        raise ValueError(f"a week looks like 2026-W47, not {label!r}")
    year, week = int(text[:4]), int(text[6:])
    date.fromisocalendar(year, week, 1)
    return year, week


def week_label(instant: datetime, zone: ZoneInfo) -> str:
    year, week, _ = instant.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(label: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    year, week = parse_week(label)
    monday = datetime.combine(date.fromisocalendar(year, week, 1), time(0), tzinfo=zone)
    return monday, monday + timedelta(days=7)


def shift_week(label: str, weeks: int, zone: ZoneInfo) -> str:
    start, _ = week_bounds(label, zone)
    return week_label(start + timedelta(days=7 * weeks, hours=12), zone)


# --- figures ----------------------------------------------------------------------------


def nearest_rank(ordered: Sequence[int], share: float) -> int | None:
    """The ⌈share·n⌉-th smallest of an ascending sequence (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return ordered[rank - 1]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Figures:
    received: int = 0
    acknowledged: int = 0
    acknowledged_on_time: int = 0
    not_acknowledged: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    ack_median: int | None = None
    ack_p90: int | None = None
    resolve_median: int | None = None
    resolve_p90: int | None = None
    overdue: int = 0
    overdue_open: int = 0
    overdue_buckets: dict[str, int] = field(default_factory=dict)
    reopened: int = 0
    escalated: int = 0
    transferred: int = 0

    @property
    def response_rate(self) -> float | None:
        return _rate(self.acknowledged, self.received)

    @property
    def on_time_response_rate(self) -> float | None:
        return _rate(self.acknowledged_on_time, self.received)

    @property
    def resolution_rate(self) -> float | None:
        return _rate(self.resolved, self.received)

    @property
    def on_time_resolution_rate(self) -> float | None:
        return _rate(self.resolved_on_time, self.received)

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied, self.rated)

    @property
    def reopened_rate(self) -> float | None:
        return _rate(self.reopened, self.received)

    @property
    def escalated_rate(self) -> float | None:
        return _rate(self.escalated, self.received)

    @property
    def transferred_rate(self) -> float | None:
        return _rate(self.transferred, self.received)

    RATES = (
        "response_rate",
        "on_time_response_rate",
        "resolution_rate",
        "on_time_resolution_rate",
        "satisfaction_rate",
        "reopened_rate",
        "escalated_rate",
        "transferred_rate",
    )
    COUNTS = (
        "received",
        "acknowledged",
        "acknowledged_on_time",
        "not_acknowledged",
        "resolved",
        "resolved_on_time",
        "rated",
        "satisfied",
        "overdue",
        "overdue_open",
        "reopened",
        "escalated",
        "transferred",
    )
    DURATIONS = ("ack_median", "ack_p90", "resolve_median", "resolve_p90")


def is_overdue(row: IssueRow, as_of: int) -> bool:
    if row.resolve_deadline is None:
        return False
    if row.state in OPEN:
        return as_of > row.resolve_deadline
    return (
        row.state in RESOLVED
        and row.resolved_at is not None
        and row.resolved_at > row.resolve_deadline
    )


def figures(rows: Iterable[IssueRow], as_of: int, from_dispatch: bool = False) -> Figures:
    """The figures of one group of a cohort. Durations start at the report, or at the
    dispatch to the holding department when `from_dispatch`."""
    received = acknowledged = on_time_ack = resolved = on_time_resolved = 0
    rated = satisfied = overdue = reopened = escalated = transferred = 0
    ack_times: list[int] = []
    resolve_times: list[int] = []
    buckets = {name: 0 for name, _, _ in OVERDUE_BUCKETS}
    for row in rows:
        received += 1
        start = row.dispatched_at if from_dispatch and row.dispatched_at else row.reported_at
        if row.acknowledged_at is not None:
            acknowledged += 1
            ack_times.append(row.acknowledged_at - start)
            if row.ack_deadline is not None and row.acknowledged_at <= row.ack_deadline:
                on_time_ack += 1
        if row.state in RESOLVED and row.resolved_at is not None:
            resolved += 1
            resolve_times.append(row.resolved_at - start)
            if row.resolve_deadline is not None and row.resolved_at <= row.resolve_deadline:
                on_time_resolved += 1
        if row.rating is not None:
            rated += 1
            satisfied += row.rating in GOOD_RATINGS
        if is_overdue(row, as_of):
            overdue += 1
            if row.state in OPEN and row.resolve_deadline is not None:
                late = as_of - row.resolve_deadline
                for name, low, high in OVERDUE_BUCKETS:
                    if late >= low and (high is None or late < high):
                        buckets[name] += 1
        reopened += row.reopened
        escalated += row.escalated
        transferred += row.transferred
    ack_times.sort()
    resolve_times.sort()
    return Figures(
        received=received,
        acknowledged=acknowledged,
        acknowledged_on_time=on_time_ack,
        not_acknowledged=received - acknowledged,
        resolved=resolved,
        resolved_on_time=on_time_resolved,
        rated=rated,
        satisfied=satisfied,
        ack_median=nearest_rank(ack_times, 0.5),
        ack_p90=nearest_rank(ack_times, 0.9),
        resolve_median=nearest_rank(resolve_times, 0.5),
        resolve_p90=nearest_rank(resolve_times, 0.9),
        overdue=overdue,
        overdue_open=sum(buckets.values()),
        overdue_buckets=buckets,
        reopened=reopened,
        escalated=escalated,
        transferred=transferred,
    )


@dataclass(frozen=True)
class GroupFigures:
    key: str
    current: Figures
    previous: Figures


@dataclass(frozen=True)
class WeeklyReport:
    week: str
    starts: datetime
    ends: datetime
    as_of: datetime
    overall: GroupFigures
    departments: list[GroupFigures]
    members: list[GroupFigures]
    grids: list[GroupFigures]
    categories: list[GroupFigures]
    oldest_overdue: list[IssueRow]
    rows: list[IssueRow]


def _grouped(
    rows: Sequence[IssueRow],
    previous: Sequence[IssueRow],
    key: Callable[[IssueRow], str | None],
    as_of: int,
    from_dispatch: bool,
) -> list[GroupFigures]:
    def split(source: Sequence[IssueRow]) -> dict[str, list[IssueRow]]:
        groups: dict[str, list[IssueRow]] = {}
        for row in source:
            groups.setdefault(key(row) or "-", []).append(row)
        return groups

    now, before = split(rows), split(previous)
    return [
        GroupFigures(
            name,
            figures(now.get(name, []), as_of, from_dispatch),
            figures(before.get(name, []), as_of, from_dispatch),
        )
        for name in sorted(set(now) | set(before))
    ]


def _rank_key(group: GroupFigures) -> tuple[float, float, int]:
    f = group.current
    return (-(f.on_time_response_rate or 0.0), -(f.on_time_resolution_rate or 0.0), -f.received)


def weekly_report(
    week: str,
    zone: ZoneInfo,
    rows: Sequence[IssueRow],
    previous_rows: Sequence[IssueRow],
    as_of: datetime,
) -> WeeklyReport:
    """The whole report for one week's cohort (`rows`) against the week before it."""
    starts, ends = week_bounds(week, zone)
    moment = to_epoch(as_of)
    overdue_open = sorted(
        (r for r in rows if r.state in OPEN and is_overdue(r, moment)),
        key=lambda r: (r.reported_at, r.id),
    )
    departments = _grouped(rows, previous_rows, lambda r: r.department, moment, True)
    return WeeklyReport(
        week=week,
        starts=starts,
        ends=ends,
        as_of=as_of,
        overall=GroupFigures("all", figures(rows, moment), figures(previous_rows, moment)),
        departments=sorted(departments, key=_rank_key),
        members=_grouped(
            [r for r in rows if r.assignee],
            [r for r in previous_rows if r.assignee],
            lambda r: str(r.assignee),
            moment,
            True,
        ),
        grids=_grouped(rows, previous_rows, lambda r: r.grid, moment, False),
        categories=_grouped(rows, previous_rows, lambda r: r.category, moment, False),
        oldest_overdue=overdue_open[:10],
        rows=list(rows),
    )


def epoch_bounds(week: str, zone: ZoneInfo) -> tuple[int, int]:
    starts, ends = week_bounds(week, zone)
    return to_epoch(starts), to_epoch(ends)
