"""The weekly statistics in SQL: each figure of bot/stats.py computed where the rows are,
over the week's slice of the `reported_at` index, with percentiles by window functions.
Only a handful of numbers per group come back to Python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from bot.stats import OVERDUE_BUCKETS, Figures, Grouping, IssueRow
from storage.db import fetch_all

_GROUP_KEY = {
    Grouping.OVERALL: "'all'",
    Grouping.DEPARTMENT: "COALESCE(department_code, '-')",
    Grouping.MEMBER: "CAST(assignee_id AS TEXT)",
    Grouping.GRID: "grid_code",
    Grouping.CATEGORY: "category_code",
}
_OPEN = "('reported', 'dispatched', 'acknowledged', 'transferred', 'reopened')"
_DONE = "('resolved', 'closed')"
_BUCKETS = ",\n".join(
    f"SUM(state IN {_OPEN} AND :as_of > resolve_deadline"
    f" AND :as_of - resolve_deadline >= {low}"
    + (f" AND :as_of - resolve_deadline < {high}" if high is not None else "")
    + f") AS bucket_{n}"
    for n, (_, low, high) in enumerate(OVERDUE_BUCKETS)
)


def _figures_sql(grouping: Grouping, scope: str) -> str:
    key = _GROUP_KEY[grouping]
    start = "COALESCE(dispatched_at, reported_at)" if grouping.from_dispatch else "reported_at"
    only_assigned = "AND assignee_id IS NOT NULL" if grouping == Grouping.MEMBER else ""
    # Nearest rank: the ceil(0.5 n)-th and ceil(0.9 n)-th smallest, in integer arithmetic.
    return f"""
    WITH cohort AS MATERIALIZED (
        SELECT {key} AS g, state, {start} AS started, acknowledged_at, ack_deadline,
               resolved_at, resolve_deadline, rating, reopen_count, escalated, transfer_count
        FROM issue INDEXED BY issue_reported_at
        WHERE reported_at >= :starts AND reported_at < :ends AND state != 'cancelled'
              {only_assigned} {scope}
    ),
    counts AS (
        SELECT g,
               COUNT(*) AS received,
               COUNT(acknowledged_at) AS acknowledged,
               SUM(acknowledged_at <= ack_deadline) AS acknowledged_on_time,
               SUM(state IN {_DONE} AND resolved_at IS NOT NULL) AS resolved,
               SUM(state IN {_DONE} AND resolved_at <= resolve_deadline) AS resolved_on_time,
               COUNT(rating) AS rated,
               SUM(rating IN ('satisfied', 'fair')) AS satisfied,
               SUM(CASE WHEN resolve_deadline IS NULL THEN 0
                        WHEN state IN {_OPEN} THEN :as_of > resolve_deadline
                        WHEN state IN {_DONE} THEN resolved_at > resolve_deadline
                        ELSE 0 END) AS overdue,
               {_BUCKETS},
               SUM(reopen_count > 0) AS reopened,
               SUM(escalated > 0) AS escalated,
               SUM(transfer_count > 0) AS transferred
        FROM cohort GROUP BY g
    ),
    ack AS (
        SELECT g, acknowledged_at - started AS v,
               ROW_NUMBER() OVER (PARTITION BY g ORDER BY acknowledged_at - started) AS rn,
               COUNT(*) OVER (PARTITION BY g) AS n
        FROM cohort WHERE acknowledged_at IS NOT NULL
    ),
    resolve AS (
        SELECT g, resolved_at - started AS v,
               ROW_NUMBER() OVER (PARTITION BY g ORDER BY resolved_at - started) AS rn,
               COUNT(*) OVER (PARTITION BY g) AS n
        FROM cohort WHERE state IN {_DONE} AND resolved_at IS NOT NULL
    ),
    ack_ranks AS (
        SELECT g, MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS median,
                  MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN v END) AS p90
        FROM ack WHERE rn = (n + 1) / 2 OR rn = (9 * n + 9) / 10 GROUP BY g
    ),
    resolve_ranks AS (
        SELECT g, MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS median,
                  MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN v END) AS p90
        FROM resolve WHERE rn = (n + 1) / 2 OR rn = (9 * n + 9) / 10 GROUP BY g
    )
    SELECT counts.*, ack_ranks.median AS ack_median, ack_ranks.p90 AS ack_p90,
           resolve_ranks.median AS resolve_median, resolve_ranks.p90 AS resolve_p90
    FROM counts LEFT JOIN ack_ranks USING (g) LEFT JOIN resolve_ranks USING (g)
    """


def _scope(department: str | None, member: int | None) -> tuple[str, dict[str, object]]:
    if department is not None:
        return "AND department_code = :department", {"department": department}
    if member is not None:
        return "AND assignee_id = :member", {"member": member}
    return "", {}


async def group_figures(
    conn: aiosqlite.Connection,
    grouping: Grouping,
    starts: int,
    ends: int,
    as_of: int,
    department: str | None = None,
    member: int | None = None,
) -> dict[str, Figures]:
    """The figures of every group of one grouping for the cohort reported in
    [starts, ends), as of `as_of`, limited to one department or member when given."""
    scope, params = _scope(department, member)
    rows = await fetch_all(
        conn,
        _figures_sql(grouping, scope),
        {"starts": starts, "ends": ends, "as_of": as_of, **params},
    )
    result: dict[str, Figures] = {}
    for r in rows:
        acknowledged = r["acknowledged"] or 0
        buckets = {name: r[f"bucket_{n}"] or 0 for n, (name, _, _) in enumerate(OVERDUE_BUCKETS)}
        result[r["g"]] = Figures(
            received=r["received"],
            acknowledged=acknowledged,
            acknowledged_on_time=r["acknowledged_on_time"] or 0,
            not_acknowledged=r["received"] - acknowledged,
            resolved=r["resolved"] or 0,
            resolved_on_time=r["resolved_on_time"] or 0,
            rated=r["rated"] or 0,
            satisfied=r["satisfied"] or 0,
            ack_median=r["ack_median"],
            ack_p90=r["ack_p90"],
            resolve_median=r["resolve_median"],
            resolve_p90=r["resolve_p90"],
            overdue=r["overdue"] or 0,
            overdue_open=sum(buckets.values()),
            overdue_buckets=buckets,
            reopened=r["reopened"] or 0,
            escalated=r["escalated"] or 0,
            transferred=r["transferred"] or 0,
        )
    return result


_ROW_COLUMNS = """id, reported_at, state, grid_code, category_code, department_code, assignee_id,
                  urgent, dispatched_at, acknowledged_at, ack_deadline, resolved_at,
                  resolve_deadline, rating, reopen_count, escalated, transfer_count"""


def _issue_row(r: Sequence[Any]) -> IssueRow:
    return IssueRow(
        id=r[0],
        reported_at=r[1],
        state=r[2],
        grid=r[3],
        category=r[4],
        department=r[5],
        assignee=r[6],
        urgent=bool(r[7]),
        dispatched_at=r[8],
        acknowledged_at=r[9],
        ack_deadline=r[10],
        resolved_at=r[11],
        resolve_deadline=r[12],
        rating=r[13],
        reopened=bool(r[14]),
        escalated=bool(r[15]),
        transferred=bool(r[16]),
    )


async def cohort(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    department: str | None = None,
    member: int | None = None,
) -> list[IssueRow]:
    """The non-cancelled issues reported in [starts, ends): the rows behind the figures."""
    scope, params = _scope(department, member)
    rows = await fetch_all(
        conn,
        f"""SELECT {_ROW_COLUMNS} FROM issue INDEXED BY issue_reported_at
            WHERE reported_at >= :starts AND reported_at < :ends AND state != 'cancelled'
            {scope} ORDER BY reported_at, id""",
        {"starts": starts, "ends": ends, **params},
    )
    return [_issue_row(tuple(r)) for r in rows]


async def oldest_overdue(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    as_of: int,
    department: str | None = None,
    member: int | None = None,
    limit: int = 10,
) -> list[IssueRow]:
    """The oldest issues of the cohort that are still open past their resolve deadline."""
    scope, params = _scope(department, member)
    rows = await fetch_all(
        conn,
        f"""SELECT {_ROW_COLUMNS} FROM issue INDEXED BY issue_reported_at
            WHERE reported_at >= :starts AND reported_at < :ends AND state IN {_OPEN}
              AND resolve_deadline < :as_of {scope}
            ORDER BY reported_at, id LIMIT :limit""",
        {"starts": starts, "ends": ends, "as_of": as_of, "limit": limit, **params},
    )
    return [_issue_row(tuple(r)) for r in rows]


async def claim_delivery(
    conn: aiosqlite.Connection, week: str, recipient: int, scope: str, now: int
) -> bool:
    """Record that `recipient` gets `week`'s report; False if they already did."""
    cursor = await conn.execute(
        """INSERT INTO stats_delivery (week, recipient, scope, queued_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(week, recipient) DO NOTHING""",
        (week, recipient, scope, now),
    )
    return cursor.rowcount == 1


async def store_attachment(
    conn: aiosqlite.Connection, filename: str, mime: str, data: bytes, now: int
) -> int:
    cursor = await conn.execute(
        "INSERT INTO attachment (filename, mime, data, created_at) VALUES (?, ?, ?, ?)",
        (filename, mime, data, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid
