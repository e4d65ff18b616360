"""The statistics definitions on hand-built issues, with the expected figures worked out
by hand in each test; the vectorised computation is also checked against a plain-Python
reading of the definitions on generated cohorts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import to_epoch
from bot.stats import (
    Figures,
    Grouping,
    IssueRow,
    compute,
    nearest_rank,
    week_bounds,
    week_label,
    weekly_report,
)
from storage import stats as stats_store
from storage.db import Database
from tests import issue_rows
from tests.stats_oracle import figures as oracle_figures

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 16, tzinfo=SHANGHAI)  # 2026-W47 starts here
STARTS, ENDS = to_epoch(MONDAY), to_epoch(MONDAY + timedelta(days=7))
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


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "stats.db") as database:
        async with database.write() as tx:
            await issue_rows.places(tx, ("G01", "G02"), ("cg", "zj"), ("sanitation", "noise"))
        yield database


async def store(db: Database, rows: list[IssueRow]) -> None:
    async with db.write() as tx:
        await tx.execute("DELETE FROM issue")
        await issue_rows.insert(tx, rows)


async def computed(
    db: Database,
    rows: list[IssueRow],
    grouping: Grouping = Grouping.OVERALL,
    as_of: int = AS_OF,
) -> dict[str, Figures]:
    await store(db, rows)
    cohort = await stats_store.cohort_columns(db.reader, STARTS, ENDS)
    return compute(cohort, as_of)[grouping]


async def overall(db: Database, rows: list[IssueRow], as_of: int = AS_OF) -> Figures:
    return (await computed(db, rows, as_of=as_of)).get("all", Figures())


async def test_an_empty_week_has_no_rates_and_no_times(db: Database) -> None:
    f = await overall(db, [])
    assert f.received == 0
    assert f.response_rate is None and f.satisfaction_rate is None
    assert (f.ack_median, f.ack_p90, f.resolve_median) == (None, None, None)


async def test_a_week_of_cancelled_issues_is_an_empty_week(db: Database) -> None:
    f = await overall(db, [issue(1, state="cancelled"), issue(2, state="cancelled")])
    assert f == Figures()


async def test_acknowledged_exactly_at_the_deadline_is_on_time_one_second_later_is_late(
    db: Database,
) -> None:
    on_time = issue(1, state="acknowledged", acknowledged_at=T0 + 30 * MIN)
    late = issue(2, state="acknowledged", acknowledged_at=T0 + 30 * MIN + 1)
    never = issue(3)
    f = await overall(db, [on_time, late, never])
    assert (f.received, f.acknowledged, f.acknowledged_on_time, f.not_acknowledged) == (3, 2, 1, 1)
    assert f.response_rate == 2 / 3 and f.on_time_response_rate == 1 / 3
    assert (f.ack_median, f.ack_p90) == (30 * MIN, 30 * MIN + 1)


async def test_resolution_counts_resolved_and_closed_against_their_deadline(
    db: Database,
) -> None:
    resolved = issue(1, state="resolved", acknowledged_at=T0 + MIN, resolved_at=T0 + 24 * HOUR)
    closed_late = issue(2, state="closed", acknowledged_at=T0 + MIN, resolved_at=T0 + 24 * HOUR + 1)
    reopened_now = issue(3, state="reopened", acknowledged_at=T0 + MIN, reopened=True)
    f = await overall(db, [resolved, closed_late, reopened_now])
    assert (f.resolved, f.resolved_on_time) == (2, 1)
    assert f.resolution_rate == 2 / 3 and f.on_time_resolution_rate == 1 / 3
    assert (f.resolve_median, f.resolve_p90) == (24 * HOUR, 24 * HOUR + 1)
    assert (f.reopened, f.reopened_rate) == (1, 1 / 3)


async def test_satisfaction_is_good_ratings_over_rated_ones(db: Database) -> None:
    rows = [
        issue(1, state="closed", rating="satisfied"),
        issue(2, state="closed", rating="fair"),
        issue(3, state="closed", rating="dissatisfied"),
        issue(4, state="closed"),
    ]
    f = await overall(db, rows)
    assert (f.rated, f.satisfied, f.satisfaction_rate) == (3, 2, 2 / 3)


@pytest.mark.parametrize(("n", "median", "p90"), [(1, 1, 1), (9, 5, 9), (10, 5, 9), (11, 6, 10)])
async def test_median_and_p90_are_nearest_ranks(
    db: Database, n: int, median: int, p90: int
) -> None:
    rows = [issue(k, state="acknowledged", acknowledged_at=T0 + k * MIN) for k in range(1, n + 1)]
    f = await overall(db, rows)
    assert (f.ack_median, f.ack_p90) == (median * MIN, p90 * MIN)
    ordered = list(range(1, n + 1))
    assert (nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.9)) == (median, p90)


async def test_reopened_escalated_and_transferred_count_issues(db: Database) -> None:
    rows = [
        issue(1, reopened=True, escalated=True),
        issue(2, transferred=True),
        issue(3),
        issue(4, reopened=True),
    ]
    f = await overall(db, rows)
    assert (f.reopened, f.escalated, f.transferred) == (2, 1, 1)
    assert (f.reopened_rate, f.escalated_rate, f.transferred_rate) == (0.5, 0.25, 0.25)


async def test_overdue_open_issues_are_bucketed_by_how_late_they_are(db: Database) -> None:
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
    f = await overall(db, rows)
    assert (f.overdue, f.overdue_open) == (6, 5)
    assert f.overdue_buckets == {"0-1d": 1, "1-3d": 2, "3-7d": 1, ">7d": 1}
    oldest = await stats_store.oldest_overdue(db.reader, STARTS, ENDS, AS_OF)
    assert [r.id for r in oldest] == [1, 2, 3, 4, 5]


async def test_a_transferred_issue_counts_for_its_holder_from_its_own_dispatch(
    db: Database,
) -> None:
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
    rows = [rerouted, direct]
    street = await overall(db, rows)
    assert (street.ack_median, street.ack_p90) == (20 * MIN, 2 * HOUR + 10 * MIN)
    by_department = await computed(db, rows, Grouping.DEPARTMENT)
    assert set(by_department) == {"cg", "zj"}
    assert by_department["zj"].ack_median == 10 * MIN
    assert (by_department["zj"].transferred, by_department["cg"].transferred) == (1, 0)
    by_grid = await computed(db, rows, Grouping.GRID)
    assert by_grid["G01"].ack_p90 == 2 * HOUR + 10 * MIN
    by_member = await computed(db, rows, Grouping.MEMBER)
    assert by_member["1102"].ack_median == 10 * MIN


async def test_week_boundaries_follow_the_local_monday(db: Database) -> None:
    sunday_night = ENDS - 1
    rows = [
        issue(1, reported_at=STARTS),
        issue(2, reported_at=sunday_night),
        issue(3, reported_at=ENDS),
        issue(4, reported_at=STARTS - 1),
    ]
    assert (await overall(db, rows)).received == 2
    assert [r.id for r in stats_store.cohort_rows(db.path, STARTS, ENDS)] == [1, 2]
    assert week_label(MONDAY, SHANGHAI) == "2026-W47"
    assert week_label(MONDAY - timedelta(seconds=1), SHANGHAI) == "2026-W46"
    assert week_bounds("2026-W47", SHANGHAI) == (MONDAY, MONDAY + timedelta(days=7))


def test_the_report_pairs_weeks_and_ranks_departments() -> None:
    good = Figures(received=2, acknowledged=2, acknowledged_on_time=2)
    poor = Figures(received=1)
    current = {
        Grouping.OVERALL: {"all": Figures(received=3)},
        Grouping.DEPARTMENT: {"zj": good, "cg": poor},
        Grouping.MEMBER: {},
        Grouping.GRID: {},
        Grouping.CATEGORY: {},
    }
    previous = {
        Grouping.OVERALL: {"all": Figures(received=2)},
        Grouping.DEPARTMENT: {"cg": Figures(received=2)},
        Grouping.MEMBER: {},
        Grouping.GRID: {},
        Grouping.CATEGORY: {},
    }
    report = weekly_report("2026-W47", SHANGHAI, current, previous, MONDAY)
    assert [g.key for g in report.departments] == ["zj", "cg"]
    assert (report.departments[1].current.received, report.departments[1].previous.received) == (
        1,
        2,
    )
    assert report.overall.previous.received == 2


states = st.sampled_from(
    [
        "reported",
        "dispatched",
        "acknowledged",
        "transferred",
        "resolved",
        "reopened",
        "closed",
        "cancelled",
        "held",
    ]
)


@st.composite
def cohorts(draw: st.DrawFn) -> list[IssueRow]:
    rows = []
    for n in range(1, draw(st.integers(0, 25)) + 1):
        reported = STARTS + draw(st.integers(0, 7 * DAY - 1))
        dispatched = reported + draw(st.sampled_from([0, 5 * MIN, 3 * HOUR]))
        ack = draw(st.one_of(st.none(), st.integers(dispatched, dispatched + 2 * HOUR)))
        resolved = draw(st.one_of(st.none(), st.integers(dispatched, dispatched + 3 * DAY)))
        rows.append(
            IssueRow(
                id=n,
                reported_at=reported,
                state=draw(states),
                grid=draw(st.sampled_from(["G01", "G02"])),
                category=draw(st.sampled_from(["sanitation", "noise"])),
                department=draw(st.sampled_from(["cg", "zj", None])),
                assignee=draw(st.sampled_from([1002, 1003, None])),
                urgent=False,
                dispatched_at=dispatched,
                acknowledged_at=ack,
                ack_deadline=dispatched + 30 * MIN,
                resolved_at=resolved,
                resolve_deadline=dispatched + DAY,
                rating=draw(st.sampled_from([None, "satisfied", "fair", "dissatisfied"])),
                reopened=draw(st.booleans()),
                escalated=draw(st.booleans()),
                transferred=draw(st.booleans()),
                # extended (延期) before it was resolved, or not
                original_resolve_deadline=draw(
                    st.one_of(st.none(), st.integers(dispatched, dispatched + DAY))
                ),
            )
        )
    return rows


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=cohorts(), late=st.integers(0, 10 * DAY))
async def test_the_computation_matches_the_definitions_on_generated_cohorts(
    db: Database, rows: list[IssueRow], late: int
) -> None:
    as_of = ENDS + late
    live = [r for r in rows if r.state != "cancelled"]
    for grouping, key in (
        (Grouping.OVERALL, lambda r: "all"),
        (Grouping.DEPARTMENT, lambda r: r.department or "-"),
        (Grouping.MEMBER, lambda r: str(r.assignee)),
        (Grouping.GRID, lambda r: r.grid),
        (Grouping.CATEGORY, lambda r: r.category),
    ):
        members = [r for r in live if grouping != Grouping.MEMBER or r.assignee]
        expected = {
            k: oracle_figures([r for r in members if key(r) == k], as_of, grouping.from_dispatch)
            for k in {key(r) for r in members}
        }
        assert await computed(db, rows, grouping, as_of) == expected
