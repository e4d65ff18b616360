"""Reading cohorts for the weekly statistics (through the `reported_at` index), and
remembering which reports went out. The figures themselves are computed in bot/stats.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.closures import ClosureKind
from bot.stats import (
    EXCLUDED,
    FACTS,
    GOOD_RATINGS,
    OPEN,
    RESOLVED,
    TIMES,
    CohortColumns,
    IssueRow,
    SummonsRow,
)
from storage.db import fetch_all, fetch_one

ROWS_PER_BATCH = 1000


def _sql_list(values: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


_OPEN = _sql_list(OPEN)
_RESOLVED = _sql_list(RESOLVED)


def _scope(departments: Sequence[str], member: int | None) -> tuple[str, dict[str, object]]:
    """Issues held by any of `departments` or assigned to `member` (nothing given: all)."""
    params: dict[str, object] = {f"department{i}": d for i, d in enumerate(departments)}
    held = [f"department_code IN ({', '.join(':' + k for k in params)})"] if params else []
    if member is not None:
        held.append("assignee_id = :member")
        params["member"] = member
    return (f"AND ({' OR '.join(held)})", params) if held else ("", {})


_COHORT = f"""
    SELECT state IN {_OPEN} AS open,
           acknowledged_at IS NOT NULL AS acknowledged,
           acknowledged_at <= ack_deadline AS acknowledged_on_time,
           state IN {_RESOLVED} AND resolved_at IS NOT NULL AS resolved,
           state IN {_RESOLVED} AND resolved_at <= resolve_deadline AS resolved_on_time,
           state IN {_RESOLVED} AND resolved_at > resolve_deadline AS resolved_late,
           state IN {_RESOLVED}
             AND resolved_at <= COALESCE(original_resolve_deadline, resolve_deadline)
             AS resolved_on_time_original,
           rating IS NOT NULL AS rated,
           rating IN {_sql_list(GOOD_RATINGS)} AS satisfied,
           reopen_count > 0 AS reopened,
           escalated > 0 AS escalated,
           transfer_count > 0 AS transferred,
           state = 'closed' AND closure IN {_sql_list(EXCLUDED)} AS excluded,
           department_code AS department,
           assignee_id AS assignee,
           grid_code AS grid,
           category_code AS category,
           resolve_deadline,
           acknowledged_at - reported_at AS ack_from_report,
           acknowledged_at - COALESCE(dispatched_at, reported_at) AS ack_from_dispatch,
           CASE WHEN state IN {_RESOLVED} THEN resolved_at - reported_at END
             AS resolve_from_report,
           CASE WHEN state IN {_RESOLVED} THEN resolved_at - COALESCE(dispatched_at, reported_at)
           END AS resolve_from_dispatch
    FROM issue INDEXED BY issue_reported_at
    WHERE reported_at >= :starts AND reported_at < :ends AND state != 'cancelled'"""
"""A cohort, one row per issue: the facts the figures count (bot.stats.FACTS), the group
keys, the resolve deadline and the durations (bot.stats.TIMES), each a named column."""

_KEYS = ("department", "assignee", "grid", "category")


def _packed(durations: bool) -> str:
    """The columns that read a whole cohort as one row: its size, then each column joined
    with commas — tens of thousands of issues travel as a handful of strings instead of as
    many tuples. The facts go packed into one integer per issue (bit n is `FACTS[n]`; NULL
    counts as no), a missing key as '', a missing number as 'nan'. Codes never contain
    commas (the organisation file only allows letters, digits, _ and -). `_unpack` reads
    the row."""
    facts = " | ".join(f"(COALESCE({name}, 0) << {bit})" for bit, name in enumerate(FACTS))
    numbers = ("resolve_deadline", *TIMES) if durations else ("resolve_deadline",)
    return ",\n".join(
        [
            "COUNT(*) AS received",
            f"group_concat({facts}, ',') AS facts",
            *(f"group_concat(COALESCE({key}, ''), ',') AS {key}" for key in _KEYS),
            *(f"group_concat(COALESCE({n}, 'nan'), ',') AS {n}" for n in numbers),
        ]
    )


_PACKED = {durations: _packed(durations) for durations in (True, False)}


def _unpack(row: sqlite3.Row, durations: bool) -> CohortColumns:
    """The one row `_packed` returns, as columns for bot.stats.compute."""
    import numpy as np

    size = int(row["received"] or 0)

    def numbers(column: str, kind: type) -> Any:
        text = row[column]
        return np.array(text.split(",") if size and text is not None else [], dtype=kind)

    def keys(column: str) -> list[str | None]:
        text = row[column]
        return [k or None for k in text.split(",")] if size and text is not None else []

    packed = numbers("facts", np.int64)
    return CohortColumns(
        facts={name: ((packed >> bit) & 1).astype(bool) for bit, name in enumerate(FACTS)},
        department=keys("department"),
        assignee=keys("assignee"),
        grid=keys("grid"),
        category=keys("category"),
        resolve_deadline=numbers("resolve_deadline", float),
        times={name: numbers(name, float) for name in TIMES} if durations else {},
    )


async def cohort_columns(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    departments: Sequence[str] = (),
    member: int | None = None,
    durations: bool = True,
) -> CohortColumns:
    """The non-cancelled issues reported in [starts, ends) as columns for
    bot.stats.compute, read through the reported_at index (durations only when asked)."""
    scope, params = _scope(departments, member)
    row = await fetch_one(
        conn,
        f"WITH cohort AS ({_COHORT} {scope}) SELECT {_PACKED[durations]} FROM cohort",
        {"starts": starts, "ends": ends, **params},
    )
    assert row is not None
    return await asyncio.to_thread(_unpack, row, durations)


_ROW_COLUMNS = """id, reported_at, state, grid_code, category_code, department_code, assignee_id,
                  urgent, dispatched_at, acknowledged_at, ack_deadline, resolved_at,
                  resolve_deadline, rating, reopen_count, escalated, transfer_count,
                  original_resolve_deadline, closure"""


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
        original_resolve_deadline=r[17],
        closure=r[18],
    )


def cohort_rows(
    database: Path,
    starts: int,
    ends: int,
    departments: Sequence[str] = (),
    member: int | None = None,
) -> Iterator[IssueRow]:
    """The non-cancelled issues reported in [starts, ends), one at a time: the rows behind
    the figures, for writing a week's files in a thread. Read through a read-only
    connection of their own, a batch at a time, so a week of any size is never held."""
    scope, params = _scope(departments, member)
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        cursor = conn.execute(
            f"""SELECT {_ROW_COLUMNS} FROM issue INDEXED BY issue_reported_at
                WHERE reported_at >= :starts AND reported_at < :ends AND state != 'cancelled'
                  {scope} ORDER BY reported_at, id""",
            {"starts": starts, "ends": ends, **params},
        )
        while batch := cursor.fetchmany(ROWS_PER_BATCH):
            yield from map(_issue_row, batch)
    finally:
        conn.close()


async def oldest_overdue(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    as_of: int,
    departments: Sequence[str] = (),
    member: int | None = None,
    limit: int = 10,
) -> list[IssueRow]:
    """The oldest issues of the cohort that are still open past their resolve deadline."""
    scope, params = _scope(departments, member)
    rows = await fetch_all(
        conn,
        f"""SELECT {_ROW_COLUMNS} FROM issue INDEXED BY issue_reported_at
            WHERE reported_at >= :starts AND reported_at < :ends AND state IN {_OPEN}
              AND resolve_deadline < :as_of {scope}
            ORDER BY reported_at, id LIMIT :limit""",
        {"starts": starts, "ends": ends, "as_of": as_of, "limit": limit, **params},
    )
    return [_issue_row(tuple(r)) for r in rows]


async def extension_figures(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    as_of: int,
    departments: Sequence[str] = (),
    member: int | None = None,
) -> tuple[int, int, int, list[tuple[int, str, int]]]:
    """Extensions (延期) asked in [starts, ends) and how many were approved; issues in 挂账
    at the week's end (or `as_of`, if sooner); the issues in 挂账 now with the approved
    reason and review date. Scoped like the cohort, by the issue's holder."""
    scope, params = _scope(departments, member)
    end = min(ends, as_of)
    asked = await fetch_one(
        conn,
        f"""SELECT COUNT(*), COALESCE(SUM(r.status = 'approved'), 0)
            FROM extension_request r JOIN issue ON issue.id = r.issue_id
            WHERE r.kind = 'extend' AND r.requested_at >= :starts AND r.requested_at < :ends
            {scope}""",
        {"starts": starts, "ends": ends, **params},
    )
    held_then = await fetch_one(
        conn,
        f"""SELECT COUNT(DISTINCT r.issue_id)
            FROM extension_request r JOIN issue ON issue.id = r.issue_id
            WHERE r.kind = 'hold' AND r.status = 'approved' AND r.decided_at < :end
              AND NOT EXISTS (
                SELECT 1 FROM issue_event e WHERE e.issue_id = r.issue_id
                  AND e.action IN ('resume', 'close_held', 'cancel')
                  AND e.at >= r.decided_at AND e.at < :end)
            {scope}""",
        {"end": end, **params},
    )
    held_now = await fetch_all(
        conn,
        f"""SELECT issue.id, r.reason, issue.held_until FROM issue
            JOIN extension_request r ON r.id = (
                SELECT MAX(id) FROM extension_request
                WHERE issue_id = issue.id AND kind = 'hold' AND status = 'approved')
            WHERE issue.state = 'held' {scope} ORDER BY issue.held_until, issue.id""",
        params,
    )
    return (
        asked[0] if asked else 0,
        asked[1] if asked else 0,
        held_then[0] if held_then else 0,
        [(r[0], r[1], r[2]) for r in held_now],
    )


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


async def recipients(conn: aiosqlite.Connection, week: str) -> set[int]:
    """Who has been sent `week`'s report."""
    rows = await fetch_all(conn, "SELECT recipient FROM stats_delivery WHERE week = ?", (week,))
    return {r["recipient"] for r in rows}


async def closure_counts(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    departments: Sequence[str] = (),
    member: int | None = None,
) -> dict[str, int]:
    """Issues reported in [starts, ends) that stand closed as 不属实, 重复 or 非本辖区, by
    kind (every kind present, 0 when none)."""
    scope, params = _scope(departments, member)
    rows = await fetch_all(
        conn,
        f"""SELECT closure, COUNT(*) FROM issue INDEXED BY issue_reported_at
            WHERE reported_at >= :starts AND reported_at < :ends AND state = 'closed'
              AND closure IS NOT NULL {scope}
            GROUP BY closure""",
        {"starts": starts, "ends": ends, **params},
    )
    counts = {kind.value: 0 for kind in ClosureKind}
    counts.update({str(kind): int(n) for kind, n in rows})
    return counts


# 联合吹哨: the summonses of a cohort
async def summons_rows(
    conn: aiosqlite.Connection,
    starts: int,
    ends: int,
    departments: Sequence[str] = (),
    member: int | None = None,
) -> list[SummonsRow]:
    """The departments summoned (and not released) to whistles on the non-cancelled issues
    reported in [starts, ends): of `departments` when given, or on issues assigned to
    `member` or checked in on site for by `member`."""
    where = ""
    params: dict[str, object] = {"starts": starts, "ends": ends}
    held: list[str] = []
    if departments:
        names = {f"department{i}": d for i, d in enumerate(departments)}
        params.update(names)
        held.append(f"w.department_code IN ({', '.join(':' + k for k in names)})")
    if member is not None:
        # the member's issues, and the summonses the member checked in on site for
        held.append("i.assignee_id = :member OR w.arrived_by = :member")
        params["member"] = member
    if held:
        where = f"AND ({' OR '.join(held)})"
    rows = await fetch_all(
        conn,
        f"""SELECT w.issue_id, w.department_code, i.grid_code, i.category_code, w.summoned_at,
                   w.arrive_deadline, w.arrived_at, w.street_rating,
                   w.department_code = wh.lead AS lead, w.arrived_by, w.arrived_meters,
                   w.street_reason
            FROM whistle_department AS w JOIN issue AS i ON i.id = w.issue_id
                 JOIN whistle AS wh ON wh.issue_id = w.issue_id
            WHERE i.reported_at >= :starts AND i.reported_at < :ends
              AND i.state != 'cancelled' AND w.state != 'released' {where}
            ORDER BY w.issue_id, w.department_code""",
        params,
    )
    return [
        SummonsRow(
            issue_id=r["issue_id"],
            department=r["department_code"],
            grid=r["grid_code"],
            category=r["category_code"],
            summoned_at=r["summoned_at"],
            arrive_deadline=r["arrive_deadline"],
            arrived_at=r["arrived_at"],
            street_rating=r["street_rating"],
            lead=bool(r["lead"]),
            arrived_by=r["arrived_by"],
            arrived_meters=r["arrived_meters"],
            street_reason=r["street_reason"],
        )
        for r in rows
    ]
