"""Shared fixtures: the loopback Bot API server, a running Whistle against it, and the
people of the example district (bot/data/district.toml)."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Whistle
from bot.clock import ManualClock
from bot.records import IssueRecord
from bot.services import Services
from bot.settings import Settings
from storage import alerts as alert_store
from storage import issues as issue_store
from whistle_testing import LoopbackBotApi, SimulatedUser
from whistle_testing.demo import PEOPLE

DISTRICT = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"
# Wednesday 2026-11-25 10:00 in Asia/Shanghai: weekday day shift of the roster.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

# aiosqlite logs every operation at DEBUG from its worker thread, which may still be
# finishing one as a test's log capture closes ("--- Logging error ---" noise); the bot
# keeps it at INFO too (bot/logs.py QUIETED).
logging.getLogger("aiosqlite").setLevel(logging.INFO)


@pytest.fixture
def district_file(tmp_path: Path) -> Path:
    target = tmp_path / "district.toml"
    shutil.copy(DISTRICT, target)
    return target


def make_settings(
    api: LoopbackBotApi, database: Path, org_file: Path | None, **overrides: Any
) -> Settings:
    api_url = str(overrides.pop("telegram_api_url", api.base_url)).format(port=api.port)
    chosen: dict[str, Any] = {
        "admin_ids": [3001],
        "poll_timeout_seconds": 2,
        "weekly_stats": False,
        "send_rate_private_chat": 100,
        "send_rate_group_per_minute": 6000,
        "send_rate_overall": 1000,
        **overrides,
    }
    return Settings(
        telegram_token=api.token,
        telegram_api_url=api_url,
        telegram_file_url=api.file_url,
        database=database,
        org_file=org_file,
        _env_file=None,  # type: ignore[call-arg]
        **chosen,
    )


@dataclass
class Street:
    """A running Whistle on the example district, and its people on the loopback server."""

    api: LoopbackBotApi
    whistle: Whistle
    clock: ManualClock
    settings: Settings

    def person(self, user_id: int, name: str | None = None) -> SimulatedUser:
        return self.api.user(user_id, name or f"U{user_id}")

    async def restart(self) -> None:
        await self.whistle.stop()
        self.whistle = Whistle(self.settings, self.clock)
        await self.whistle.start()

    async def settle(self) -> None:
        """Wait until the outbox has delivered everything that is due."""
        assert self.whistle.sender is not None
        async with asyncio.timeout(10):
            await self.whistle.sender.wait_idle()

    def dump(self) -> list[str]:
        """Every committed row of the database, for 'nothing changed' checks."""
        with closing(sqlite3.connect(self.settings.database)) as conn:
            return list(conn.iterdump())

    async def resolve(self, member: SimulatedUser, number: int, note: str) -> None:
        """The member in charge taps 办结 on the issue's card, writes `note`, skips the
        photos, and is told it is done."""
        mark = member.mark()
        await member.tap(await member.expect(f"#{number}", button="办结"), "办结")
        await member.expect("办结说明", mark)
        await member.send(note)
        await member.tap(await member.expect("处置后照片", mark), "跳过")
        await member.expect(f"已办结 #{number}", mark)

    async def issue(self, number: int) -> IssueRecord:
        """The issue as stored now (it must exist)."""
        found = await issue_store.get_issue(self.whistle.db.reader, number)
        assert found is not None
        return found

    async def take(self, worker: SimulatedUser, **report: Any) -> tuple[int, SimulatedUser]:
        """A report by `worker` (`blow_whistle`'s arguments), taken (报到) by the member it
        went to: its number and that member."""
        number = await self.blow_whistle(worker, **report)
        issue = await self.issue(number)
        assert issue.assignee_id is not None
        member = self.person(issue.assignee_id)
        card = await member.expect(f"#{number}", button="报到")
        await member.answer_to(await member.tap(card, "报到"))
        await self.settle()
        return number, member

    async def pending_alerts(self, number: int) -> list[tuple[str, str, int]]:
        """The issue's alerts still to fire, each as (kind, step, due at), soonest first."""
        far = int((WEDNESDAY_MORNING + timedelta(days=800)).timestamp())
        due = await alert_store.due(self.whistle.db.reader, far, 100)
        return [(a.kind.value, a.step.value, a.due_at) for a in due if a.issue_id == number]

    async def open_report(self, worker: SimulatedUser, category: str = "环境卫生") -> None:
        """/report, and the category chosen: the worker is asked for the description."""
        mark = worker.mark()
        await worker.send("/report")
        await worker.tap(await worker.expect("请选择问题类别", mark), category)
        await worker.expect("请用文字描述问题", mark)

    async def blow_whistle(
        self,
        worker: SimulatedUser,
        category: str = "环境卫生",
        description: str = "垃圾桶满溢，气味很大",
        *,
        photos: int = 0,
        location: tuple[float, float] | None = None,
        address: str | None = None,
        urgent: bool = False,
    ) -> int:
        """Drive a whole report conversation; returns the new issue's number."""
        mark = worker.mark()
        await self.open_report(worker, category)
        await worker.send(description)
        prompt = await worker.expect("请发送现场照片", mark)
        for n in range(photos):
            await worker.send_photo()
            prompt = await worker.expect(f"已收到 {n + 1} 张照片", mark)
        await worker.tap(prompt, "完成" if photos else "跳过")
        prompt = await worker.expect("请发送位置", mark)
        if location is not None:
            await worker.send_location(*location)
        elif address is not None:
            await worker.send(address)
        else:
            await worker.tap(prompt, "跳过")
        await worker.tap(await worker.expect("紧急程度", mark), "紧急" if urgent else "一般")
        await worker.tap(await worker.expect("请核对", mark), "提交")
        receipt = await worker.expect("已上报", mark)
        number = re.search(r"#(\d+)", receipt.text)
        assert number is not None
        return int(number.group(1))


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[Services]:
    """The services alone on the example district, no Bot API server (tests/office.py)."""
    from tests.office import open_office

    async with open_office(tmp_path) as services:
        yield services


@pytest.fixture
async def street(tmp_path: Path, district_file: Path) -> AsyncIterator[Street]:
    async with open_street(tmp_path, district_file) as town:
        yield town


@asynccontextmanager
async def open_street(
    tmp_path: Path, district_file: Path, **overrides: Any
) -> AsyncIterator[Street]:
    """A started street whose settings differ from the defaults by `overrides` (in a
    `telegram_api_url`, `{port}` stands for the loopback server's port)."""
    api = LoopbackBotApi()
    await api.start()
    for chat_id, title in (
        (-1001000000001, "城管群"),
        (-1001000000002, "住建群"),
        (-1001000000004, "应急群"),
    ):
        api.group(chat_id, title)
    for user_id, name in PEOPLE.items():
        api.user(user_id, name)
    clock = ManualClock(WEDNESDAY_MORNING)
    settings = make_settings(api, tmp_path / "whistle.db", district_file, **overrides)
    whistle = Whistle(settings, clock)
    try:
        await whistle.start()
    except BaseException:
        await whistle.stop()
        await api.stop()
        raise
    town = Street(api, whistle, clock, settings)
    try:
        yield town
    finally:
        await town.whistle.stop()
        await api.stop()
