"""People, their roles and their language."""

from __future__ import annotations

from dataclasses import replace

import aiosqlite

from bot.permissions import Actor, Role
from bot.records import Grant, PersonRoles
from storage.db import fetch_all, fetch_one


async def ensure_person(
    conn: aiosqlite.Connection, user_id: int, now: int, name: str = "", username: str | None = None
) -> None:
    await conn.execute(
        """INSERT INTO person (user_id, name, username, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(user_id) DO UPDATE SET
             name = CASE WHEN excluded.name != '' THEN excluded.name ELSE person.name END,
             username = COALESCE(excluded.username, person.username)""",
        (user_id, name, username, now),
    )


async def display_name(conn: aiosqlite.Connection, user_id: int) -> tuple[str, str | None] | None:
    row = await fetch_one(conn, "SELECT name, username FROM person WHERE user_id = ?", (user_id,))
    return (row["name"], row["username"]) if row else None


async def name_if_unknown(conn: aiosqlite.Connection, user_id: int, name: str) -> None:
    await conn.execute(
        "UPDATE person SET name = ? WHERE user_id = ? AND name = ''", (name, user_id)
    )


async def load_actor(conn: aiosqlite.Connection, user_id: int) -> Actor:
    rows = await fetch_all(
        conn,
        "SELECT role, scope FROM role_grant WHERE user_id = ? AND retired_at IS NULL",
        (user_id,),
    )
    by_role: dict[str, set[str]] = {role.value: set() for role in Role}
    for row in rows:
        by_role[row["role"]].add(row["scope"])
    return Actor(
        user_id=user_id,
        admin=bool(by_role[Role.ADMIN]),
        grids=frozenset(by_role[Role.WORKER]),
        member_of=frozenset(by_role[Role.MEMBER]),
        head_of=frozenset(by_role[Role.HEAD]),
    )


async def grant(
    conn: aiosqlite.Connection, user_id: int, role: Role, scope: str, source: str, now: int
) -> bool:
    """Give a role on behalf of `source`; True when that source's grant is new or was
    retired before. Each source holds its own grant: the role lasts while any of them does."""
    row = await fetch_one(
        conn,
        """SELECT retired_at FROM role_grant
           WHERE user_id = ? AND role = ? AND scope = ? AND source = ?""",
        (user_id, role.value, scope, source),
    )
    if row is not None and row["retired_at"] is None:
        return False
    await conn.execute(
        """INSERT INTO role_grant (user_id, role, scope, source, granted_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(user_id, role, scope, source) DO UPDATE SET
             retired_at = NULL, granted_at = excluded.granted_at""",
        (user_id, role.value, scope, source, now),
    )
    return True


async def grants_from(conn: aiosqlite.Connection, source: str) -> set[tuple[int, str, str]]:
    rows = await fetch_all(
        conn,
        "SELECT user_id, role, scope FROM role_grant WHERE source = ? AND retired_at IS NULL",
        (source,),
    )
    return {(r["user_id"], r["role"], r["scope"]) for r in rows}


async def retire_grant(
    conn: aiosqlite.Connection, user_id: int, role: str, scope: str, source: str, now: int
) -> None:
    """Withdraw `source`'s grant; grants from other sources stand."""
    await conn.execute(
        """UPDATE role_grant SET retired_at = ?
           WHERE user_id = ? AND role = ? AND scope = ? AND source = ? AND retired_at IS NULL""",
        (now, user_id, role, scope, source),
    )


async def language(conn: aiosqlite.Connection, user_id: int) -> str | None:
    row = await fetch_one(conn, "SELECT language FROM person WHERE user_id = ?", (user_id,))
    return row["language"] if row else None


async def languages(conn: aiosqlite.Connection, user_ids: list[int]) -> dict[int, str | None]:
    if not user_ids:
        return {}
    marks = ",".join("?" * len(user_ids))
    rows = await fetch_all(
        conn, f"SELECT user_id, language FROM person WHERE user_id IN ({marks})", user_ids
    )
    return {r["user_id"]: r["language"] for r in rows}


async def set_language(conn: aiosqlite.Connection, user_id: int, lang: str) -> None:
    await conn.execute("UPDATE person SET language = ? WHERE user_id = ?", (lang, user_id))


async def display_names(conn: aiosqlite.Connection, user_ids: set[int]) -> dict[int, str]:
    ids = sorted(i for i in user_ids if i is not None)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await fetch_all(
        conn, f"SELECT user_id, name, username FROM person WHERE user_id IN ({marks})", ids
    )
    return {r["user_id"]: r["name"] or (r["username"] or "") for r in rows}


async def active_admins(conn: aiosqlite.Connection) -> list[int]:
    rows = await fetch_all(
        conn,
        """SELECT DISTINCT user_id FROM role_grant
           WHERE role = 'admin' AND retired_at IS NULL ORDER BY user_id""",
    )
    return [r["user_id"] for r in rows]


async def active_heads(conn: aiosqlite.Connection) -> list[int]:
    """Everyone who heads a department now (of any department), by id."""
    rows = await fetch_all(
        conn,
        """SELECT DISTINCT user_id FROM role_grant
           WHERE role = 'head' AND retired_at IS NULL ORDER BY user_id""",
    )
    return [r["user_id"] for r in rows]


async def everyone(conn: aiosqlite.Connection) -> list[int]:
    """Every person the bot has ever known, with a role or not."""
    rows = await fetch_all(conn, "SELECT user_id FROM person")
    return [r["user_id"] for r in rows]


async def mark_blocked(conn: aiosqlite.Connection, chat_id: int, now: int) -> bool:
    """Record that a private chat has blocked the bot; True the first time."""
    cursor = await conn.execute(
        "UPDATE person SET blocked_at = ? WHERE user_id = ? AND blocked_at IS NULL", (now, chat_id)
    )
    return cursor.rowcount > 0


async def clear_blocked(conn: aiosqlite.Connection, user_id: int) -> None:
    await conn.execute("UPDATE person SET blocked_at = NULL WHERE user_id = ?", (user_id,))


async def department_members(conn: aiosqlite.Connection, department: str) -> list[int]:
    rows = await fetch_all(
        conn,
        """SELECT DISTINCT user_id FROM role_grant
           WHERE role = 'member' AND scope = ? AND retired_at IS NULL ORDER BY user_id""",
        (department,),
    )
    return [r["user_id"] for r in rows]


async def department_heads(conn: aiosqlite.Connection, department: str | None) -> list[int]:
    """The department's heads, the organisation file's first, then those invited by id."""
    rows = await fetch_all(
        conn,
        """SELECT user_id FROM role_grant
           WHERE role = 'head' AND scope = ? AND retired_at IS NULL
           GROUP BY user_id ORDER BY MIN(source <> 'org'), user_id""",
        (department or "",),
    )
    return [r["user_id"] for r in rows]


async def department_head(conn: aiosqlite.Connection, department: str | None) -> int | None:
    """The department's head: the organisation file's, else the first invited one."""
    heads = await department_heads(conn, department)
    return heads[0] if heads else None


async def unreachable(conn: aiosqlite.Connection, user_ids: list[int] | None = None) -> set[int]:
    """People whose private chat is recorded as unreachable (blocked the bot, never opened a
    chat with it): among `user_ids`, or everybody when None."""
    if user_ids is None:
        rows = await fetch_all(conn, "SELECT user_id FROM person WHERE blocked_at IS NOT NULL")
    elif not user_ids:
        return set()
    else:
        marks = ",".join("?" * len(user_ids))
        rows = await fetch_all(
            conn,
            f"""SELECT user_id FROM person
                WHERE blocked_at IS NOT NULL AND user_id IN ({marks})""",
            user_ids,
        )
    return {r["user_id"] for r in rows}


async def mark_seen(conn: aiosqlite.Connection, user_id: int, now: int) -> bool:
    """Record that the person has written to the bot (so it may write to them); True the
    first time."""
    cursor = await conn.execute(
        "UPDATE person SET seen_at = ? WHERE user_id = ? AND seen_at IS NULL", (now, user_id)
    )
    return cursor.rowcount > 0


async def has_seen(conn: aiosqlite.Connection, user_id: int) -> bool:
    row = await fetch_one(
        conn, "SELECT 1 FROM person WHERE user_id = ? AND seen_at IS NOT NULL", (user_id,)
    )
    return row is not None


async def grants_of(conn: aiosqlite.Connection, user_id: int) -> list[Grant]:
    rows = await fetch_all(
        conn,
        """SELECT role, scope, source FROM role_grant
           WHERE user_id = ? AND retired_at IS NULL ORDER BY role, scope, source""",
        (user_id,),
    )
    return [Grant(Role(r["role"]), r["scope"], r["source"]) for r in rows]


async def everyone_with_roles(conn: aiosqlite.Connection) -> list[PersonRoles]:
    """Every person holding a role now, by id, with each grant and where it came from."""
    rows = await fetch_all(
        conn,
        """SELECT p.user_id, p.name, p.username, p.seen_at, g.role, g.scope, g.source
           FROM role_grant g JOIN person p ON p.user_id = g.user_id
           WHERE g.retired_at IS NULL ORDER BY p.user_id, g.role, g.scope, g.source""",
    )
    found: dict[int, PersonRoles] = {}
    for r in rows:
        grant = Grant(Role(r["role"]), r["scope"], r["source"])
        known = found.get(r["user_id"])
        if known is None:
            found[r["user_id"]] = PersonRoles(
                r["user_id"], r["name"] or (r["username"] or ""), r["seen_at"] is not None, (grant,)
            )
        else:
            found[r["user_id"]] = replace(known, grants=(*known.grants, grant))
    return list(found.values())


async def roles_mark(conn: aiosqlite.Connection) -> tuple[int, ...]:
    """Changes whenever a role is granted or withdrawn (read every few seconds to notice
    another process's changes)."""
    row = await fetch_one(
        conn,
        """SELECT COUNT(*), COUNT(retired_at), COALESCE(MAX(granted_at), 0),
                  COALESCE(MAX(retired_at), 0) FROM role_grant""",
    )
    return tuple(row) if row is not None else ()
