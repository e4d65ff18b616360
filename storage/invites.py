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


async def claim_invite(
    conn: aiosqlite.Connection, code: str, user_id: int, now: int
) -> tuple[str, str] | None:
    """Mark the invite used by `user_id`; its (role, scope), or None if unusable."""
    digest = code_hash(code)
    row = await fetch_one(
        conn,
        "SELECT role, scope FROM invite WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
        (digest, now),
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE invite SET used_by = ?, used_at = ? WHERE code_hash = ?", (user_id, now, digest)
    )
    return row["role"], row["scope"]
