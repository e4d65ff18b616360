"""Issues written straight into a database as the statistics see them (bot/stats.py's
IssueRow), for the tests of the figures: no reports, no routing, any week."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from bot.stats import IssueRow

REPORTER = 2001


async def places(
    tx: aiosqlite.Connection,
    grids: Sequence[str] = ("G01",),
    departments: Sequence[str] = ("cg",),
    categories: Sequence[str] = ("sanitation",),
) -> None:
    """The rows an issue refers to: its reporter, grids, departments and categories (each
    category cg's, 30 minutes to acknowledge and 24 hours to resolve)."""
    await tx.execute("INSERT INTO person (user_id, created_at) VALUES (?, 0)", (REPORTER,))
    for grid in grids:
        await tx.execute("INSERT INTO grid (code, name) VALUES (?, 'g')", (grid,))
    for department in departments:
        await tx.execute("INSERT INTO department (code, name) VALUES (?, 'd')", (department,))
    for category in categories:
        await tx.execute(
            "INSERT INTO category (code, name, department_code, ack_minutes, resolve_hours)"
            " VALUES (?, 'c', 'cg', 30, 24)",
            (category,),
        )


async def insert(
    tx: aiosqlite.Connection, rows: Sequence[IssueRow], closures: Sequence[str | None] = ()
) -> None:
    """The rows as issues reported by REPORTER; `closures`, where given, each one's
    closure (不属实, 重复, 非本辖区), in order."""
    chosen = list(closures) or [None] * len(rows)
    await tx.executemany(
        "INSERT INTO issue (id, reporter_id, grid_code, category_code, description, urgent,"
        " state, department_code, assignee_id, reported_at, dispatched_at, acknowledged_at,"
        " ack_deadline, resolved_at, resolve_deadline, rating, reopen_count, escalated,"
        " transfer_count, draft_key, original_resolve_deadline, closure) VALUES (?, ?, ?, ?,"
        " 'x', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.id,
                REPORTER,
                r.grid,
                r.category,
                int(r.urgent),
                r.state,
                r.department,
                r.assignee,
                r.reported_at,
                r.dispatched_at,
                r.acknowledged_at,
                r.ack_deadline,
                r.resolved_at,
                r.resolve_deadline,
                r.rating,
                int(r.reopened),
                int(r.escalated),
                int(r.transferred),
                f"k{r.id}",
                r.original_resolve_deadline,
                closure,
            )
            for r, closure in zip(rows, chosen, strict=True)
        ],
    )
