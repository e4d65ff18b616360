"""A plain-Python reading of the statistics definitions in bot/stats.py, used only to
check the vectorised computation (bot.stats.compute)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from bot.callbacks import Rating
from bot.stats import (
    GOOD_RATINGS,
    OPEN,
    OVERDUE_BUCKETS,
    RESOLVED,
    Figures,
    IssueRow,
    SummonsRow,
    is_overdue,
    nearest_rank,
)


def figures(rows: Iterable[IssueRow], as_of: int, from_dispatch: bool = False) -> Figures:
    """The figures of one group of a cohort. Durations start at the report, or at the
    dispatch to the holding department when `from_dispatch`."""
    received = acknowledged = on_time_ack = resolved = on_time_resolved = 0
    on_time_original = 0
    rated = satisfied = overdue = reopened = escalated = transferred = excluded = 0
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
        reopened += row.reopened
        escalated += row.escalated
        transferred += row.transferred
        # 不属实 and 重复: received (and acknowledged), but never resolved, rated or overdue
        if row.state == "closed" and row.closure in EXCLUDED:
            excluded += 1
            continue
        if row.state in RESOLVED and row.resolved_at is not None:
            resolved += 1
            resolve_times.append(row.resolved_at - start)
            if row.resolve_deadline is not None and row.resolved_at <= row.resolve_deadline:
                on_time_resolved += 1
            # Against the deadline before any extension (the only one when never extended).
            original = row.original_resolve_deadline or row.resolve_deadline
            if original is not None and row.resolved_at <= original:
                on_time_original += 1
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
    ack_times.sort()
    resolve_times.sort()
    return Figures(
        received=received,
        acknowledged=acknowledged,
        acknowledged_on_time=on_time_ack,
        not_acknowledged=received - acknowledged,
        resolved=resolved,
        resolved_on_time=on_time_resolved,
        resolved_on_time_original=on_time_original,
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
        excluded=excluded,
    )


# --- closures that say why ----------------------------------------------------------------


def cohort(rows: Iterable[tuple[IssueRow, str | None]]) -> list[IssueRow]:
    """The weekly cohort of issues given with their standing closure (None, 'invalid',
    'duplicate', 'elsewhere'): the non-cancelled ones, each carrying its closure (不属实 and
    重复 stay in the cohort; `figures` leaves them out of the 解决率 and 满意率 counts)."""
    return [replace(row, closure=closure) for row, closure in rows if row.state != "cancelled"]


def closure_counts(rows: Iterable[tuple[IssueRow, str | None]]) -> dict[str, int]:
    """Each kind of closure among the closed issues (every kind, 0 when none)."""
    counts = {"invalid": 0, "duplicate": 0, "elsewhere": 0}
    for row, closure in rows:
        if row.state == "closed" and closure is not None:
            counts[closure] += 1
    return counts


EXCLUDED = frozenset({"invalid", "duplicate"})


# 联合吹哨: a plain reading of the whistle figures' definitions in bot/stats.py
def whistle_figures(rows: Iterable[SummonsRow]) -> dict[str, object]:
    """The whistle figures of one group of summonses, as the JSON names them."""
    whistles = arrived = on_time = rated = satisfied = 0
    times: list[int] = []
    for row in rows:
        whistles += 1
        if row.arrived_at is not None:
            arrived += 1
            times.append(row.arrived_at - row.summoned_at)
            on_time += row.arrived_at <= row.arrive_deadline
        if row.street_rating is not None:
            rated += 1
            satisfied += row.street_rating in GOOD_RATINGS
    times.sort()
    return {
        "whistles": whistles,
        "arrived": arrived,
        "arrived_on_time": on_time,
        "on_site_rate": on_time / whistles if whistles else None,
        "arrive_median_seconds": nearest_rank(times, 0.5),
        "arrive_p90_seconds": nearest_rank(times, 0.9),
        "street_rated": rated,
        "street_satisfied": satisfied,
        "street_satisfaction_rate": satisfied / rated if rated else None,
    }


def whistle_members(rows: Iterable[SummonsRow]) -> dict[str, dict[str, object]]:
    """The whistle figures per duty member: over the summonses each member checked in on
    site for (`arrived_by`), keyed like the member grouping (the user id as text)."""
    by_member: dict[str, list[SummonsRow]] = {}
    for row in rows:
        if row.arrived_by is not None:
            by_member.setdefault(str(row.arrived_by), []).append(row)
    return {member: whistle_figures(group) for member, group in by_member.items()}


def whistle_row(row: SummonsRow) -> dict[str, object]:
    """What one row of the "whistles" file says about its summons, read from the
    definitions: lead, seconds to arrive (from the summons), distance, on time, rating."""
    arrived = row.arrived_at is not None
    return {
        "issue": row.issue_id,
        "department": row.department,
        "lead": int(row.lead),
        "arrive_seconds": row.arrived_at - row.summoned_at if row.arrived_at is not None else "",
        "distance_meters": row.arrived_meters if row.arrived_meters is not None else "",
        "arrived_on_time": int(
            arrived and row.arrived_at is not None and row.arrived_at <= row.arrive_deadline
        ),
        "street_rating": row.street_rating or "",
        "street_reason": row.street_reason or "",
    }


def summons_rows(checked_in: bool = False) -> st.SearchStrategy[list[SummonsRow]]:
    """Up to 40 summonses (issues 1-20, three departments, two grids, two categories, each
    arriving on time, late or never, rated or not); with `checked_in`, also the lead, who
    checked in, how far from the site and the street's reason."""
    on_site: dict[str, Any] = {}
    if checked_in:
        on_site = {
            "lead": st.booleans(),
            "arrived_by": st.one_of(st.none(), st.sampled_from([1002, 1102, 1302])),
            "arrived_meters": st.one_of(st.none(), st.integers(0, 300)),
            "street_reason": st.one_of(st.none(), st.text(max_size=5)),
        }
    return st.lists(
        st.builds(
            SummonsRow,
            issue_id=st.integers(1, 20),
            department=st.sampled_from(["cg", "zj", "hb"]),
            grid=st.sampled_from(["G01", "G02"]),
            category=st.sampled_from(["illegal_building", "sanitation"]),
            summoned_at=st.just(1_000_000),
            arrive_deadline=st.just(1_000_000 + 1800),
            arrived_at=st.one_of(st.none(), st.integers(1_000_000, 1_000_000 + 7200)),
            street_rating=st.one_of(st.none(), st.sampled_from([r.value for r in Rating])),
            **on_site,
        ),
        max_size=40,
    )
