"""Reminders and escalations waiting to fire. Each fires once: firing sets `fired_at` in the
same transaction as the messages it sends, so a restart never sends one twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import aiosqlite

from bot.clock import to_epoch
from bot.deadlines import Alert, AlertStep, DeadlineKind
from bot.records import PendingAlert
from storage.db import fetch_all, fetch_one


def alert_from_row(row: sqlite3.Row) -> PendingAlert:
    return PendingAlert(
        row["id"],
        row["issue_id"],
        DeadlineKind(row["clock"]),
        AlertStep(row["step"]),
        row["due_at"],
        row["deadline"],
    )


async def schedule(conn: aiosqlite.Connection, issue_id: int, alerts: Iterable[Alert]) -> None:
    await conn.executemany(
        """INSERT INTO deadline_alert (issue_id, clock, step, due_at, deadline)
           VALUES (?, ?, ?, ?, ?)""",
        [
            (issue_id, a.kind.value, a.step.value, to_epoch(a.due), to_epoch(a.deadline))
            for a in alerts
        ],
    )


async def cancel(
    conn: aiosqlite.Connection, issue_id: int, now: int, kind: DeadlineKind | None = None
) -> None:
    """Stop the alerts that no longer apply (one kind, or all of them)."""
    sql = (
        "UPDATE deadline_alert SET cancelled_at = ? "
        "WHERE issue_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
    )
    params: list[object] = [now, issue_id]
    if kind is not None:
        sql += " AND clock = ?"
        params.append(kind.value)
    await conn.execute(sql, params)


async def due(conn: aiosqlite.Connection, now: int, limit: int) -> list[PendingAlert]:
    rows = await fetch_all(
        conn,
        """SELECT * FROM deadline_alert
           WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= ?
           ORDER BY due_at, id LIMIT ?""",
        (now, limit),
    )
    return [alert_from_row(r) for r in rows]


async def still_pending(conn: aiosqlite.Connection, alert_id: int) -> bool:
    row = await fetch_one(
        conn,
        "SELECT 1 FROM deadline_alert WHERE id = ? AND fired_at IS NULL AND cancelled_at IS NULL",
        (alert_id,),
    )
    return row is not None


async def mark_fired(conn: aiosqlite.Connection, alert_id: int, now: int) -> None:
    await conn.execute("UPDATE deadline_alert SET fired_at = ? WHERE id = ?", (now, alert_id))


async def mark_cancelled(conn: aiosqlite.Connection, alert_id: int, now: int) -> None:
    await conn.execute("UPDATE deadline_alert SET cancelled_at = ? WHERE id = ?", (now, alert_id))


async def postpone(conn: aiosqlite.Connection, alert_id: int, due_at: int) -> None:
    await conn.execute("UPDATE deadline_alert SET due_at = ? WHERE id = ?", (due_at, alert_id))


async def next_due(conn: aiosqlite.Connection) -> int | None:
    row = await fetch_one(
        conn,
        "SELECT MIN(due_at) FROM deadline_alert WHERE fired_at IS NULL AND cancelled_at IS NULL",
    )
    return row[0] if row and row[0] is not None else None
