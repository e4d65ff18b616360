"""One-time invite codes. Only a hash of each code is stored: a copy of the database
does not hand out usable codes."""

from __future__ import annotations

import hashlib

import aiosqlite

from storage.db import fetch_one


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


async def create_invite(
    conn: aiosqlite.Connection,
    code: str,
    role: str,
    scope: str,
    created_by: int | None,
    now: int,
    expires_at: int,
) -> None:
    await conn.execute(
        """INSERT INTO invite (code_hash, role, scope, created_by, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (code_hash(code), role, scope, created_by, now, expires_at),
    )


_SCOPE_EXISTS = """(
    (role = 'worker' AND scope IN (SELECT code FROM grid WHERE retired_at IS NULL))
    OR (role IN ('member', 'head')
        AND scope IN (SELECT code FROM department WHERE retired_at IS NULL))
    OR role NOT IN ('worker', 'member', 'head')
)"""
"""The invite's grid or department is still in the organisation (admins have no scope)."""


async def claim_invite(
    conn: aiosqlite.Connection, code: str, user_id: int, now: int
) -> tuple[str, str] | None:
    """Mark the invite used by `user_id`; its (role, scope), or None if unusable (used,
    expired, or for a grid or department that is no longer in the organisation)."""
    digest = code_hash(code)
    row = await fetch_one(
        conn,
        "SELECT role, scope FROM invite WHERE code_hash = ? AND used_at IS NULL"
        f" AND expires_at > ? AND {_SCOPE_EXISTS}",
        (digest, now),
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE invite SET used_by = ?, used_at = ? WHERE code_hash = ?", (user_id, now, digest)
    )
    return row["role"], row["scope"]


async def void_invites_without_scope(conn: aiosqlite.Connection, now: int) -> list[tuple[str, str]]:
    """Expire the unused invites whose grid or department is gone; their (role, scope)."""
    rows = await conn.execute_fetchall(
        "UPDATE invite SET expires_at = ? WHERE used_at IS NULL AND expires_at > ?"
        f" AND NOT {_SCOPE_EXISTS} RETURNING role, scope",
        (now, now),
    )
    return sorted((str(r[0]), str(r[1])) for r in rows)
