"""Times the weekly statistics on a large database and compares them with a bare indexed
SQL aggregate over the same week (the floor).

    python bench/stats_week.py [--issues 1000000] [--weeks 52] [--keep PATH]

Fills a database with issues over the weeks across 20 departments and 200 grids (each
issue with its report, dispatch, acknowledge, resolve and close events), then prints
the time of one weekly report (all departments, with the previous week for the
changes), of the 8-week trend, of the bare aggregate, the ratios, and the file size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics as pystats
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import ManualClock, to_epoch
from bot.services.context import ServiceContext
from bot.services.languages import Languages
from bot.services.notices import Notices
from bot.services.organisation import OrganisationService
from bot.services.statistics import StatisticsService
from bot.stats import epoch_bounds, week_label
from storage.db import Database

ZONE = ZoneInfo("Asia/Shanghai")
DEPARTMENTS = [f"d{n:02d}" for n in range(20)]
GRIDS = [f"G{n:03d}" for n in range(200)]
CATEGORIES = [(f"c{n:02d}", DEPARTMENTS[n % 20]) for n in range(40)]


def fill(path: Path, issues: int, weeks: int, end: datetime) -> None:
    rng = random.Random(47)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executemany(
        "INSERT INTO department (code, name, position) VALUES (?, ?, ?)",
        [(d, f"部门{d}", i) for i, d in enumerate(DEPARTMENTS)],
    )
    conn.executemany(
        "INSERT INTO grid (code, name, position) VALUES (?, ?, ?)",
        [(g, f"网格{g}", i) for i, g in enumerate(GRIDS)],
    )
    conn.executemany(
        "INSERT INTO category (code, name, department_code, ack_minutes, resolve_hours) "
        "VALUES (?, ?, ?, 30, 24)",
        [(c, f"类别{c}", d) for c, d in CATEGORIES],
    )
    start = to_epoch(end - timedelta(weeks=weeks))
    span = to_epoch(end) - start
    batch_issues: list[tuple[object, ...]] = []
    batch_events: list[tuple[object, ...]] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO issue (id, reporter_id, grid_code, category_code, description, urgent,"
            " state, department_code, assignee_id, reported_at, dispatched_at, acknowledged_at,"
            " resolved_at, closed_at, ack_deadline, resolve_deadline, rating, reopen_count,"
            " transfer_count, escalated, draft_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch_issues,
        )
        conn.executemany(
            "INSERT INTO issue_event (issue_id, at, actor_id, action, from_state, to_state,"
            " department_code, assignee_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch_events,
        )
        batch_issues.clear()
        batch_events.clear()

    for n in range(1, issues + 1):
        reported = start + int(span * n / issues)
        category, department = CATEGORIES[rng.randrange(len(CATEGORIES))]
        member = 10000 + DEPARTMENTS.index(department) * 10 + rng.randrange(5)
        dispatched = reported
        ack = dispatched + int(rng.expovariate(1 / 1200)) if rng.random() < 0.95 else None
        resolved = ack + int(rng.expovariate(1 / 40000)) if ack and rng.random() < 0.85 else None
        closed = resolved + 3600 if resolved and rng.random() < 0.7 else None
        state = (
            "closed"
            if closed
            else "resolved"
            if resolved
            else "acknowledged"
            if ack
            else "dispatched"
        )
        rating = rng.choice(["satisfied", "satisfied", "fair", "dissatisfied"]) if closed else None
        batch_issues.append(
            (
                n,
                20000 + rng.randrange(400),
                GRIDS[rng.randrange(200)],
                category,
                "bench",
                0,
                state,
                department,
                member,
                reported,
                dispatched,
                ack,
                resolved,
                closed,
                dispatched + 1800,
                dispatched + 86400,
                rating,
                int(rng.random() < 0.03),
                int(rng.random() < 0.05),
                int(rng.random() < 0.1),
                f"b{n}",
            )
        )
        batch_events.append((n, reported, None, "report", None, "reported", None, None))
        batch_events.append(
            (n, dispatched, None, "dispatch", "reported", "dispatched", department, member)
        )
        if ack:
            batch_events.append(
                (n, ack, member, "acknowledge", "dispatched", "acknowledged", department, member)
            )
        if resolved:
            batch_events.append(
                (n, resolved, member, "resolve", "acknowledged", "resolved", department, member)
            )
        if closed:
            batch_events.append(
                (n, closed, None, "confirm", "resolved", "closed", department, member)
            )
        if len(batch_issues) >= 50000:
            flush()
    flush()
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def bare_aggregate(path: Path, week: str) -> None:
    """The floor: counts and sorted durations per department, straight from SQL."""
    starts, ends = epoch_bounds(week, ZONE)
    conn = sqlite3.connect(path)
    conn.execute(
        """SELECT department_code, COUNT(*), COUNT(acknowledged_at),
                  SUM(acknowledged_at <= ack_deadline), SUM(state IN ('resolved', 'closed')),
                  SUM(resolved_at <= resolve_deadline), COUNT(rating),
                  SUM(rating IN ('satisfied', 'fair')), SUM(reopen_count > 0), SUM(escalated),
                  SUM(transfer_count > 0)
           FROM issue WHERE reported_at >= ? AND reported_at < ? AND state != 'cancelled'
           GROUP BY department_code""",
        (starts, ends),
    ).fetchall()
    conn.execute(
        """SELECT department_code, acknowledged_at - dispatched_at FROM issue
           WHERE reported_at >= ? AND reported_at < ? AND acknowledged_at IS NOT NULL
           ORDER BY department_code, 2""",
        (starts, ends),
    ).fetchall()
    conn.execute(
        """SELECT department_code, resolved_at - dispatched_at FROM issue
           WHERE reported_at >= ? AND reported_at < ? AND resolved_at IS NOT NULL
           ORDER BY department_code, 2""",
        (starts, ends),
    ).fetchall()
    conn.close()


async def measure(path: Path, week: str, as_of: datetime) -> tuple[float, float]:
    async with Database(path) as db:
        clock = ManualClock(as_of)
        notices = Notices(Languages("zh"), ZONE)
        context = ServiceContext(db, clock, OrganisationService(db, clock), notices)
        service = StatisticsService(context, ZONE)
        report_times, trend_times = [], []
        for _ in range(5):
            began = time.perf_counter()
            await service.report(week)
            report_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            await service.trend(week)
            trend_times.append(time.perf_counter() - began)
    return pystats.median(report_times), pystats.median(trend_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--keep", type=Path, help="keep the database here")
    args = parser.parse_args()
    end = datetime(2026, 11, 23, tzinfo=ZONE)
    folder = Path(tempfile.mkdtemp(prefix="whistle-bench-"))
    path = args.keep or folder / "stats.db"

    async def create() -> None:
        async with Database(path):
            pass

    asyncio.run(create())
    began = time.perf_counter()
    fill(path, args.issues, args.weeks, end)
    print(
        f"filled {args.issues:,} issues over {args.weeks} weeks in "
        f"{time.perf_counter() - began:.1f} s; database {path.stat().st_size / 2**20:.0f} MiB "
        f"({path.stat().st_size / args.issues * 100_000 / 2**20:.0f} MiB per 100,000 issues)"
    )
    week = week_label(end - timedelta(days=3), ZONE)
    report, trend = asyncio.run(measure(path, week, end + timedelta(hours=9)))
    floor = pystats.median([_timed_bare(path, week) for _ in range(5)])
    floor_trend = pystats.median(
        [
            sum(
                _timed_bare(path, week_label(end - timedelta(days=3 + 7 * k), ZONE))
                for k in range(8)
            )
            for _ in range(3)
        ]
    )
    print(f"weekly report (all departments, with previous week)  {report * 1000:.0f} ms")
    print(f"8-week trend                                          {trend * 1000:.0f} ms")
    print(
        f"bare indexed SQL aggregate, one week (floor)          {floor * 1000:.0f} ms "
        f"→ ratio {report / floor:.2f}"
    )
    print(
        f"bare aggregate, 8 weeks (floor)                       {floor_trend * 1000:.0f} ms "
        f"→ ratio {trend / floor_trend:.2f}"
    )


def _timed_bare(path: Path, week: str) -> float:
    began = time.perf_counter()
    bare_aggregate(path, week)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
