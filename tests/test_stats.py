"""The statistics definitions on hand-built issues, with the expected figures worked out
by hand in each test."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import to_epoch
from bot.stats import IssueRow, figures, nearest_rank, week_bounds, week_label, weekly_report
from storage import stats as stats_store
from storage.db import Database

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 16, tzinfo=SHANGHAI)  # 2026-W47 starts here
T0 = to_epoch(MONDAY + timedelta(hours=10))
MIN, HOUR, DAY = 60, 3600, 86400
AS_OF = T0 + 3 * DAY


def issue(n: int = 1, **changes: object) -> IssueRow:
    base = IssueRow(
        id=n,
        reported_at=T0,
        state="dispatched",
        grid="G01",
        category="sanitation",
        department="cg",
        assignee=1002,
        urgent=False,
        dispatched_at=T0,
        acknowledged_at=None,
        ack_deadline=T0 + 30 * MIN,
        resolved_at=None,
        resolve_deadline=T0 + 24 * HOUR,
        rating=None,
        reopened=False,
        escalated=False,
        transferred=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_empty_week_has_no_rates_and_no_times() -> None:
    f = figures([], AS_OF)
    assert f.received == 0
    assert f.response_rate is None and f.satisfaction_rate is None
    assert (f.ack_median, f.ack_p90, f.resolve_median) == (None, None, None)


def test_acknowledged_exactly_at_the_deadline_is_on_time_one_second_later_is_late() -> None:
    on_time = issue(1, state="acknowledged", acknowledged_at=T0 + 30 * MIN)
    late = issue(2, state="acknowledged", acknowledged_at=T0 + 30 * MIN + 1)
    never = issue(3)
    f = figures([on_time, late, never], AS_OF)
    assert (f.received, f.acknowledged, f.acknowledged_on_time, f.not_acknowledged) == (3, 2, 1, 1)
    assert f.response_rate == 2 / 3 and f.on_time_response_rate == 1 / 3
    assert (f.ack_median, f.ack_p90) == (30 * MIN, 30 * MIN + 1)


def test_resolution_counts_resolved_and_closed_and_its_own_deadline() -> None:
    resolved = issue(1, state="resolved", acknowledged_at=T0 + MIN, resolved_at=T0 + 24 * HOUR)
    closed_late = issue(2, state="closed", acknowledged_at=T0 + MIN, resolved_at=T0 + 24 * HOUR + 1)
    reopened_now = issue(
        3, state="reopened", acknowledged_at=T0 + MIN, resolved_at=None, reopened=True
    )
    f = figures([resolved, closed_late, reopened_now], AS_OF)
    assert (f.resolved, f.resolved_on_time) == (2, 1)
    assert f.resolution_rate == 2 / 3 and f.on_time_resolution_rate == 1 / 3
    assert (f.resolve_median, f.resolve_p90) == (24 * HOUR, 24 * HOUR + 1)


def test_ratings_give_the_satisfaction_rate_over_the_rated_ones() -> None:
    rows = [
        issue(1, state="closed", rating="satisfied"),
        issue(2, state="closed", rating="fair"),
        issue(3, state="closed", rating="dissatisfied"),
        issue(4, state="closed"),
    ]
    f = figures(rows, AS_OF)
    assert (f.rated, f.satisfied, f.satisfaction_rate) == (3, 2, 2 / 3)


def test_p90_is_the_nearest_rank() -> None:
    assert nearest_rank([7], 0.9) == 7
    nine = list(range(1, 10))
    assert nearest_rank(nine, 0.9) == 9  # ceil(8.1) = 9th
    ten = list(range(1, 11))
    assert nearest_rank(ten, 0.9) == 9  # ceil(9.0) = 9th
    eleven = list(range(1, 12))
    assert nearest_rank(eleven, 0.9) == 10  # ceil(9.9) = 10th
    assert nearest_rank(ten, 0.5) == 5 and nearest_rank(eleven, 0.5) == 6


def test_reopened_escalated_and_transferred_count_issues_not_events() -> None:
    rows = [
        issue(1, reopened=True, escalated=True),
        issue(2, transferred=True),
        issue(3),
        issue(4, reopened=True),
    ]
    f = figures(rows, AS_OF)
    assert (f.reopened, f.escalated, f.transferred) == (2, 1, 1)
    assert (f.reopened_rate, f.escalated_rate, f.transferred_rate) == (0.5, 0.25, 0.25)


def test_overdue_open_issues_are_bucketed_by_how_late_they_are() -> None:
    def open_late(n: int, late: int) -> IssueRow:
        return issue(n, reported_at=T0 + n, resolve_deadline=AS_OF - late)

    rows = [
        open_late(1, HOUR * 12),
        open_late(2, 2 * DAY),
        open_late(3, 5 * DAY),
        open_late(4, 10 * DAY),
        open_late(5, DAY),
        issue(6, state="closed", resolved_at=T0 + 30 * HOUR, resolve_deadline=T0 + DAY),
        issue(7, resolve_deadline=AS_OF + HOUR),
    ]
    f = figures(rows, AS_OF)
    assert (f.overdue, f.overdue_open) == (6, 5)
    assert f.overdue_buckets == {"0-1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}
    report = weekly_report("2026-W47", SHANGHAI, rows, [], datetime.fromtimestamp(AS_OF, SHANGHAI))
    assert [r.id for r in report.oldest_overdue] == [1, 2, 3, 4, 5]


def test_transfers_count_for_the_holding_department_from_its_own_dispatch() -> None:
    rerouted = issue(
        1,
        state="acknowledged",
        department="zj",
        assignee=1102,
        dispatched_at=T0 + 2 * HOUR,
        acknowledged_at=T0 + 2 * HOUR + 10 * MIN,
        ack_deadline=T0 + 2 * HOUR + 60 * MIN,
        transferred=True,
    )
    direct = issue(2, state="acknowledged", acknowledged_at=T0 + 20 * MIN)
    report = weekly_report(
        "2026-W47", SHANGHAI, [rerouted, direct], [], datetime.fromtimestamp(AS_OF, SHANGHAI)
    )
    assert report.overall.current.ack_median == 20 * MIN
    assert report.overall.current.ack_p90 == 2 * HOUR + 10 * MIN
    by_department = {g.key: g.current for g in report.departments}
    assert set(by_department) == {"cg", "zj"}
    assert by_department["zj"].ack_median == 10 * MIN
    assert by_department["zj"].transferred == 1 and by_department["cg"].transferred == 0
    by_grid = {g.key: g.current for g in report.grids}
    assert by_grid["G01"].ack_p90 == 2 * HOUR + 10 * MIN
    by_member = {g.key: g.current for g in report.members}
    assert by_member["1102"].ack_median == 10 * MIN


def test_each_group_carries_the_previous_week_and_departments_are_ranked() -> None:
    good = [
        issue(n, department="zj", state="acknowledged", acknowledged_at=T0 + MIN)
        for n in range(1, 3)
    ]
    poor = [issue(3, department="cg")]
    before = [issue(10, reported_at=T0 - 7 * DAY, department="cg")] * 2
    report = weekly_report(
        "2026-W47", SHANGHAI, good + poor, before, datetime.fromtimestamp(AS_OF, SHANGHAI)
    )
    assert [g.key for g in report.departments] == ["zj", "cg"]
    cg = next(g for g in report.departments if g.key == "cg")
    assert (cg.current.received, cg.previous.received) == (1, 2)
    assert report.overall.previous.received == 2


def test_week_labels_and_bounds_follow_the_local_monday() -> None:
    assert week_label(MONDAY, SHANGHAI) == "2026-W47"
    assert week_label(MONDAY - timedelta(seconds=1), SHANGHAI) == "2026-W46"
    starts, ends = week_bounds("2026-W47", SHANGHAI)
    assert (starts, ends) == (MONDAY, MONDAY + timedelta(days=7))


async def test_the_cohort_is_the_non_cancelled_issues_of_the_local_week(tmp_path: Path) -> None:
    sunday_night = to_epoch(MONDAY + timedelta(days=7) - timedelta(seconds=1))
    next_monday = to_epoch(MONDAY + timedelta(days=7))
    async with Database(tmp_path / "cohort.db") as db:
        async with db.write() as tx:
            await tx.execute("INSERT INTO person (user_id, created_at) VALUES (2001, 0)")
            await tx.execute("INSERT INTO grid (code, name) VALUES ('G01', 'g')")
            await tx.execute("INSERT INTO department (code, name) VALUES ('cg', 'd')")
            await tx.execute(
                "INSERT INTO category (code, name, department_code, ack_minutes, resolve_hours) "
                "VALUES ('sanitation', 'c', 'cg', 30, 24)"
            )
            for n, (at, state) in enumerate(
                [
                    (to_epoch(MONDAY), "dispatched"),
                    (sunday_night, "closed"),
                    (sunday_night, "cancelled"),
                    (next_monday, "dispatched"),
                    (to_epoch(MONDAY) - 1, "dispatched"),
                ],
                start=1,
            ):
                await tx.execute(
                    "INSERT INTO issue (id, reporter_id, grid_code, category_code, description,"
                    " state, reported_at, draft_key) VALUES (?, 2001, 'G01', 'sanitation', 'x',"
                    " ?, ?, ?)",
                    (n, state, at, f"k{n}"),
                )
        starts, ends = to_epoch(MONDAY), to_epoch(MONDAY + timedelta(days=7))
        rows = await stats_store.cohort(db.reader, starts, ends)
    assert [r.id for r in rows] == [1, 2]
