"""Weekly response statistics — the one definition, used by the bot, the command line,
the weekly push and the files.

- **Week**: Monday 00:00 to the next Monday 00:00 in the configured time zone
  (ISO weeks, labelled like ``2026-W47``).
- **Cohort**: the non-cancelled issues *reported* in that week. Figures are as of the
  moment the report is made (`as_of`): an issue reported last week and resolved today
  counts as resolved.
- **excluded** (不属实 or 重复): the cohort's issues standing closed as 不属实 (not found
  on site) or 重复 (a duplicate). Like 12345's invalid reports they are not valid reports
  *to resolve*: they leave the 解决率 and 满意率 denominators (and are never counted
  resolved, rated or overdue), but they were received, so they stay in `received`, in the
  响应率 (counted acknowledged when they were), the reopened/escalated/transferred counts
  and the times to acknowledge. An issue whose closure was objected to (异议) is back
  among the valid ones.
- **valid**: received − excluded.
- **closures** (on their own line): the week's reports standing closed as 不属实, 重复
  and 非本辖区 (not this street's or department's), each counted. 非本辖区 is a valid
  report, closed but not resolved: it stays in every denominator.
- **received**: the size of the cohort.
- **response rate** (响应率): acknowledged (报到) / received.
- **on-time response rate**: acknowledged at or before the ack deadline / received.
- **resolution rate** (解决率): resolved or closed (after 办结) / valid.
- **on-time resolution rate**: resolved at or before the resolve deadline / valid. The
  resolve deadline is the one in force, so an approved extension (延期) counts: this is
  the rate *against the extended deadline*.
- **on-time resolution rate against the original deadline**: resolved at or before the
  deadline the issue had before its first approved extension (its only deadline when
  never extended) / valid. Both rates are published.
- **satisfaction rate** (满意率): (满意 + 基本满意) / rated, over the valid issues.
- **time to acknowledge / to resolve**: median and p90 by nearest rank (the ⌈0.9·n⌉-th
  smallest) over the issues that got there; issues not yet acknowledged are counted
  (`not_acknowledged`), never averaged in. Overall, per grid and per category they are
  measured from `reported_at` (what the street waited); per department and per duty
  member from the dispatch to that department (what it is answerable for).
- **overdue**: still open past the resolve deadline, or resolved after it. The open ones
  are bucketed by how late they are now (0–1, 1–3, 3–7, > 7 days); the ten oldest
  (by report time) are listed.
- **挂账** (on hold: cannot be solved for now, approved by an admin): an issue in 挂账 is
  neither open nor resolved, so it leaves the overdue counts (and gets no reminders)
  until it is reviewed; one closed at its review is not resolved.
- **extensions requested / approved**: extension requests made in the week (by when they
  were asked, not by the cohort), and how many of them were approved as of the report.
- **挂账 open at the week's end**: issues in 挂账 at the end of the week (or now, for the
  current week); the report lists the issues in 挂账 now, with reason and review date.
- **reopened / escalated / transferred**: issues that were so at least once, each also
  as a rate of received.
- Per department (the department holding the issue when the report is made), per duty
  member (its assignee), per grid, per category and overall; each with its change from
  the previous week. Departments are ranked by on-time response rate, then on-time
  resolution rate, then received.

- **联合吹哨** (whistles): a whistle counts once in `received`, under its lead department
  (which holds the issue). Its summonses — one per department summoned and not released
  — are counted per summoned department, and per grid, category and overall by the
  issue (a whistle of three departments is three summonses): `whistles` (summonses),
  `arrived` (checked in within the radius), `arrived_on_time` (at or before the arrival
  deadline), `on_site_rate` = arrived on time / whistles, `arrive_median` / `arrive_p90`
  (nearest rank, from the summons to the arrival, over those that arrived),
  `street_rated`, `street_satisfied` (满意 or 基本满意) and `street_satisfaction_rate` =
  street_satisfied / street_rated: the street's rating of each department. Per duty
  member, the summonses that member checked in on site for (the one who reported the
  department arrived): the same figures over those, so `whistles` = `arrived` for a
  member. The files list each summons on a row of its own (sheet or file "whistles").

A rate whose denominator is zero is `None` (shown as "-"), never 0 %.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import to_epoch
from bot.closures import EXCLUDED_FROM_RATES
from bot.lifecycle import OPEN_STATES

DAY = 86400
OVERDUE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-1d", 0, 1 * DAY),
    ("1-3d", 1 * DAY, 3 * DAY),
    ("3-7d", 3 * DAY, 7 * DAY),
    (">7d", 7 * DAY, None),
)
OPEN = frozenset(state.value for state in OPEN_STATES)
"""Open for the figures (the lifecycle's open states); an issue in 挂账 ("held") is not."""
RESOLVED = frozenset({"resolved", "closed"})
GOOD_RATINGS = frozenset({"satisfied", "fair"})
EXCLUDED = frozenset(kind.value for kind in EXCLUDED_FROM_RATES)
"""The closures (不属实, 重复) that leave the 解决率 and 满意率 denominators."""


@dataclass(frozen=True, slots=True)
class IssueRow:
    """One issue of a cohort, as the statistics see it (epoch seconds). Slotted: a week's
    files hold one per issue, and a per-instance dict would triple their memory."""

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
    original_resolve_deadline: int | None = None
    """The resolve deadline before the first approved extension (None: never extended)."""
    closure: str | None = None
    """The closure that stands on the issue: 'invalid', 'duplicate', 'elsewhere' or None."""


def is_excluded(row: IssueRow) -> bool:
    """Standing closed as 不属实 or 重复: out of the 解决率 and 满意率 denominators."""
    return row.state == "closed" and row.closure in EXCLUDED


# --- weeks ------------------------------------------------------------------------------


WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})", re.ASCII)
ROOM = timedelta(days=1)
"""Times are shifted by the zone: a week is only accepted if the calendar reaches this far
beyond both of its ends."""


def parse_week(label: str) -> tuple[int, int]:
    """'2026-W47' → (2026, 47); ValueError for anything else, including the first and last
    weeks of the calendar (0001-W01, 9999-W52), whose ends cannot be shifted by a zone."""
    match = WEEK.fullmatch(label.strip().upper())
    if match is None:
        raise ValueError(f"a week looks like 2026-W47, not {label!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
        monday - ROOM, monday + timedelta(days=7) + ROOM
    except (ValueError, OverflowError):
        raise ValueError(f"there is no week {label!r}") from None
    return year, week


def week_label(instant: datetime, zone: ZoneInfo) -> str:
    year, week, _ = instant.astimezone(zone).isocalendar()
    return f"{year:04d}-W{week:02d}"


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
    resolved_on_time_original: int = 0
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
    excluded: int = 0
    """Closed as 不属实 or 重复: received, but out of the 解决率 and 满意率 denominators."""
    # 联合吹哨: per summons (see the module's definitions)
    whistles: int = 0
    arrived: int = 0
    arrived_on_time: int = 0
    arrive_median: int | None = None
    arrive_p90: int | None = None
    street_rated: int = 0
    street_satisfied: int = 0

    @property
    def on_site_rate(self) -> float | None:
        return _rate(self.arrived_on_time, self.whistles)

    @property
    def street_satisfaction_rate(self) -> float | None:
        return _rate(self.street_satisfied, self.street_rated)

    @property
    def valid(self) -> int:
        """The denominator of the resolution rates: received, less 不属实 and 重复."""
        return self.received - self.excluded

    @property
    def response_rate(self) -> float | None:
        return _rate(self.acknowledged, self.received)

    @property
    def on_time_response_rate(self) -> float | None:
        return _rate(self.acknowledged_on_time, self.received)

    @property
    def resolution_rate(self) -> float | None:
        return _rate(self.resolved, self.valid)

    @property
    def on_time_resolution_rate(self) -> float | None:
        return _rate(self.resolved_on_time, self.valid)

    @property
    def on_time_resolution_rate_original(self) -> float | None:
        return _rate(self.resolved_on_time_original, self.valid)

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
        "on_time_resolution_rate_original",
        "satisfaction_rate",
        "reopened_rate",
        "escalated_rate",
        "transferred_rate",
        "on_site_rate",
        "street_satisfaction_rate",
    )
    COUNTS = (
        "received",
        "acknowledged",
        "acknowledged_on_time",
        "not_acknowledged",
        "resolved",
        "resolved_on_time",
        "resolved_on_time_original",
        "rated",
        "satisfied",
        "overdue",
        "overdue_open",
        "reopened",
        "escalated",
        "transferred",
        "excluded",
        "whistles",
        "arrived",
        "arrived_on_time",
        "street_rated",
        "street_satisfied",
    )
    DURATIONS = (
        "ack_median",
        "ack_p90",
        "resolve_median",
        "resolve_p90",
        "arrive_median",
        "arrive_p90",
    )


def is_overdue(row: IssueRow, as_of: int) -> bool:
    """Still open past the resolve deadline, or resolved after it (never 不属实 or 重复)."""
    if row.resolve_deadline is None or is_excluded(row):
        return False
    if row.state in OPEN:
        return as_of > row.resolve_deadline
    return (
        row.state in RESOLVED
        and row.resolved_at is not None
        and row.resolved_at > row.resolve_deadline
    )


class Grouping(StrEnum):
    """The ways a cohort is split. Durations are measured from the report for the street's
    view (overall, grid, category) and from the dispatch for the department's (department,
    member)."""

    OVERALL = "overall"
    DEPARTMENT = "department"
    MEMBER = "member"
    GRID = "grid"
    CATEGORY = "category"

    @property
    def from_dispatch(self) -> bool:
        return self in (Grouping.DEPARTMENT, Grouping.MEMBER)


Computed = dict[Grouping, dict[str, Figures]]
"""Figures per grouping and group key."""


FACTS: tuple[str, ...] = (
    "open",
    "acknowledged",
    "acknowledged_on_time",
    "resolved",
    "resolved_on_time",
    "resolved_late",
    "rated",
    "satisfied",
    "reopened",
    "escalated",
    "transferred",
    "resolved_on_time_original",
    "excluded",
)
"""The yes/no facts about one issue that the figures count, by the definitions above:
open now (`OPEN`); acknowledged; acknowledged at or before the ack deadline; resolved or
closed (`RESOLVED`); that, at or before the resolve deadline; that, after it; rated;
rated well (`GOOD_RATINGS`); reopened, escalated, transferred at least once; resolved at
or before the original (unextended) resolve deadline; standing closed as 不属实 or 重复
(`EXCLUDED`: `compute` leaves these out of every resolution and rating count). A fact
that cannot be told (no deadline) is no."""

TIMES: tuple[str, ...] = (
    "ack_from_report",
    "ack_from_dispatch",
    "resolve_from_report",
    "resolve_from_dispatch",
)
"""The durations the medians and p90s are taken over, to the acknowledgement and to the
resolution (of issues resolved or closed), from the report for the street's view and
from the dispatch (the report when never dispatched) for the department's."""


@dataclass(frozen=True)
class CohortColumns:
    """A cohort as columns, one entry per issue: each of `FACTS` (booleans), the group
    keys (None where missing), the resolve deadline, and (when read) each of `TIMES` (NaN
    where the issue did not get there). Numbers are numpy arrays: `compute` counts a week
    of tens of thousands of issues at once."""

    facts: dict[str, Any]
    department: list[str | None]
    assignee: list[str | None]
    grid: list[str | None]
    category: list[str | None]
    resolve_deadline: Any
    times: dict[str, Any]

    def __len__(self) -> int:
        return len(self.resolve_deadline)

    def fact(self, name: str) -> Any:
        return self.facts[name]


def compute(cohort: CohortColumns, as_of: int) -> Computed:
    """Every grouping's figures for one cohort, by the definitions above, vectorised: the
    per-issue flags are derived once (`_flags`), the rows are split into groups once per
    grouping (`_groups`), every count is a bincount and medians and p90s (when the cohort
    was read with its durations) are picked by nearest rank from the values sorted within
    each group (`_group_figures`)."""
    result: Computed = {grouping: {} for grouping in Grouping}
    if len(cohort) == 0:
        return result
    flags, buckets, times = _flags(cohort, as_of)
    for grouping in Grouping:
        names, codes, keep = _groups(cohort, grouping)
        if names:
            result[grouping] = _group_figures(grouping, names, codes, keep, flags, buckets, times)
    return result


def _flags(cohort: CohortColumns, as_of: int) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """Per issue, as boolean arrays: each count `compute` sums by group (its name as in
    `Figures`), and open-overdue in each of `OVERDUE_BUCKETS`; and the durations of `TIMES`
    (NaN where not counted). An issue closed as 不属实 or 重复 is never resolved, rated or
    overdue, and has no resolve time."""
    import numpy as np

    c = cohort
    excluded = c.fact("excluded")
    valid = ~excluded
    with np.errstate(invalid="ignore"):
        late_now = as_of - c.resolve_deadline
        open_overdue = c.fact("open") & (late_now > 0)
        buckets = [
            open_overdue & (late_now >= low) & (late_now < (high if high is not None else np.inf))
            for _, low, high in OVERDUE_BUCKETS
        ]
    flags: dict[str, Any] = {
        "received": np.ones(len(c), dtype=bool),
        "excluded": excluded,
        **{name: c.fact(name) for name in ("acknowledged", "acknowledged_on_time")},
        **{
            name: c.fact(name) & valid
            for name in (
                "resolved",
                "resolved_on_time",
                "resolved_on_time_original",
                "rated",
                "satisfied",
            )
        },
        "overdue": open_overdue | (c.fact("resolved_late") & valid),
        **{name: c.fact(name) for name in ("reopened", "escalated", "transferred")},
    }
    times = {
        name: np.where(excluded, np.nan, values) if name.startswith("resolve") else values
        for name, values in c.times.items()
    }
    return flags, buckets, times


def _groups(cohort: CohortColumns, grouping: Grouping) -> tuple[list[str], Any, Any]:
    """The group names of one grouping, each issue's group as an index into them, and which
    issues are in a group at all (a member grouping leaves unassigned issues out)."""
    import numpy as np

    keys_of = {
        Grouping.OVERALL: None,
        Grouping.DEPARTMENT: cohort.department,
        Grouping.MEMBER: cohort.assignee,
        Grouping.GRID: cohort.grid,
        Grouping.CATEGORY: cohort.category,
    }
    raw_keys = keys_of[grouping]
    if raw_keys is None:
        return ["all"], np.zeros(len(cohort), dtype=np.int64), slice(None)
    names, coded = _codes(raw_keys, missing="-" if grouping != Grouping.MEMBER else None)
    keep = coded >= 0
    return names, coded[keep], keep


def _group_figures(
    grouping: Grouping,
    names: list[str],
    codes: Any,
    keep: Any,
    flags: dict[str, Any],
    buckets: list[Any],
    times: dict[str, Any],
) -> dict[str, Figures]:
    """The figures of each group of one grouping: counts by bincount, durations by nearest
    rank (from the dispatch for a department's or a member's view, else from the report)."""
    import numpy as np

    size = len(names)

    def per_group(flag: Any) -> list[int]:
        return [int(n) for n in np.bincount(codes, weights=flag[keep], minlength=size)]

    totals = {name: per_group(flag) for name, flag in flags.items()}
    bucket_totals = [per_group(b) for b in buckets]
    origin = "dispatch" if grouping.from_dispatch else "report"
    ranks: dict[str, tuple[list[int | None], list[int | None]]] = {}
    for label in ("ack", "resolve") if times else ():
        values = times[f"{label}_from_{origin}"][keep]
        mask = ~np.isnan(values)
        ranks[label] = _nearest_ranks(codes[mask], values[mask], size)
    empty: list[int | None] = [None] * size
    ack_median, ack_p90 = ranks.get("ack", (empty, empty))
    resolve_median, resolve_p90 = ranks.get("resolve", (empty, empty))
    result: dict[str, Figures] = {}
    for index, key in enumerate(names):
        counts = {name: by_group[index] for name, by_group in totals.items()}
        bucket_counts = {
            name: bucket_totals[b][index] for b, (name, _, _) in enumerate(OVERDUE_BUCKETS)
        }
        result[str(key)] = Figures(
            **counts,
            not_acknowledged=counts["received"] - counts["acknowledged"],
            ack_median=ack_median[index],
            ack_p90=ack_p90[index],
            resolve_median=resolve_median[index],
            resolve_p90=resolve_p90[index],
            overdue_open=sum(bucket_counts.values()),
            overdue_buckets=bucket_counts,
        )
    return result


def _codes(keys: Any, missing: str | None) -> tuple[list[str], Any]:
    """Group keys as small integers (first-seen order) and the names they stand for; a
    missing key becomes `missing`, or -1 (left out) when that is None."""
    import numpy as np

    index: dict[object, int] = {}
    if missing is not None:
        codes = [index.setdefault(missing if k is None else k, len(index)) for k in keys]
    else:
        codes = [-1 if k is None else index.setdefault(k, len(index)) for k in keys]
    return [str(k) for k in index], np.array(codes, dtype=np.int64)


def _nearest_ranks(codes: Any, values: Any, size: int) -> tuple[list[int | None], list[int | None]]:
    """Per group: the ⌈0.5·n⌉-th and ⌈0.9·n⌉-th smallest value (None for an empty group)."""
    import numpy as np

    order = np.lexsort((values, codes))
    ordered = values[order]
    counts = np.bincount(codes, minlength=size)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    medians: list[int | None] = []
    p90s: list[int | None] = []
    for group in range(size):
        n = int(counts[group])
        if n == 0:
            medians.append(None)
            p90s.append(None)
            continue
        base = int(offsets[group])
        medians.append(int(ordered[base + (n + 1) // 2 - 1]))
        p90s.append(int(ordered[base + (9 * n + 9) // 10 - 1]))
    return medians, p90s


@dataclass(frozen=True)
class GroupFigures:
    key: str
    current: Figures
    previous: Figures


@dataclass(frozen=True)
class HeldIssue:
    """An issue in 挂账 now: its number, the approved reason and its review date."""

    id: int
    reason: str
    review_at: int


@dataclass(frozen=True)
class ExtensionFigures:
    """The week's extensions and 挂账 (see the definitions above)."""

    requested: int = 0
    approved: int = 0
    held_at_end: int = 0
    held_now: tuple[HeldIssue, ...] = ()


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
    closures: dict[str, int] = field(default_factory=dict)
    """不属实 / 重复 / 非本辖区 closures of the week's reports (kind → count)."""
    extensions: ExtensionFigures = ExtensionFigures()


def _paired(now: dict[str, Figures], before: dict[str, Figures]) -> list[GroupFigures]:
    return [
        GroupFigures(key, now.get(key, Figures()), before.get(key, Figures()))
        for key in sorted(set(now) | set(before))
    ]


def _rank_key(group: GroupFigures) -> tuple[float, float, int]:
    f = group.current
    return (-(f.on_time_response_rate or 0.0), -(f.on_time_resolution_rate or 0.0), -f.received)


def weekly_report(
    week: str,
    zone: ZoneInfo,
    current: Computed,
    previous: Computed,
    as_of: datetime,
    oldest_overdue: Sequence[IssueRow] = (),
    closures: dict[str, int] | None = None,
    extensions: ExtensionFigures = ExtensionFigures(),
) -> WeeklyReport:
    """The whole report for one week's figures against the week before's."""
    starts, ends = week_bounds(week, zone)
    overall = _paired(current[Grouping.OVERALL], previous[Grouping.OVERALL])
    return WeeklyReport(
        week=week,
        starts=starts,
        ends=ends,
        as_of=as_of,
        overall=overall[0] if overall else GroupFigures("all", Figures(), Figures()),
        departments=sorted(
            _paired(current[Grouping.DEPARTMENT], previous[Grouping.DEPARTMENT]), key=_rank_key
        ),
        members=_paired(current[Grouping.MEMBER], previous[Grouping.MEMBER]),
        grids=_paired(current[Grouping.GRID], previous[Grouping.GRID]),
        categories=_paired(current[Grouping.CATEGORY], previous[Grouping.CATEGORY]),
        oldest_overdue=list(oldest_overdue),
        closures=dict(closures or {}),
        extensions=extensions,
    )


def epoch_bounds(week: str, zone: ZoneInfo) -> tuple[int, int]:
    starts, ends = week_bounds(week, zone)
    return to_epoch(starts), to_epoch(ends)


# --- 联合吹哨: the summonses of a cohort ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummonsRow:
    """One department summoned (and not released) to a whistle on a cohort issue."""

    issue_id: int
    department: str
    grid: str
    category: str
    summoned_at: int
    arrive_deadline: int
    arrived_at: int | None
    street_rating: str | None
    lead: bool = False
    """The lead department (牵头), which holds the issue."""
    arrived_by: int | None = None
    """Who checked in on site for the department (its figures count for that member)."""
    arrived_meters: int | None = None
    street_reason: str | None = None

    @property
    def on_time(self) -> bool:
        """Arrived on site at or before the arrival deadline."""
        return self.arrived_at is not None and self.arrived_at <= self.arrive_deadline


def whistle_figures(rows: Sequence[SummonsRow]) -> dict[Grouping, dict[str, Figures]]:
    """The whistle figures per summoned department, grid, category, member (who checked
    in on site) and overall, by the definitions above; every other figure is left at its
    default."""
    groups: dict[Grouping, dict[str, list[SummonsRow]]] = {g: {} for g in Grouping}
    for row in rows:
        groups[Grouping.OVERALL].setdefault("all", []).append(row)
        groups[Grouping.DEPARTMENT].setdefault(row.department, []).append(row)
        groups[Grouping.GRID].setdefault(row.grid, []).append(row)
        groups[Grouping.CATEGORY].setdefault(row.category, []).append(row)
        if row.arrived_by is not None:
            groups[Grouping.MEMBER].setdefault(str(row.arrived_by), []).append(row)
    result: dict[Grouping, dict[str, Figures]] = {g: {} for g in Grouping}
    for grouping, by_key in groups.items():
        for key, members in by_key.items():
            times = sorted(
                r.arrived_at - r.summoned_at for r in members if r.arrived_at is not None
            )
            result[grouping][key] = Figures(
                whistles=len(members),
                arrived=len(times),
                arrived_on_time=sum(1 for r in members if r.on_time),
                arrive_median=nearest_rank(times, 0.5),
                arrive_p90=nearest_rank(times, 0.9),
                street_rated=sum(1 for r in members if r.street_rating is not None),
                street_satisfied=sum(1 for r in members if r.street_rating in GOOD_RATINGS),
            )
    return result


WHISTLE_FIELDS = (
    "whistles",
    "arrived",
    "arrived_on_time",
    "arrive_median",
    "arrive_p90",
    "street_rated",
    "street_satisfied",
)


def with_whistles(computed: Computed, rows: Sequence[SummonsRow]) -> Computed:
    """`computed` with the whistle figures of `rows` filled in (a group that only has
    summonses, like a co-department that holds no issue, appears with them)."""
    merged: Computed = {g: dict(by_key) for g, by_key in computed.items()}
    for grouping, by_key in whistle_figures(rows).items():
        for key, found in by_key.items():
            base = merged[grouping].get(key, Figures())
            merged[grouping][key] = replace(
                base, **{name: getattr(found, name) for name in WHISTLE_FIELDS}
            )
    return merged
