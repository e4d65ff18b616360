"""Issues, their photos and their append-only event log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

import aiosqlite

from bot.clock import from_epoch
from bot.lifecycle import ASSIGNED_STATES, State
from bot.records import EventRecord, IssueRecord, NewIssue
from bot.routing import MemberLoad
from storage.db import fetch_all, fetch_one


def issue_from_row(row: sqlite3.Row) -> IssueRecord:
    values: dict[str, Any] = {f.name: row[f.name] for f in fields(IssueRecord)}
    values["state"] = State(values["state"])
    values["urgent"] = bool(values["urgent"])
    values["escalated"] = bool(values["escalated"])
    return IssueRecord(**values)


def event_from_row(row: sqlite3.Row) -> EventRecord:
    return EventRecord(**{f.name: row[f.name] for f in fields(EventRecord)})


async def insert_issue(conn: aiosqlite.Connection, new: NewIssue, now: int) -> IssueRecord:
    """The new issue as stored (one trip: the row comes back with the insert)."""
    row = await fetch_one(
        conn,
        """INSERT INTO issue (reporter_id, grid_code, category_code, description, urgent,
                              latitude, longitude, address, state, reported_at, draft_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
        (
            new.reporter_id,
            new.grid_code,
            new.category_code,
            new.description,
            int(new.urgent),
            new.latitude,
            new.longitude,
            new.address,
            State.REPORTED.value,
            now,
            new.draft_key,
        ),
    )
    assert row is not None
    return issue_from_row(row)


_UPDATABLE = {
    "state",
    "department_code",
    "assignee_id",
    "dispatched_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
    "cancelled_at",
    "ack_deadline",
    "resolve_deadline",
    "rating",
    "reopen_count",
    "transfer_count",
    "escalated",
    # extensions and 挂账
    "original_resolve_deadline",
    "held_until",
    "held_at",
}


async def update_issue(
    conn: aiosqlite.Connection, issue_id: int, expected_state: State, **changes: Any
) -> IssueRecord | None:
    """Write `changes` only if the issue is still in `expected_state`: the issue as it is
    now, or None when it had moved on (one trip: the row comes back with the update)."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    values = [v.value if isinstance(v, State) else v for v in changes.values()]
    assignments = ", ".join(f"{name} = ?" for name in changes)
    row = await fetch_one(
        conn,
        f"UPDATE issue SET {assignments} WHERE id = ? AND state = ? RETURNING *",
        [*values, issue_id, expected_state.value],
    )
    return issue_from_row(row) if row else None


async def add_event(
    conn: aiosqlite.Connection,
    issue_id: int,
    at: int,
    actor_id: int | None,
    action: str,
    from_state: State | None,
    to_state: State,
    department_code: str | None,
    assignee_id: int | None,
    note: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO issue_event (issue_id, at, actor_id, action, from_state, to_state,
                                    department_code, assignee_id, note)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            issue_id,
            at,
            actor_id,
            action,
            from_state.value if from_state else None,
            to_state.value,
            department_code,
            assignee_id,
            note,
        ),
    )


async def get_issue(conn: aiosqlite.Connection, issue_id: int) -> IssueRecord | None:
    row = await fetch_one(conn, "SELECT * FROM issue WHERE id = ?", (issue_id,))
    return issue_from_row(row) if row else None


async def events(conn: aiosqlite.Connection, issue_id: int) -> list[EventRecord]:
    rows = await fetch_all(
        conn, "SELECT * FROM issue_event WHERE issue_id = ? ORDER BY id", (issue_id,)
    )
    return [event_from_row(r) for r in rows]


async def escalated_since(
    conn: aiosqlite.Connection, issue_id: int, fresh_starts: Iterable[str]
) -> bool:
    """Whether the issue's latest escalation came after its latest event among
    `fresh_starts` (the actions after which it is no longer overdue)."""
    actions = sorted(fresh_starts)
    marks = ", ".join("?" for _ in actions)
    row = await fetch_one(
        conn,
        f"""SELECT
              (SELECT MAX(id) FROM issue_event WHERE issue_id = ? AND action = 'escalate')
              > COALESCE((SELECT MAX(id) FROM issue_event
                          WHERE issue_id = ? AND action IN ({marks})), 0)""",
        (issue_id, issue_id, *actions),
    )
    return bool(row and row[0])


async def resolution_note(conn: aiosqlite.Connection, issue_id: int) -> str | None:
    """The note of the issue's latest 办结 (None when there is none, or it had no note)."""
    row = await fetch_one(
        conn,
        """SELECT note FROM issue_event WHERE issue_id = ? AND action = 'resolve'
           ORDER BY id DESC LIMIT 1""",
        (issue_id,),
    )
    return row["note"] if row else None


async def issue_and_involved(
    conn: aiosqlite.Connection, issue_id: int
) -> tuple[IssueRecord, frozenset[int]] | None:
    """The issue and everyone its timeline names (as actor or assignee), in one trip: what
    a permission check needs."""
    row = await fetch_one(
        conn,
        """SELECT issue.*,
                  (SELECT group_concat(person) FROM
                     (SELECT assignee_id AS person FROM issue_event
                      WHERE issue_id = issue.id AND assignee_id IS NOT NULL
                      UNION SELECT actor_id FROM issue_event
                      WHERE issue_id = issue.id AND actor_id IS NOT NULL)) AS involved
           FROM issue WHERE id = ?""",
        (issue_id,),
    )
    if row is None:
        return None
    involved = row["involved"]
    people = frozenset(int(p) for p in involved.split(",")) if involved else frozenset()
    return issue_from_row(row), people


async def add_photos(
    conn: aiosqlite.Connection,
    issue_id: int,
    purpose: str,
    photos: Iterable[tuple[str, str | None]],
) -> None:
    """Append photos after those the issue already has for `purpose` (one trip; none
    when there are no photos)."""
    rows = [(issue_id, purpose, file_id, unique) for file_id, unique in photos]
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO issue_photo (issue_id, purpose, position, file_id, file_unique_id)
           SELECT ?1, ?2, COALESCE(MAX(position), -1) + 1, ?3, ?4
           FROM issue_photo WHERE issue_id = ?1 AND purpose = ?2""",
        rows,
    )


async def photos(conn: aiosqlite.Connection, issue_id: int, purpose: str) -> list[str]:
    rows = await fetch_all(
        conn,
        "SELECT file_id FROM issue_photo WHERE issue_id = ? AND purpose = ? ORDER BY position",
        (issue_id, purpose),
    )
    return [r["file_id"] for r in rows]


def _states(states: Iterable[State]) -> str:
    return ",".join(f"'{s.value}'" for s in sorted(states))


async def member_loads(conn: aiosqlite.Connection, members: list[int]) -> dict[int, MemberLoad]:
    """Open issues held by each member and when each was last given one."""
    if not members:
        return {}
    marks = ",".join("?" * len(members))
    open_rows = await fetch_all(
        conn,
        f"""SELECT assignee_id, COUNT(*) AS n FROM issue
            WHERE assignee_id IN ({marks}) AND state IN ({_states(ASSIGNED_STATES)})
            GROUP BY assignee_id""",
        members,
    )
    # One index seek per member (issue_event_assignee), however long their history.
    last_rows = await fetch_all(
        conn,
        f"""WITH member(id) AS (VALUES {",".join(["(?)"] * len(members))})
            SELECT id AS assignee_id,
                   (SELECT MAX(at) FROM issue_event
                    WHERE assignee_id = member.id AND action IN ('dispatch', 'reroute')) AS last
            FROM member""",
        members,
    )
    counts = {r["assignee_id"]: r["n"] for r in open_rows}
    last: dict[int, datetime] = {
        r["assignee_id"]: from_epoch(r["last"]) for r in last_rows if r["last"] is not None
    }
    return {
        m: MemberLoad(open_issues=counts.get(m, 0), last_dispatched_at=last.get(m)) for m in members
    }


async def reported_by(conn: aiosqlite.Connection, user_id: int, limit: int) -> list[IssueRecord]:
    rows = await fetch_all(
        conn,
        "SELECT * FROM issue WHERE reporter_id = ? ORDER BY id DESC LIMIT ?",
        (user_id, limit),
    )
    return [issue_from_row(r) for r in rows]


async def to_do(
    conn: aiosqlite.Connection, user_id: int, departments: Iterable[str], limit: int
) -> list[IssueRecord]:
    """Open issues assigned to `user_id` or held by one of `departments`, by deadline."""
    depts = sorted(departments)
    marks = ",".join("?" * len(depts)) or "NULL"
    rows = await fetch_all(
        conn,
        f"""SELECT * FROM issue
            WHERE state IN ({_states(ASSIGNED_STATES)})
              AND (assignee_id = ? OR department_code IN ({marks}))
            ORDER BY CASE WHEN state = 'dispatched' THEN ack_deadline
                          ELSE resolve_deadline END, id
            LIMIT ?""",
        [user_id, *depts, limit],
    )
    return [issue_from_row(r) for r in rows]


async def transferred(conn: aiosqlite.Connection, limit: int) -> list[IssueRecord]:
    rows = await fetch_all(
        conn,
        "SELECT * FROM issue WHERE state IN ('transferred', 'reported') ORDER BY id LIMIT ?",
        (limit,),
    )
    return [issue_from_row(r) for r in rows]


async def reported_since(conn: aiosqlite.Connection, user_id: int, since: int) -> int:
    row = await fetch_one(
        conn,
        "SELECT COUNT(*) FROM issue WHERE reporter_id = ? AND reported_at >= ?",
        (user_id, since),
    )
    return int(row[0]) if row else 0


async def waiting_on_unreachable(
    conn: aiosqlite.Connection, user_id: int | None = None
) -> list[int]:
    """Issues waiting for 报到 from a person whose chat is recorded as unreachable (that one
    person, or anybody when None), oldest first."""
    rows = await fetch_all(
        conn,
        """SELECT i.id FROM person AS p
           JOIN issue AS i ON i.assignee_id = p.user_id AND i.state = ?
           WHERE p.blocked_at IS NOT NULL AND (? IS NULL OR p.user_id = ?)
           ORDER BY i.id""",
        (State.DISPATCHED.value, user_id, user_id),
    )
    return [r["id"] for r in rows]


async def stranded(conn: aiosqlite.Connection) -> list[IssueRecord]:
    """Open issues held where nobody can act on them: their department is retired, or
    their assignee no longer serves it (no member or head role there, from any source)."""
    rows = await fetch_all(
        conn,
        f"""SELECT * FROM issue i
            WHERE state IN ({_states(ASSIGNED_STATES)})
              AND (NOT EXISTS (SELECT 1 FROM department d
                               WHERE d.code = i.department_code AND d.retired_at IS NULL)
                   OR (i.assignee_id IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM role_grant g
                                       WHERE g.user_id = i.assignee_id
                                         AND g.role IN ('member', 'head')
                                         AND g.scope = i.department_code
                                         AND g.retired_at IS NULL)))
            ORDER BY id""",
    )
    return [issue_from_row(r) for r in rows]
