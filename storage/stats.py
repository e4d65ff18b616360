"""Reading cohorts for the weekly statistics (through the `reported_at` index), and
remembering which reports went out. The figures themselves are computed in bot/stats.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.stats import OPEN, CohortColumns, IssueRow, cohort_select, sql_list
from storage.db import fetch_all

_OPEN = sql_list(OPEN)
ROWS_PER_BATCH = 1000


def _scope(departments: Sequence[str], member: int | None) -> tuple[str, dict[str, object]]:
    """Issues held by any of `departments` or assigned to `member` (nothing given: all)."""
    params: dict[str, object] = {f"department{i}": d for i, d in enumerate(departments)}
    held = [f"department_code IN ({', '.join(':' + k for k in params)})"] if params else []
    if member is not None:
        held.append("assignee_id = :member")
        params["member"] = member
    return (f"AND ({' OR '.join(held)})", params) if held else ("", {})


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
    async with conn.execute(
        f"""SELECT {cohort_select(durations)} FROM issue INDEXED BY issue_reported_at
            WHERE reported_at >= :starts AND reported_at < :ends AND state != 'cancelled'
            {scope}""",
        {"starts": starts, "ends": ends, **params},
    ) as cursor:
        cursor.row_factory = None
        row = await cursor.fetchone()
    assert row is not None
    return await asyncio.to_thread(CohortColumns.from_joined, tuple(row), durations)


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
