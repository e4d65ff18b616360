"""Values made once per install and kept in the database (the webhook's secret token)."""

from __future__ import annotations

import aiosqlite

from storage.db import fetch_one


async def install_value(conn: aiosqlite.Connection, name: str) -> str | None:
    row = await fetch_one(conn, "SELECT value FROM install_value WHERE name = ?", (name,))
    return None if row is None else str(row["value"])


async def keep_install_value(conn: aiosqlite.Connection, name: str, value: str, now: int) -> str:
    """Store `value` under `name` unless one is kept already; return the kept one."""
    await conn.execute(
        "INSERT OR IGNORE INTO install_value (name, value, created_at) VALUES (?, ?, ?)",
        (name, value, now),
    )
    kept = await install_value(conn, name)
    assert kept is not None
    return kept
