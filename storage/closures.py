"""Closures that say why: the requests, their decisions and the reporter's objections."""

from __future__ import annotations

import aiosqlite

from bot.closures import ClosureKind
from bot.records import ClosureRequest
from storage.db import fetch_one

_COLUMNS = """id, issue_id, kind, note, photo, duplicate_of, requested_by, requested_at,
              decided_by, decided_at, approved, objected_at"""


def _request(row: aiosqlite.Row) -> ClosureRequest:
    return ClosureRequest(
        id=row[0],
        issue_id=row[1],
        kind=ClosureKind(row[2]),
        note=row[3],
        photo=row[4],
        duplicate_of=row[5],
        requested_by=row[6],
        requested_at=row[7],
        decided_by=row[8],
        decided_at=row[9],
        approved=None if row[10] is None else bool(row[10]),
        objected_at=row[11],
    )


async def add_request(
    conn: aiosqlite.Connection,
    issue_id: int,
    kind: ClosureKind,
    note: str,
    photo: str | None,
    duplicate_of: int | None,
    requested_by: int,
    now: int,
) -> ClosureRequest:
    cursor = await conn.execute(
        """INSERT INTO closure_request
           (issue_id, kind, note, photo, duplicate_of, requested_by, requested_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (issue_id, kind.value, note, photo, duplicate_of, requested_by, now),
    )
    found = await get_request(conn, int(cursor.lastrowid or 0))
    assert found is not None
    return found


async def get_request(conn: aiosqlite.Connection, request_id: int) -> ClosureRequest | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} FROM closure_request WHERE id = ?", (request_id,)
    )
    return _request(row) if row else None


async def decide(
    conn: aiosqlite.Connection, request_id: int, decided_by: int, approved: bool, now: int
) -> bool:
    """Record the decision once: False when the request was decided already."""
    cursor = await conn.execute(
        """UPDATE closure_request SET decided_by = ?, decided_at = ?, approved = ?
           WHERE id = ? AND approved IS NULL""",
        (decided_by, now, int(approved), request_id),
    )
    return cursor.rowcount == 1


async def object_to(conn: aiosqlite.Connection, request_id: int, now: int) -> bool:
    """Record the reporter's 异议 once: False when it was recorded already."""
    cursor = await conn.execute(
        """UPDATE closure_request SET objected_at = ?
           WHERE id = ? AND approved = 1 AND objected_at IS NULL""",
        (now, request_id),
    )
    return cursor.rowcount == 1


async def set_issue_closure(
    conn: aiosqlite.Connection, issue_id: int, kind: ClosureKind | None
) -> None:
    """The approved closure that stands on the issue (None once it is objected to)."""
    await conn.execute(
        "UPDATE issue SET closure = ? WHERE id = ?",
        (kind.value if kind is not None else None, issue_id),
    )


async def duplicate_of(conn: aiosqlite.Connection, issue_id: int) -> int | None:
    """The issue this one is closed as 重复 of (approved, not objected to), or is asked to be
    (a request waiting for its decision); None when neither."""
    row = await fetch_one(
        conn,
        """SELECT r.duplicate_of FROM closure_request r JOIN issue i ON i.id = r.issue_id
           WHERE r.issue_id = ? AND r.kind = 'duplicate' AND r.objected_at IS NULL
             AND (r.approved IS NULL OR (r.approved = 1 AND i.closure = 'duplicate'))
           ORDER BY r.id DESC LIMIT 1""",
        (issue_id,),
    )
    return None if row is None else row[0]
