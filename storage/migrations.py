"""Numbered schema steps. `PRAGMA user_version` records the last one applied; each step
and its version bump commit together, so a failed step leaves the file as it was. A step
is a whole SQL script: triggers and strings may hold semicolons."""

from __future__ import annotations

import sqlite3

import aiosqlite

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE person (
            user_id      INTEGER PRIMARY KEY,
            name         TEXT NOT NULL DEFAULT '',
            username     TEXT,
            language     TEXT,
            created_at   INTEGER NOT NULL,
            blocked_at   INTEGER
        );
        CREATE TABLE role_grant (
            user_id     INTEGER NOT NULL REFERENCES person(user_id),
            role        TEXT NOT NULL CHECK (role IN ('admin', 'worker', 'member', 'head')),
            scope       TEXT NOT NULL DEFAULT '',
            source      TEXT NOT NULL CHECK (source IN ('org', 'invite', 'settings')),
            granted_at  INTEGER NOT NULL,
            retired_at  INTEGER,
            PRIMARY KEY (user_id, role, scope)
        );
        CREATE TABLE department (
            code          TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            head_id       INTEGER,
            group_chat_id INTEGER,
            position      INTEGER NOT NULL DEFAULT 0,
            retired_at    INTEGER
        );
        CREATE TABLE category (
            code                 TEXT PRIMARY KEY,
            name                 TEXT NOT NULL,
            department_code      TEXT NOT NULL REFERENCES department(code),
            ack_minutes          INTEGER NOT NULL,
            resolve_hours        REAL NOT NULL,
            urgent_ack_minutes   INTEGER,
            urgent_resolve_hours REAL,
            position             INTEGER NOT NULL DEFAULT 0,
            retired_at           INTEGER
        );
        CREATE TABLE grid (
            code        TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            position    INTEGER NOT NULL DEFAULT 0,
            retired_at  INTEGER
        );
        CREATE TABLE org_source (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            toml        TEXT NOT NULL,
            imported_at INTEGER NOT NULL
        );
        CREATE TABLE issue (
            id                INTEGER PRIMARY KEY,
            reporter_id       INTEGER NOT NULL REFERENCES person(user_id),
            grid_code         TEXT NOT NULL REFERENCES grid(code),
            category_code     TEXT NOT NULL REFERENCES category(code),
            description       TEXT NOT NULL,
            urgent            INTEGER NOT NULL DEFAULT 0,
            latitude          REAL,
            longitude         REAL,
            address           TEXT,
            state             TEXT NOT NULL,
            department_code   TEXT REFERENCES department(code),
            assignee_id       INTEGER,
            reported_at       INTEGER NOT NULL,
            dispatched_at     INTEGER,
            acknowledged_at   INTEGER,
            resolved_at       INTEGER,
            closed_at         INTEGER,
            cancelled_at      INTEGER,
            ack_deadline      INTEGER,
            resolve_deadline  INTEGER,
            rating            TEXT CHECK (rating IN ('satisfied', 'fair', 'dissatisfied')),
            reopen_count      INTEGER NOT NULL DEFAULT 0,
            transfer_count    INTEGER NOT NULL DEFAULT 0,
            escalated         INTEGER NOT NULL DEFAULT 0,
            draft_key         TEXT NOT NULL UNIQUE
        );
        CREATE INDEX issue_reported_at ON issue(reported_at);
        CREATE INDEX issue_reporter ON issue(reporter_id, reported_at);
        CREATE INDEX issue_open_assignee ON issue(assignee_id, state);
        CREATE INDEX issue_open_department ON issue(department_code, state);
        CREATE TABLE issue_photo (
            issue_id        INTEGER NOT NULL REFERENCES issue(id),
            purpose         TEXT NOT NULL CHECK (purpose IN ('report', 'resolution')),
            position        INTEGER NOT NULL,
            file_id         TEXT NOT NULL,
            file_unique_id  TEXT,
            PRIMARY KEY (issue_id, purpose, position)
        );
        CREATE TABLE issue_event (
            id               INTEGER PRIMARY KEY,
            issue_id         INTEGER NOT NULL REFERENCES issue(id),
            at               INTEGER NOT NULL,
            actor_id         INTEGER,
            action           TEXT NOT NULL,
            from_state       TEXT,
            to_state         TEXT NOT NULL,
            department_code  TEXT,
            assignee_id      INTEGER,
            note             TEXT
        );
        CREATE INDEX issue_event_issue ON issue_event(issue_id, id);
        CREATE INDEX issue_event_action_at ON issue_event(action, at);
        CREATE TABLE draft (
            user_id         INTEGER PRIMARY KEY,
            chat_id         INTEGER NOT NULL,
            draft_key       TEXT NOT NULL UNIQUE,
            step            INTEGER NOT NULL,
            grid_code       TEXT,
            category_code   TEXT,
            description     TEXT,
            photos          TEXT NOT NULL DEFAULT '[]',
            latitude        REAL,
            longitude       REAL,
            address         TEXT,
            urgent          INTEGER,
            started_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL
        );
        CREATE TABLE invite (
            code_hash   TEXT PRIMARY KEY,
            role        TEXT NOT NULL,
            scope       TEXT NOT NULL DEFAULT '',
            created_by  INTEGER,
            created_at  INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL,
            used_by     INTEGER,
            used_at     INTEGER
        );
        CREATE TABLE outbox (
            id               INTEGER PRIMARY KEY,
            created_at       INTEGER NOT NULL,
            urgent           INTEGER NOT NULL DEFAULT 0,
            chat_id          INTEGER NOT NULL,
            issue_id         INTEGER,
            purpose          TEXT NOT NULL,
            method           TEXT NOT NULL,
            payload          TEXT NOT NULL,
            status           TEXT NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sent', 'failed')),
            attempts         INTEGER NOT NULL DEFAULT 0,
            not_before       INTEGER NOT NULL,
            last_error       TEXT,
            delivered_at     INTEGER,
            message_id       INTEGER
        );
        CREATE INDEX outbox_pending ON outbox(status, not_before) WHERE status = 'pending';
        CREATE TABLE push_message (
            issue_id    INTEGER NOT NULL REFERENCES issue(id),
            chat_id     INTEGER NOT NULL,
            message_id  INTEGER NOT NULL,
            PRIMARY KEY (issue_id, chat_id)
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE deadline_alert (
            id            INTEGER PRIMARY KEY,
            issue_id      INTEGER NOT NULL REFERENCES issue(id),
            clock         TEXT NOT NULL CHECK (clock IN ('ack', 'resolve')),
            step          TEXT NOT NULL CHECK (step IN ('remind', 'head', 'admins')),
            due_at        INTEGER NOT NULL,
            deadline      INTEGER NOT NULL,
            fired_at      INTEGER,
            cancelled_at  INTEGER
        );
        CREATE INDEX deadline_alert_due ON deadline_alert(due_at)
            WHERE fired_at IS NULL AND cancelled_at IS NULL;
        CREATE INDEX deadline_alert_issue ON deadline_alert(issue_id);
        """,
    ),
    (
        3,
        """
        CREATE INDEX outbox_chat_head ON outbox(chat_id, urgent DESC, id)
            WHERE status = 'pending';
        """,
    ),
    (
        4,
        """
        CREATE TABLE stats_delivery (
            week       TEXT NOT NULL,
            recipient  INTEGER NOT NULL,
            scope      TEXT NOT NULL,
            queued_at  INTEGER NOT NULL,
            PRIMARY KEY (week, recipient)
        );
        CREATE TABLE attachment (
            id          INTEGER PRIMARY KEY,
            filename    TEXT NOT NULL,
            mime        TEXT NOT NULL,
            data        BLOB NOT NULL,
            created_at  INTEGER NOT NULL
        );
        """,
    ),
    (
        5,
        # One grant row per source: an admin named both in WHISTLE_ADMIN_IDS and in the
        # organisation file holds two, so leaving one list does not retire the other.
        """
        CREATE TABLE role_grant_by_source (
            user_id     INTEGER NOT NULL REFERENCES person(user_id),
            role        TEXT NOT NULL CHECK (role IN ('admin', 'worker', 'member', 'head')),
            scope       TEXT NOT NULL DEFAULT '',
            source      TEXT NOT NULL CHECK (source IN ('org', 'invite', 'settings')),
            granted_at  INTEGER NOT NULL,
            retired_at  INTEGER,
            PRIMARY KEY (user_id, role, scope, source)
        );
        INSERT INTO role_grant_by_source (user_id, role, scope, source, granted_at, retired_at)
            SELECT user_id, role, scope, source, granted_at, retired_at FROM role_grant;
        DROP TABLE role_grant;
        ALTER TABLE role_grant_by_source RENAME TO role_grant;
        """,
    ),
    (
        6,
        # A card pushed as a photo's caption is edited with editMessageCaption.
        """
        ALTER TABLE push_message ADD COLUMN captioned INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        7,
        # Routing's "longest idle" reads each member's last dispatch: without this index
        # it scanned every dispatch of the street, once per report.
        """
        CREATE INDEX issue_event_assignee ON issue_event(assignee_id, action, at);
        """,
    ),
    (
        8,
        # Refreshing an issue's cards looks up the chats its push went to, queued or sent:
        # without this index every state change scanned the whole outbox, which only grows,
        # inside the write transaction every other change waits for.
        """
        CREATE INDEX outbox_issue ON outbox(issue_id, purpose) WHERE issue_id IS NOT NULL;
        """,
    ),
    (
        9,
        # When a person first wrote to the bot: `whistle people list` shows who has never
        # opened a chat with it (a push to them cannot be delivered). Before this step the
        # best evidence is a private message delivered to them, or their having blocked it.
        """
        ALTER TABLE person ADD COLUMN seen_at INTEGER;
        UPDATE person SET seen_at = COALESCE(
            (SELECT MIN(delivered_at) FROM outbox
             WHERE outbox.chat_id = person.user_id AND status = 'sent'),
            blocked_at);
        """,
    ),
    (
        10,
        # Since when a draft's step has been waiting for the person's input;
        # NULL once they started something else. A restart restores only drafts still
        # waiting within WHISTLE_PROMPT_MINUTES as conversations.
        """
        ALTER TABLE draft ADD COLUMN waiting_since INTEGER;
        UPDATE draft SET waiting_since = updated_at;
        """,
    ),
    (
        11,
        # Resolve limits in working days (China's calendar), kept so that a retired
        # category rebuilt from the database keeps its rule.
        """
        ALTER TABLE category ADD COLUMN resolve_workdays INTEGER;
        ALTER TABLE category ADD COLUMN urgent_resolve_workdays INTEGER;
        """,
    ),
    (
        12,
        # Values made once per install and kept: the webhook's secret token, and when the
        # organisation was first imported (the weekly push makes up no week before it; an
        # existing install takes its earliest trace: the first role from the file, the
        # first issue, the last import).
        """
        CREATE TABLE install_value (
            name        TEXT PRIMARY KEY,
            value       TEXT NOT NULL,
            created_at  INTEGER NOT NULL
        );
        INSERT INTO install_value (name, value, created_at)
            SELECT 'first_org_import', CAST(MIN(at) AS TEXT), MIN(at) FROM (
                SELECT MIN(granted_at) AS at FROM role_grant WHERE source = 'org'
                UNION ALL SELECT MIN(reported_at) FROM issue
                UNION ALL SELECT imported_at FROM org_source
            ) WHERE at IS NOT NULL HAVING MIN(at) IS NOT NULL;
        """,
    ),
    (
        13,
        # Whether a category's deadlines count only working hours: kept, so a retired
        # category rebuilt from the database keeps its rule (it fell back to calendar
        # time). Categories stored before this step count calendar time until the next
        # import writes what the organisation file says.
        """
        ALTER TABLE category ADD COLUMN business_hours INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        14,
        # 联合吹哨: a whistle on an issue (its place and lead), each summoned department's
        # state (bot/lifecycle.py SummonState), every 到场 check-in with its distance, the
        # street's rating of each department, and the arrival alerts (bot/deadlines.py
        # alerts_for, one set per summoned department).
        """
        CREATE TABLE whistle (
            issue_id    INTEGER PRIMARY KEY REFERENCES issue(id),
            lead        TEXT NOT NULL,
            latitude    REAL NOT NULL,
            longitude   REAL NOT NULL,
            blown_by    INTEGER,
            blown_at    INTEGER NOT NULL,
            override_by      INTEGER,
            override_reason  TEXT
        );
        CREATE TABLE whistle_department (
            issue_id         INTEGER NOT NULL REFERENCES whistle(issue_id),
            department_code  TEXT NOT NULL,
            state            TEXT NOT NULL CHECK (state IN
                                 ('summoned', 'far', 'overdue', 'arrived', 'done', 'released')),
            summoned_at      INTEGER NOT NULL,
            arrive_deadline  INTEGER NOT NULL,
            arrived_at       INTEGER,
            arrived_by       INTEGER,
            arrived_meters   INTEGER,
            last_meters      INTEGER,
            done_at          INTEGER,
            released_at      INTEGER,
            street_rating    TEXT,
            street_reason    TEXT,
            rated_at         INTEGER,
            PRIMARY KEY (issue_id, department_code)
        );
        CREATE TABLE whistle_checkin (
            id               INTEGER PRIMARY KEY,
            issue_id         INTEGER NOT NULL REFERENCES whistle(issue_id),
            department_code  TEXT NOT NULL,
            user_id          INTEGER NOT NULL,
            at               INTEGER NOT NULL,
            latitude         REAL NOT NULL,
            longitude        REAL NOT NULL,
            meters           INTEGER NOT NULL,
            on_site          INTEGER NOT NULL,
            photo            TEXT
        );
        CREATE INDEX whistle_checkin_issue ON whistle_checkin(issue_id, department_code);
        CREATE TABLE whistle_alert (
            id               INTEGER PRIMARY KEY,
            issue_id         INTEGER NOT NULL REFERENCES whistle(issue_id),
            department_code  TEXT NOT NULL,
            step             TEXT NOT NULL CHECK (step IN ('remind', 'head', 'admins')),
            due_at           INTEGER NOT NULL,
            deadline         INTEGER NOT NULL,
            fired_at         INTEGER,
            cancelled_at     INTEGER
        );
        CREATE INDEX whistle_alert_due ON whistle_alert(due_at)
            WHERE fired_at IS NULL AND cancelled_at IS NULL;
        """,
    ),
    (
        15,
        # Extensions (延期) and 挂账: each request and its decision; the issue keeps its
        # first resolve deadline once extended, and the date a 挂账 is to be reviewed. The
        # alert table is rebuilt to take the 挂账 review reminder ('hold').
        """
        CREATE TABLE extension_request (
            id            INTEGER PRIMARY KEY,
            issue_id      INTEGER NOT NULL REFERENCES issue(id),
            kind          TEXT NOT NULL CHECK (kind IN ('extend', 'hold')),
            requested_by  INTEGER NOT NULL,
            requested_at  INTEGER NOT NULL,
            reason        TEXT NOT NULL,
            until         INTEGER NOT NULL,
            status        TEXT NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'approved', 'refused')),
            decided_by    INTEGER,
            decided_at    INTEGER,
            refusal       TEXT
        );
        CREATE UNIQUE INDEX extension_request_pending ON extension_request(issue_id)
            WHERE status = 'pending';
        CREATE INDEX extension_request_at ON extension_request(requested_at);
        ALTER TABLE issue ADD COLUMN original_resolve_deadline INTEGER;
        ALTER TABLE issue ADD COLUMN held_until INTEGER;
        ALTER TABLE issue ADD COLUMN held_at INTEGER;
        CREATE TABLE deadline_alert_new (
            id            INTEGER PRIMARY KEY,
            issue_id      INTEGER NOT NULL REFERENCES issue(id),
            clock         TEXT NOT NULL CHECK (clock IN ('ack', 'resolve', 'hold')),
            step          TEXT NOT NULL CHECK (step IN ('remind', 'head', 'admins')),
            due_at        INTEGER NOT NULL,
            deadline      INTEGER NOT NULL,
            fired_at      INTEGER,
            cancelled_at  INTEGER
        );
        INSERT INTO deadline_alert_new SELECT * FROM deadline_alert;
        DROP TABLE deadline_alert;
        ALTER TABLE deadline_alert_new RENAME TO deadline_alert;
        CREATE INDEX deadline_alert_due ON deadline_alert(due_at)
            WHERE fired_at IS NULL AND cancelled_at IS NULL;
        CREATE INDEX deadline_alert_issue ON deadline_alert(issue_id);
        """,
    ),
    (
        16,
        # Closures that say why (不属实, 重复, 非本辖区) with their approval and the
        # reporter's 异议; `issue.closure` is the approved closure's kind while it stands
        # (statistics read it). Followers: 附议 and the reporters of merged duplicates.
        """
        ALTER TABLE issue ADD COLUMN closure TEXT;
        CREATE TABLE closure_request (
            id INTEGER PRIMARY KEY,
            issue_id INTEGER NOT NULL REFERENCES issue(id),
            kind TEXT NOT NULL,
            note TEXT NOT NULL,
            photo TEXT,
            duplicate_of INTEGER REFERENCES issue(id),
            requested_by INTEGER NOT NULL,
            requested_at INTEGER NOT NULL,
            decided_by INTEGER,
            decided_at INTEGER,
            approved INTEGER,
            objected_at INTEGER
        );
        CREATE INDEX closure_request_issue ON closure_request(issue_id);
        CREATE TABLE follower (
            issue_id INTEGER NOT NULL REFERENCES issue(id),
            user_id INTEGER NOT NULL,
            since INTEGER NOT NULL,
            via TEXT NOT NULL,
            PRIMARY KEY (issue_id, user_id)
        );
        CREATE INDEX follower_user ON follower(user_id);
        """,
    ),
    (
        17,
        # 联合吹哨: the photos a co-department sends with 配合完成, each row tied to the
        # co_done event it came with (the timeline counts them).
        """
        CREATE TABLE whistle_photo (
            event_id INTEGER NOT NULL REFERENCES issue_event(id),
            position INTEGER NOT NULL,
            issue_id INTEGER NOT NULL REFERENCES issue(id),
            department_code TEXT NOT NULL,
            file_id TEXT NOT NULL,
            file_unique_id TEXT,
            PRIMARY KEY (event_id, position)
        );
        CREATE INDEX whistle_photo_issue ON whistle_photo(issue_id);
        """,
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


class SchemaTooNew(Exception):
    """The file was written by a newer Whistle: this one would misread it."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"its schema is version {version}, newer than this Whistle knows "
            f"({LATEST_VERSION}): run the Whistle that wrote it, or restore a backup"
        )
        self.version = version


def statements(script: str) -> list[str]:
    """The statements of a script, each whole: a piece ends at a semicolon only where
    SQLite's own tokenizer (`sqlite3.complete_statement`) says a statement ends, so a
    trigger's body or a string holding a semicolon stays in one piece."""
    found: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                found.append(pending.strip())
            pending = ""
    rest = pending.removesuffix(";")
    if rest.strip():
        found.append(rest.strip())
    return found


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection) -> list[int]:
    """Apply every step newer than the file's version; return the versions applied.
    Refuses (SchemaTooNew) a file newer than the latest step, before changing anything.

    Each step's statements run one by one inside one `BEGIN IMMEDIATE … COMMIT`, with the
    version bump: sqlite3's `executescript` would commit any open transaction first, so a
    step that failed halfway would stay half applied."""
    current = await schema_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(current)
    applied: list[int] = []
    for version, sql in MIGRATIONS:
        if version <= await schema_version(conn):
            continue
        steps = statements(sql)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if version <= await schema_version(conn):
                await conn.execute("ROLLBACK")
                continue
            for statement in steps:
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {int(version)}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        applied.append(version)
    return applied
