"""Half-written reports. A draft row is the report conversation's state: it is written at
every step, so a restart (or a crash) resumes the conversation where it was."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import aiosqlite

from bot.records import Draft
from storage.db import fetch_all, fetch_one


def draft_from_row(row: sqlite3.Row) -> Draft:
    photos = [(p[0], p[1]) for p in json.loads(row["photos"])]
    return Draft(
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        draft_key=row["draft_key"],
        step=row["step"],
        started_at=row["started_at"],
        grid_code=row["grid_code"],
        category_code=row["category_code"],
        description=row["description"],
        photos=photos,
        latitude=row["latitude"],
        longitude=row["longitude"],
        address=row["address"],
        urgent=None if row["urgent"] is None else bool(row["urgent"]),
        waiting_since=row["waiting_since"],
    )


async def get_draft(conn: aiosqlite.Connection, user_id: int) -> Draft | None:
    row = await fetch_one(conn, "SELECT * FROM draft WHERE user_id = ?", (user_id,))
    return draft_from_row(row) if row else None


async def save_draft(conn: aiosqlite.Connection, draft: Draft, now: int) -> None:
    values: dict[str, Any] = {
        "user_id": draft.user_id,
        "chat_id": draft.chat_id,
        "draft_key": draft.draft_key,
        "step": draft.step,
        "grid_code": draft.grid_code,
        "category_code": draft.category_code,
        "description": draft.description,
        "photos": json.dumps(draft.photos),
        "latitude": draft.latitude,
        "longitude": draft.longitude,
        "address": draft.address,
        "urgent": None if draft.urgent is None else int(draft.urgent),
        "started_at": draft.started_at,
        "updated_at": now,
        "waiting_since": draft.waiting_since,
    }
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "user_id")
    await conn.execute(
        f"INSERT INTO draft ({columns}) VALUES ({marks}) "
        f"ON CONFLICT(user_id) DO UPDATE SET {updates}",
        list(values.values()),
    )


async def set_step(conn: aiosqlite.Connection, user_id: int, step: int) -> None:
    await conn.execute("UPDATE draft SET step = ? WHERE user_id = ?", (step, user_id))


async def set_waiting(conn: aiosqlite.Connection, user_id: int, since: int | None) -> None:
    await conn.execute("UPDATE draft SET waiting_since = ? WHERE user_id = ?", (since, user_id))


async def delete_draft(
    conn: aiosqlite.Connection, user_id: int, draft_key: str | None = None
) -> bool:
    """Delete the person's draft (only if it is still the one with `draft_key`, when given);
    True when there was one."""
    if draft_key is None:
        cursor = await conn.execute("DELETE FROM draft WHERE user_id = ?", (user_id,))
    else:
        cursor = await conn.execute(
            "DELETE FROM draft WHERE user_id = ? AND draft_key = ?", (user_id, draft_key)
        )
    return cursor.rowcount > 0


async def draft_steps(
    conn: aiosqlite.Connection, waiting_since: int = 0
) -> dict[tuple[int, int], int]:
    """The step of every draft that has been waiting for input since `waiting_since` or
    later."""
    rows = await fetch_all(
        conn,
        "SELECT chat_id, user_id, step FROM draft WHERE waiting_since >= ?",
        (waiting_since,),
    )
    return {(r["chat_id"], r["user_id"]): r["step"] for r in rows}
