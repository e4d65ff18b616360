"""Shared fixtures: the loopback Bot API server, a running Whistle against it, and the
people of the example district (bot/data/district.toml)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Whistle
from bot.clock import ManualClock
from bot.loopback import LoopbackBotApi, SimulatedUser
from bot.settings import Settings

DISTRICT = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"
# Wednesday 2026-11-25 10:00 in Asia/Shanghai: weekday day shift of the roster.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture
def district_file(tmp_path: Path) -> Path:
    target = tmp_path / "district.toml"
    shutil.copy(DISTRICT, target)
    return target


def make_settings(api: LoopbackBotApi, database: Path, org_file: Path | None) -> Settings:
    return Settings(
        telegram_token=api.token,
        telegram_api_url=api.base_url,
        telegram_file_url=api.file_url,
        database=database,
        org_file=org_file,
        admin_ids=[3001],
        poll_timeout_seconds=2,
        send_rate_private_chat=100,
        send_rate_group_per_minute=6000,
        send_rate_overall=1000,
        _env_file=None,  # type: ignore[call-arg]
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
        """Deliver everything the outbox holds now."""
        assert self.whistle.sender is not None
        await self.whistle.sender.drain()


@pytest.fixture
async def street(tmp_path: Path, district_file: Path) -> AsyncIterator[Street]:
    api = LoopbackBotApi()
    await api.start()
    for chat_id, title in ((-1001000000001, "城管群"), (-1001000000002, "住建群"),
                           (-1001000000004, "应急群")):
        api.group(chat_id, title)
    clock = ManualClock(WEDNESDAY_MORNING)
    settings = make_settings(api, tmp_path / "whistle.db", district_file)
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
