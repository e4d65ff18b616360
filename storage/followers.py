"""Followers of an issue: workers who 附议 it and reporters of the duplicates merged into it.
They get the reporter's progress notices and may 确认 a resolution."""

from __future__ import annotations

import aiosqlite

from bot.closures import Candidate
from bot.lifecycle import State
from storage.db import fetch_all, fetch_one


async def follow(
    conn: aiosqlite.Connection, issue_id: int, user_id: int, via: str, now: int
) -> bool:
    """Add the follower; False when they already follow it."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO follower (issue_id, user_id, since, via) VALUES (?, ?, ?, ?)",
        (issue_id, user_id, now, via),
    )
    return cursor.rowcount == 1


async def followers(conn: aiosqlite.Connection, issue_id: int) -> list[int]:
    rows = await fetch_all(
        conn, "SELECT user_id FROM follower WHERE issue_id = ? ORDER BY since, user_id", (issue_id,)
    )
    return [int(r[0]) for r in rows]


async def count(conn: aiosqlite.Connection, issue_id: int, via: str) -> int:
    row = await fetch_one(
        conn, "SELECT COUNT(*) FROM follower WHERE issue_id = ? AND via = ?", (issue_id, via)
    )
    return int(row[0]) if row else 0


async def recent_located(
    conn: aiosqlite.Connection, category: str, since: int, states: frozenset[State]
) -> list[Candidate]:
    """Issues of the category reported since `since`, in `states`, that have a place."""
    marks = ", ".join("?" for _ in states)
    rows = await fetch_all(
        conn,
        f"""SELECT id, category_code, state, reported_at, latitude, longitude FROM issue
            WHERE category_code = ? AND reported_at >= ? AND state IN ({marks})
              AND latitude IS NOT NULL AND longitude IS NOT NULL
            ORDER BY id""",
        (category, since, *sorted(s.value for s in states)),
    )
    return [
        Candidate(int(r[0]), str(r[1]), State(r[2]), int(r[3]), float(r[4]), float(r[5]))
        for r in rows
    ]
