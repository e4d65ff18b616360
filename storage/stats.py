"""Reading a week's cohort for the statistics, and remembering which reports went out."""

from __future__ import annotations

import aiosqlite

from bot.stats import IssueRow
from storage.db import fetch_all


async def cohort(conn: aiosqlite.Connection, starts: int, ends: int) -> list[IssueRow]:
    """The non-cancelled issues reported in [starts, ends), by the reported_at index."""
    rows = await fetch_all(
        conn,
        """SELECT id, reported_at, state, grid_code, category_code, department_code,
                  assignee_id, urgent, dispatched_at, acknowledged_at, ack_deadline,
                  resolved_at, resolve_deadline, rating, reopen_count, escalated, transfer_count
           FROM issue INDEXED BY issue_reported_at
           WHERE reported_at >= ? AND reported_at < ? AND state != 'cancelled'
           ORDER BY reported_at, id""",
        (starts, ends),
    )
    return [
        IssueRow(
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
            reopened=r[14] > 0,
            escalated=bool(r[15]),
            transferred=r[16] > 0,
        )
        for r in rows
    ]


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
