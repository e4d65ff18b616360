"""联合吹哨: whistles, their summoned departments, 到场 check-ins and arrival alerts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

import aiosqlite

from bot.clock import to_epoch
from bot.deadlines import Alert
from bot.whistles import ArrivalAlert, Place, Summons, WhistleRecord
from storage.db import fetch_all, fetch_one


def _summons(row: sqlite3.Row) -> Summons:
    return Summons(**{f.name: row[f.name] for f in fields(Summons)})


def _whistle(row: sqlite3.Row) -> WhistleRecord:
    return WhistleRecord(**{f.name: row[f.name] for f in fields(WhistleRecord)})


async def get_whistle(conn: aiosqlite.Connection, issue_id: int) -> WhistleRecord | None:
    row = await fetch_one(conn, "SELECT * FROM whistle WHERE issue_id = ?", (issue_id,))
    return _whistle(row) if row else None


async def insert_whistle(
    conn: aiosqlite.Connection, issue_id: int, lead: str, place: Place, by: int, now: int
) -> None:
    await conn.execute(
        """INSERT INTO whistle (issue_id, lead, latitude, longitude, blown_by, blown_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (issue_id, lead, place.latitude, place.longitude, by, now),
    )


async def summon(
    conn: aiosqlite.Connection, issue_id: int, department: str, now: int, deadline: int
) -> None:
    """Summon a department (again, if it had been released: a fresh start)."""
    await conn.execute(
        """INSERT INTO whistle_department (issue_id, department_code, state, summoned_at,
                                           arrive_deadline)
           VALUES (?, ?, 'summoned', ?, ?)
           ON CONFLICT (issue_id, department_code) DO UPDATE SET
               state = 'summoned', summoned_at = excluded.summoned_at,
               arrive_deadline = excluded.arrive_deadline, arrived_at = NULL,
               arrived_by = NULL, arrived_meters = NULL, last_meters = NULL, done_at = NULL,
               released_at = NULL""",
        (issue_id, department, now, deadline),
    )


async def summoned(conn: aiosqlite.Connection, issue_id: int) -> list[Summons]:
    rows = await fetch_all(
        conn,
        "SELECT * FROM whistle_department WHERE issue_id = ? ORDER BY summoned_at, rowid",
        (issue_id,),
    )
    return [_summons(r) for r in rows]


async def get_summons(conn: aiosqlite.Connection, issue_id: int, department: str) -> Summons | None:
    row = await fetch_one(
        conn,
        "SELECT * FROM whistle_department WHERE issue_id = ? AND department_code = ?",
        (issue_id, department),
    )
    return _summons(row) if row else None


_UPDATABLE = {
    "state",
    "arrived_at",
    "arrived_by",
    "arrived_meters",
    "last_meters",
    "done_at",
    "released_at",
    "street_rating",
    "street_reason",
    "rated_at",
}


async def update_summons(
    conn: aiosqlite.Connection,
    issue_id: int,
    department: str,
    expected_state: str,
    **changes: Any,
) -> Summons | None:
    """Write `changes` only if the department is still in `expected_state`."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in changes)
    row = await fetch_one(
        conn,
        f"""UPDATE whistle_department SET {assignments}
            WHERE issue_id = ? AND department_code = ? AND state = ? RETURNING *""",
        [*changes.values(), issue_id, department, expected_state],
    )
    return _summons(row) if row else None


async def add_checkin(
    conn: aiosqlite.Connection,
    issue_id: int,
    department: str,
    user_id: int,
    now: int,
    at: Place,
    meters: int,
    on_site: bool,
) -> int:
    cursor = await conn.execute(
        """INSERT INTO whistle_checkin (issue_id, department_code, user_id, at, latitude,
                                        longitude, meters, on_site)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (issue_id, department, user_id, now, at.latitude, at.longitude, meters, int(on_site)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def attach_photo(
    conn: aiosqlite.Connection, issue_id: int, department: str, user_id: int, photo: str
) -> bool:
    """The photo of this person's latest check-in for the department (one per check-in:
    False when there is none, or it has one)."""
    row = await fetch_one(
        conn,
        """UPDATE whistle_checkin SET photo = ?
           WHERE id = (SELECT MAX(id) FROM whistle_checkin
                       WHERE issue_id = ? AND department_code = ? AND user_id = ?)
             AND photo IS NULL
           RETURNING id""",
        (photo, issue_id, department, user_id),
    )
    return row is not None


async def checkin_photos(conn: aiosqlite.Connection, issue_id: int) -> list[tuple[str, str]]:
    """(department, photo) of every check-in with a photo, oldest first."""
    rows = await fetch_all(
        conn,
        """SELECT department_code, photo FROM whistle_checkin
           WHERE issue_id = ? AND photo IS NOT NULL ORDER BY id""",
        (issue_id,),
    )
    return [(r["department_code"], r["photo"]) for r in rows]


async def schedule_alerts(
    conn: aiosqlite.Connection, issue_id: int, department: str, alerts: Iterable[Alert]
) -> None:
    await conn.executemany(
        """INSERT INTO whistle_alert (issue_id, department_code, step, due_at, deadline)
           VALUES (?, ?, ?, ?, ?)""",
        [
            (issue_id, department, a.step.value, to_epoch(a.due), to_epoch(a.deadline))
            for a in alerts
        ],
    )


async def cancel_alerts(
    conn: aiosqlite.Connection, issue_id: int, now: int, department: str | None = None
) -> None:
    sql = (
        "UPDATE whistle_alert SET cancelled_at = ? "
        "WHERE issue_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
    )
    params: list[object] = [now, issue_id]
    if department is not None:
        sql += " AND department_code = ?"
        params.append(department)
    await conn.execute(sql, params)


async def due_alerts(conn: aiosqlite.Connection, now: int, limit: int) -> list[ArrivalAlert]:
    rows = await fetch_all(
        conn,
        """SELECT id, issue_id, department_code, step, due_at, deadline FROM whistle_alert
           WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= ?
           ORDER BY due_at, id LIMIT ?""",
        (now, limit),
    )
    return [ArrivalAlert(**dict(r)) for r in rows]


async def next_alert_due(conn: aiosqlite.Connection) -> int | None:
    row = await fetch_one(
        conn,
        "SELECT MIN(due_at) AS due FROM whistle_alert "
        "WHERE fired_at IS NULL AND cancelled_at IS NULL",
    )
    return row["due"] if row and row["due"] is not None else None


async def fire_alert(conn: aiosqlite.Connection, alert_id: int, now: int) -> bool:
    """Mark the alert fired; False when it had fired or been cancelled meanwhile."""
    row = await fetch_one(
        conn,
        """UPDATE whistle_alert SET fired_at = ?
           WHERE id = ? AND fired_at IS NULL AND cancelled_at IS NULL RETURNING id""",
        (now, alert_id),
    )
    return row is not None


async def set_override(
    conn: aiosqlite.Connection, issue_id: int, by: int | None, reason: str | None
) -> None:
    """An admin's override of the 办结 gate (None: cleared, as by 重办)."""
    await conn.execute(
        "UPDATE whistle SET override_by = ?, override_reason = ? WHERE issue_id = ?",
        (by, reason, issue_id),
    )


async def bring_back(conn: aiosqlite.Connection, issue_id: int) -> list[str]:
    """重办: every department that finished its part works again (arrived); the codes."""
    rows = await fetch_all(
        conn,
        """UPDATE whistle_department SET state = 'arrived', done_at = NULL
           WHERE issue_id = ? AND state = 'done' RETURNING department_code""",
        (issue_id,),
    )
    return [r["department_code"] for r in rows]


async def rate_summons(
    conn: aiosqlite.Connection, issue_id: int, department: str, rating: str, now: int
) -> bool:
    """The street's rating of one summoned department, once: False when already rated."""
    row = await fetch_one(
        conn,
        """UPDATE whistle_department SET street_rating = ?, rated_at = ?
           WHERE issue_id = ? AND department_code = ? AND street_rating IS NULL
           RETURNING issue_id""",
        (rating, now, issue_id, department),
    )
    return row is not None


async def add_step_photos(
    conn: aiosqlite.Connection,
    issue_id: int,
    department: str,
    action: str,
    photos: Sequence[tuple[str, str | None]],
) -> None:
    """The photos of the department's latest `action` event on the issue (配合完成's)."""
    if not photos:
        return
    row = await fetch_one(
        conn,
        """SELECT MAX(id) AS id FROM issue_event
           WHERE issue_id = ? AND department_code = ? AND action = ?""",
        (issue_id, department, action),
    )
    assert row is not None and row["id"] is not None
    await conn.executemany(
        """INSERT INTO whistle_photo (event_id, position, issue_id, department_code, file_id,
                                      file_unique_id)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [
            (row["id"], position, issue_id, department, file_id, unique)
            for position, (file_id, unique) in enumerate(photos)
        ],
    )


async def photo_counts(conn: aiosqlite.Connection, issue_id: int) -> dict[int, int]:
    """How many photos came with each of the issue's events that have any (by event id):
    配合完成's, and a check-in's one photo (its event: the same person, department and
    moment)."""
    rows = await fetch_all(
        conn,
        """SELECT event_id, COUNT(*) AS n FROM whistle_photo WHERE issue_id = ?
           GROUP BY event_id
           UNION ALL
           SELECT MAX(e.id) AS event_id, 1 AS n
             FROM whistle_checkin c JOIN issue_event e
               ON e.issue_id = c.issue_id AND e.at = c.at AND e.actor_id = c.user_id
              AND e.department_code = c.department_code
              AND e.action IN ('arrive', 'check_in_far')
            WHERE c.issue_id = ? AND c.photo IS NOT NULL
            GROUP BY c.id""",
        (issue_id, issue_id),
    )
    return {r["event_id"]: r["n"] for r in rows}


async def step_photos(conn: aiosqlite.Connection, issue_id: int) -> list[tuple[str, str]]:
    """(department, photo) of every photo sent with a step (配合完成), oldest first."""
    rows = await fetch_all(
        conn,
        """SELECT department_code, file_id FROM whistle_photo WHERE issue_id = ?
           ORDER BY event_id, position""",
        (issue_id,),
    )
    return [(r["department_code"], r["file_id"]) for r in rows]


async def set_street_reason(
    conn: aiosqlite.Connection, issue_id: int, department: str, reason: str
) -> bool:
    """The reason for the street's rating of a department, once it is rated and only once:
    False otherwise."""
    row = await fetch_one(
        conn,
        """UPDATE whistle_department SET street_reason = ?
           WHERE issue_id = ? AND department_code = ? AND street_rating IS NOT NULL
             AND street_reason IS NULL
           RETURNING issue_id""",
        (reason, issue_id, department),
    )
    return row is not None
