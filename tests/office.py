"""The street office at the service level: the services on a database in a temporary
folder and a clock that moves only when told, with the example district
(bot/data/district.toml) imported. No Telegram and no Bot API server.

The rules (who may do what, deadlines, routing, statistics) are tested here, by calling
the services as the handlers and the command line do; the paths a person takes are
tested end to end over HTTP (tests/conftest.py's `street`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.services import Services, build_services
from bot.settings import Settings
from storage import issues as issue_store
from storage.db import Database
from tests.conftest import DISTRICT, WEDNESDAY_MORNING

ADMIN = 3001
WORKER = 2001


@asynccontextmanager
async def open_office(tmp_path: Path, **overrides: Any) -> AsyncIterator[Services]:
    """The services of a street whose settings differ from the defaults by `overrides`,
    on the example district, at WEDNESDAY_MORNING by a ManualClock (`services.clock`)."""
    chosen: dict[str, Any] = {"admin_ids": [ADMIN], "weekly_stats": False, **overrides}
    settings = Settings(
        telegram_token="123:service-level",
        database=tmp_path / "whistle.db",
        _env_file=None,  # type: ignore[call-arg]
        **chosen,
    )
    async with Database(settings.database) as db:
        services = build_services(settings, ManualClock(WEDNESDAY_MORNING), db)
        await services.organisations.import_file(DISTRICT)
        await services.people.sync_settings_admins(settings.admin_ids)
        yield services


def clock(office: Services) -> ManualClock:
    assert isinstance(office.clock, ManualClock)
    return office.clock


async def drafted(
    office: Services,
    worker: int = WORKER,
    category: str = "sanitation",
    description: str = "垃圾桶满溢",
    urgent: bool = False,
) -> None:
    """A report by `worker` in their first grid, every step answered, ready to submit."""
    reports = office.reports
    await reports.begin(worker, worker)
    await reports.choose_category(worker, category)
    await reports.describe(worker, description)
    await reports.photos_done(worker)
    await reports.skip_location(worker)
    await reports.set_urgency(worker, urgent)


async def reported(
    office: Services,
    worker: int = WORKER,
    category: str = "sanitation",
    description: str = "垃圾桶满溢",
    urgent: bool = False,
) -> int:
    """A report by `worker` in their first grid, submitted: its number."""
    await drafted(office, worker, category, description, urgent)
    return (await office.issues.submit(worker)).id


async def taken(office: Services, worker: int = WORKER) -> tuple[int, int]:
    """A report by `worker`, taken (报到) by the member it went to: (number, member)."""
    number = await reported(office, worker)
    issue = await issue_store.get_issue(office.db.reader, number)
    assert issue is not None and issue.assignee_id is not None
    await office.issues.acknowledge(issue.assignee_id, number)
    return number, issue.assignee_id


def rows(office: Services, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(office.settings.database)) as conn:
        return list(conn.execute(sql, params))


def dump(office: Services) -> list[str]:
    """Every row of every table: 'nothing changed' is checked on all of it."""
    tables = [r[0] for r in rows(office, "SELECT name FROM sqlite_master WHERE type='table'")]
    return [f"{t}: {row}" for t in sorted(tables) for row in rows(office, f"SELECT * FROM {t}")]


@dataclass(frozen=True)
class Queued:
    """A message or photo queued for a chat: its text (or caption) and its buttons' labels."""

    text: str
    buttons: frozenset[str]


def queued(office: Services, chat_id: int) -> list[Queued]:
    """The messages queued for `chat_id`, oldest first (a photo's caption as its text): what
    the person will be sent (the outbox delivers them; its own tests show it delivers each
    once)."""
    found = rows(
        office,
        "SELECT payload FROM outbox WHERE chat_id = ? AND method IN ('sendMessage', 'sendPhoto')"
        " ORDER BY id",
        chat_id,
    )
    messages = []
    for (payload,) in found:
        body = json.loads(payload)
        if "text" not in body and "caption" not in body:
            continue
        keyboard = body.get("reply_markup", {}).get("inline_keyboard", [])
        labels = frozenset(button["text"] for row in keyboard for button in row)
        messages.append(Queued(body.get("text", body.get("caption", "")), labels))
    return messages


def queued_texts(office: Services, chat_id: int, contains: str = "") -> list[str]:
    """The texts of the messages queued for `chat_id` that contain `contains`."""
    return [m.text for m in queued(office, chat_id) if contains in m.text]


async def no_chart(*args: object) -> bytes:
    """Stands in for the chart's child process where a test is about the figures."""
    return b"\x89PNG"
