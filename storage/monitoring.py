"""Figures for /healthz and /metrics, read in a few aggregate queries."""

from __future__ import annotations

import aiosqlite

from bot.lifecycle import OPEN_STATES
from bot.records import OutboxState
from storage.db import fetch_all, fetch_one


async def outbox_state(conn: aiosqlite.Connection, now: int) -> OutboxState:
    row = await fetch_one(
        conn,
        """SELECT COUNT(*),
                  MIN(CASE WHEN not_before <= ? THEN created_at END),
                  MIN(created_at)
           FROM outbox WHERE status = 'pending'""",
        (now,),
    )
    assert row is not None
    depth, oldest_due, oldest = row
    return OutboxState(
        depth=int(depth),
        oldest_due_age=0 if oldest_due is None else max(0, now - int(oldest_due)),
        oldest_age=0 if oldest is None else max(0, now - int(oldest)),
    )


async def open_issues_by_state(conn: aiosqlite.Connection) -> dict[str, int]:
    states = sorted(OPEN_STATES)
    marks = ", ".join("?" for _ in states)
    rows = await fetch_all(
        conn,
        f"SELECT state, COUNT(*) FROM issue WHERE state IN ({marks}) GROUP BY state",
        tuple(str(state) for state in states),
    )
    counts = {str(state): 0 for state in states}
    counts.update({row[0]: int(row[1]) for row in rows})
    return counts


async def overdue_open_issues(conn: aiosqlite.Connection, now: int) -> int:
    states = sorted(OPEN_STATES)
    marks = ", ".join("?" for _ in states)
    row = await fetch_one(
        conn,
        f"""SELECT COUNT(*) FROM issue
            WHERE state IN ({marks}) AND resolve_deadline IS NOT NULL AND resolve_deadline < ?""",
        (*(str(state) for state in states), now),
    )
    return int(row[0]) if row else 0


async def alerts_fired(conn: aiosqlite.Connection) -> dict[str, int]:
    """Deadline alerts fired since the install, by kind (`ack_remind`, `resolve_head`, …)."""
    rows = await fetch_all(
        conn,
        """SELECT clock || '_' || step, COUNT(*) FROM deadline_alert
           WHERE fired_at IS NOT NULL GROUP BY clock, step""",
    )
    return {row[0]: int(row[1]) for row in rows}
