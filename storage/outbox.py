"""The outbox: every message a state change requires, written in that change's transaction
and delivered later by the sender."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import aiosqlite

from bot.bot_api import Method
from bot.message_limits import fit_payload
from bot.records import OutboxItem
from storage.db import fetch_all, fetch_one


def item_from_row(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        created_at=row["created_at"],
        urgent=bool(row["urgent"]),
        chat_id=row["chat_id"],
        issue_id=row["issue_id"],
        purpose=row["purpose"],
        method=row["method"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        chat_blocked=bool(row["chat_blocked"]),
        card_message_id=row["card_message_id"],
    )


async def enqueue(
    conn: aiosqlite.Connection,
    *,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    purpose: str,
    now: int,
    issue_id: int | None = None,
    urgent: bool = False,
) -> int:
    """Queue one call; a text over Telegram's limits is queued as the calls that fit
    (`fit_payload`). The id of the last one."""
    if purpose == "notice":
        # The same words to the same person at the same moment carry nothing new (one
        # state change telling a person twice, in two of their roles): queued once.
        same = await fetch_one(
            conn,
            """SELECT MAX(id) FROM outbox
               WHERE chat_id = ? AND status = 'pending' AND purpose = 'notice'
                 AND created_at = ? AND method = ? AND payload = ?""",
            (chat_id, now, method, json.dumps(payload, ensure_ascii=False)),
        )
        if same is not None and same[0] is not None:
            return int(same[0])
    rows = [
        (
            now,
            int(urgent),
            chat_id,
            issue_id,
            purpose,
            method,
            json.dumps(part, ensure_ascii=False),
            now,
        )
        for part in fit_payload(method, payload)
    ]
    last: int | None = None
    for row in rows:
        cursor = await conn.execute(
            """INSERT INTO outbox (created_at, urgent, chat_id, issue_id, purpose, method,
                                   payload, not_before)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            row,
        )
        last = cursor.lastrowid
    assert last is not None
    return last


async def next_batch(
    conn: aiosqlite.Connection, now: int, limit: int, per_chat: int = 1
) -> list[OutboxItem]:
    """The queues of up to `limit` chats whose head is due, each as its first `per_chat`
    pending items in the order they are to be sent. A chat's head is the oldest of its most
    urgent pending items (so a chat's messages of one urgency keep their order, and an
    urgent one overtakes normal ones); chats with urgent heads come first, then chats whose
    head is a push (a new issue for a department: when more is queued than Telegram's
    budget carries, the pushes go first and the cards' edits wait, superseding each
    other), then the oldest heads. Each item comes with what its delivery needs to know,
    read in the same trip: whether the chat blocked the bot, and for an edit the message
    it edits."""
    rows = await fetch_all(
        conn,
        """WITH head AS (
               SELECT o.chat_id, o.urgent, o.purpose = 'push' AS push, o.id FROM outbox AS o
               WHERE o.status = 'pending'
                 AND o.id = (SELECT u.id FROM outbox AS u
                             WHERE u.chat_id = o.chat_id AND u.status = 'pending'
                             ORDER BY u.urgent DESC, u.id LIMIT 1)
                 AND o.not_before <= ?
               ORDER BY o.urgent DESC, push DESC, o.id
               LIMIT ?)
           SELECT o.*,
                  EXISTS(SELECT 1 FROM person AS p
                         WHERE p.user_id = o.chat_id AND p.blocked_at IS NOT NULL)
                    AS chat_blocked,
                  (SELECT m.message_id FROM push_message AS m
                   WHERE m.issue_id = o.issue_id AND m.chat_id = o.chat_id) AS card_message_id
           FROM head AS h
           JOIN outbox AS o
             ON o.id IN (SELECT u.id FROM outbox AS u
                         WHERE u.chat_id = h.chat_id AND u.status = 'pending'
                         ORDER BY u.urgent DESC, u.id LIMIT ?)
           ORDER BY h.urgent DESC, h.push DESC, h.id, o.urgent DESC, o.id""",
        (now, limit, per_chat),
    )
    return [item_from_row(r) for r in rows]


async def mark_sent(
    conn: aiosqlite.Connection, now: int, delivered: list[tuple[int, int | None]]
) -> None:
    """Record deliveries, each an item id with the id of the message it made (None when
    Telegram returned none): one statement however many there are."""
    if not delivered:
        return
    cases = " ".join("WHEN ? THEN ?" for _ in delivered)
    marks = ", ".join("?" for _ in delivered)
    await conn.execute(
        f"""UPDATE outbox SET status = 'sent', delivered_at = ?,
                              message_id = CASE id {cases} END, attempts = attempts + 1
            WHERE id IN ({marks})""",
        [now, *(v for pair in delivered for v in pair), *(item for item, _ in delivered)],
    )


async def mark_retry(conn: aiosqlite.Connection, item_id: int, not_before: int, error: str) -> None:
    """Try the item again later — unless, while its call was out, a newer edit superseded
    it (`drop_pending_edits`): then it stays marked so, not as failed for this error."""
    await conn.execute(
        """UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ?
           WHERE id = ? AND status = 'pending'""",
        (not_before, error[:500], item_id),
    )


async def mark_failed(conn: aiosqlite.Connection, item_id: int, now: int, error: str) -> None:
    """Give the item up for `error` — unless a newer edit superseded it while its call was
    out: the reason it did not go out is then that, and it stays so marked."""
    await conn.execute(
        """UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,
                             delivered_at = NULL
           WHERE id = ? AND status = 'pending'""",
        (error[:500], item_id),
    )


SUPERSEDED = "superseded by a newer edit of the card"


async def drop_pending_edits(
    conn: aiosqlite.Connection, issue_id: int, chat_id: int | None = None
) -> int:
    """Drop the edits of this issue's cards still waiting to go out: the caller queues
    edits that show the card as it is now (whole text and buttons), so the older ones would
    only spend the chats' budget (a group gets 20 messages a minute) on states already
    gone. They are marked, not deleted: the table's ids are SQLite rowids, and a deleted
    highest id is given again to the next row — so an edit the sender had already taken
    would, when recorded as sent, mark the new edit sent and it would never go out.
    `chat_id`: only that chat's card (which the caller edits alone)."""
    cursor = await conn.execute(
        """UPDATE outbox SET status = 'failed', last_error = ?
           WHERE issue_id = ? AND purpose = 'edit' AND status = 'pending'
           AND (? IS NULL OR chat_id = ?)""",
        (SUPERSEDED, issue_id, chat_id, chat_id),
    )
    return cursor.rowcount


async def fail_pending_for_chat(conn: aiosqlite.Connection, chat_id: int, error: str) -> int:
    cursor = await conn.execute(
        "UPDATE outbox SET status = 'failed', last_error = ? "
        "WHERE chat_id = ? AND status = 'pending'",
        (error, chat_id),
    )
    return cursor.rowcount


CAPTIONED_PUSH_METHOD = Method.SEND_PHOTO
"""A push sent with this method carries the card as its photo's caption."""


async def record_pushes(
    conn: aiosqlite.Connection, pushes: list[tuple[int, int, int, str]]
) -> None:
    """The messages that show issues' live cards, each (issue, chat, message, the method
    it was sent with), in one statement. At most one per issue and chat."""
    if not pushes:
        return
    rows = ", ".join("(?, ?, ?, ?)" for _ in pushes)
    await conn.execute(
        f"""INSERT INTO push_message (issue_id, chat_id, message_id, captioned)
            VALUES {rows}
            ON CONFLICT(issue_id, chat_id) DO UPDATE
            SET message_id = excluded.message_id, captioned = excluded.captioned""",
        [
            v
            for issue_id, chat_id, message_id, method in pushes
            for v in (issue_id, chat_id, message_id, int(method == CAPTIONED_PUSH_METHOD))
        ],
    )


async def push_chats(conn: aiosqlite.Connection, issue_id: int) -> dict[int, bool]:
    """Chats that were pushed this issue's card (delivered or still queued), each with
    whether the card is a photo's caption."""
    rows = await fetch_all(
        conn,
        """SELECT chat_id, captioned FROM push_message WHERE issue_id = ?
           UNION SELECT chat_id, method = ? FROM outbox
           WHERE issue_id = ? AND purpose = 'push' AND status != 'failed'""",
        (issue_id, CAPTIONED_PUSH_METHOD, issue_id),
    )
    return {r[0]: bool(r[1]) for r in sorted(rows, key=lambda r: r[0])}


async def pending_count(conn: aiosqlite.Connection) -> int:
    row = await fetch_one(conn, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
    return int(row[0]) if row else 0


async def attachment(conn: aiosqlite.Connection, attachment_id: int) -> tuple[str, bytes] | None:
    row = await fetch_one(
        conn, "SELECT filename, data FROM attachment WHERE id = ?", (attachment_id,)
    )
    return (row["filename"], bytes(row["data"])) if row else None
