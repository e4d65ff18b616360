"""Requests for an extension (延期) or a 挂账, and their decisions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import aiosqlite

from bot.extensions import Kind
from bot.records import ExtensionRequest, IssueRecord
from storage.db import fetch_all, fetch_one
from storage.issues import issue_from_row


def _request(row: sqlite3.Row) -> ExtensionRequest:
    return ExtensionRequest(
        row["id"],
        row["issue_id"],
        Kind(row["kind"]),
        row["requested_by"],
        row["requested_at"],
        row["reason"],
        row["until"],
        row["status"],
        row["decided_by"],
        row["decided_at"],
        row["refusal"],
    )


async def add(
    conn: aiosqlite.Connection,
    issue_id: int,
    kind: Kind,
    user_id: int,
    now: int,
    reason: str,
    until: int,
) -> ExtensionRequest | None:
    """The new pending request, or None when the issue already has one waiting."""
    try:
        row = await fetch_one(
            conn,
            """INSERT INTO extension_request (issue_id, kind, requested_by, requested_at,
                                              reason, until)
               VALUES (?, ?, ?, ?, ?, ?) RETURNING *""",
            (issue_id, kind.value, user_id, now, reason, until),
        )
    except sqlite3.IntegrityError:
        return None
    return _request(row) if row is not None else None


async def pending(conn: aiosqlite.Connection, issue_id: int) -> ExtensionRequest | None:
    row = await fetch_one(
        conn,
        "SELECT * FROM extension_request WHERE issue_id = ? AND status = 'pending'",
        (issue_id,),
    )
    return _request(row) if row is not None else None


async def get(conn: aiosqlite.Connection, request_id: int) -> ExtensionRequest | None:
    row = await fetch_one(conn, "SELECT * FROM extension_request WHERE id = ?", (request_id,))
    return _request(row) if row is not None else None


async def latest_hold(conn: aiosqlite.Connection, issue_id: int) -> ExtensionRequest | None:
    """The 挂账 approved last for the issue (its reason stands for the 挂账)."""
    row = await fetch_one(
        conn,
        """SELECT * FROM extension_request
           WHERE issue_id = ? AND kind = 'hold' AND status = 'approved'
           ORDER BY id DESC LIMIT 1""",
        (issue_id,),
    )
    return _request(row) if row is not None else None


async def decide(
    conn: aiosqlite.Connection,
    request_id: int,
    approved: bool,
    user_id: int,
    now: int,
    refusal: str | None = None,
) -> bool:
    """Record the decision if the request still waits; False when it was decided already."""
    cursor = await conn.execute(
        """UPDATE extension_request SET status = ?, decided_by = ?, decided_at = ?, refusal = ?
           WHERE id = ? AND status = 'pending'""",
        ("approved" if approved else "refused", user_id, now, refusal, request_id),
    )
    return cursor.rowcount == 1


_MOVED_ON = ("resolve", "transfer", "reroute", "redispatch", "release", "cancel")
"""Events after which a waiting request no longer applies."""


async def moved_since(conn: aiosqlite.Connection, request: ExtensionRequest) -> bool:
    """Whether the issue moved on (resolved, handed on, cancelled) after the request (its
    event is the issue's last ask: one request waits at a time)."""
    marks = ", ".join("?" for _ in _MOVED_ON)
    row = await fetch_one(
        conn,
        f"""SELECT 1 FROM issue_event WHERE issue_id = ? AND action IN ({marks})
              AND id > (SELECT MAX(id) FROM issue_event WHERE issue_id = ?
                        AND action IN ('ask_extension', 'ask_hold'))
            LIMIT 1""",
        (request.issue_id, *_MOVED_ON, request.issue_id),
    )
    return row is not None


async def lapse(conn: aiosqlite.Connection, request_id: int, now: int) -> None:
    """A request whose issue moved on before it was decided: closed, refused by nobody."""
    await conn.execute(
        """UPDATE extension_request SET status = 'refused', decided_at = ?, refusal = 'lapsed'
           WHERE id = ? AND status = 'pending'""",
        (now, request_id),
    )


async def held_issues(
    conn: aiosqlite.Connection,
    limit: int,
    user_id: int | None = None,
    departments: Iterable[str] = (),
) -> list[IssueRecord]:
    """Issues in 挂账 assigned to `user_id` or held by one of `departments` (neither given:
    all of them), by review date."""
    depts = sorted(departments)
    if user_id is None and not depts:
        where, params = "", []
    else:
        marks = ",".join("?" * len(depts)) or "NULL"
        where = f"AND (assignee_id = ? OR department_code IN ({marks}))"
        params = [user_id, *depts]
    rows = await fetch_all(
        conn,
        f"SELECT * FROM issue WHERE state = 'held' {where} ORDER BY held_until, id LIMIT ?",
        [*params, limit],
    )
    return [issue_from_row(r) for r in rows]
