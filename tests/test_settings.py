"""Settings as a street office's IT person meets them: `.env.example` copied unchanged,
typos, and a proxy between the bot and the Bot API."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
from pathlib import Path

import pytest

from bot.app import ConfigurationError, Whistle, request_objects
from bot.clock import ManualClock
from bot.settings import Settings, SettingsError, load_settings
from tests.cli import whistle
from tests.conftest import WEDNESDAY_MORNING, Street, make_settings, open_street
from tests.socks_proxy import SocksProxy
from whistle_testing import LoopbackBotApi

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_copied_unchanged_works_for_org_check(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    shutil.copy(ROOT / "bot" / "data" / "district.toml", tmp_path / "district.toml")
    result = whistle(tmp_path, "org", "check", "district.toml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_an_empty_value_means_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ORG_FILE", "TELEGRAM_FILE_URL", "ADMIN_IDS", "PROXY", "TIMEZONE"):
        monkeypatch.setenv(f"WHISTLE_{name}", "")
    settings = load_settings()
    assert settings.org_file is None
    assert settings.telegram_file_url is None
    assert settings.admin_ids == []
    assert settings.proxy is None
    assert settings.timezone is None  # the organisation file's zone is the street's


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ADMIN_IDS", "abc", "WHISTLE_ADMIN_IDS=3001,3002"),
        ("ADMIN_IDS", "3001,-5", "WHISTLE_ADMIN_IDS=3001,3002"),
        ("TIMEZONE", "Beijing", "WHISTLE_TIMEZONE=Asia/Shanghai"),
        ("LANGUAGE", "cn", "WHISTLE_LANGUAGE=zh"),
        ("STATS_TIME", "9 am", "WHISTLE_STATS_TIME=09:00"),
        ("MAX_PHOTOS", "50", "WHISTLE_MAX_PHOTOS=10"),
        ("LOG_LEVEL", "LOUD", "WHISTLE_LOG_LEVEL=INFO"),
        ("TELEGRAM_API_URL", "api.telegram.org/bot", "WHISTLE_TELEGRAM_API_URL=https://"),
        ("PROXY", "127.0.0.1:1080", "WHISTLE_PROXY=socks5://"),
        ("PROXY", "socks5://127.0.0.1:port", "WHISTLE_PROXY=socks5://"),
        ("WEEKLY_STATS", "maybe", "WHISTLE_WEEKLY_STATS=true"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it_with_an_example(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    result = whistle(tmp_path, "stats", env={f"WHISTLE_{name}": value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"WHISTLE_{name}" in lines[0] and says in lines[0]
    assert "Traceback" not in result.stderr


def test_a_proxy_password_is_not_shown_in_the_error(tmp_path: Path) -> None:
    result = whistle(tmp_path, "stats", env={"WHISTLE_PROXY": "ftp://user:hunter2@proxy:21"})
    assert result.returncode == 2
    assert "hunter2" not in result.stderr


def test_run_without_a_token_says_so_in_one_line(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = whistle(tmp_path, "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "whistle: WHISTLE_TELEGRAM_TOKEN is not set (`whistle run` needs it); for example "
        "WHISTLE_TELEGRAM_TOKEN=123456789:AAE-your-token-from-BotFather"
    ]


def test_two_problems_are_two_lines() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, admin_ids="x", timezone="Mars/Olympus")
    assert len(raised.value.problems) == 2


def test_aiohttp_refuses_a_socks_proxy_at_start() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, proxy="socks5://127.0.0.1:1080", bot_api_client="aiohttp"
    )
    with pytest.raises(ConfigurationError, match="WHISTLE_BOT_API_CLIENT=httpx"):
        request_objects(settings)


async def test_every_bot_api_call_goes_through_a_socks5_proxy_with_credentials(
    tmp_path: Path, district_file: Path
) -> None:
    proxy = SocksProxy("street", "s3cret")
    await proxy.start()
    try:
        # The Bot API's host name is known only to the proxy: a call that did not go
        # through it could not reach the server at all.
        api_url = "http://bot-api.invalid:{port}/bot"
        async with open_street(
            tmp_path, district_file, proxy=proxy.url, telegram_api_url=api_url
        ) as street:
            await _report_round_trip(street)
            # The worker's /help reached the bot by getUpdates and its answer went out by
            # sendMessage: both through the proxy, or they could not have arrived.
            assert {host for host, _ in proxy.tunnels} == {"bot-api.invalid"}
    finally:
        await proxy.stop()


async def _report_round_trip(street: Street) -> None:
    worker = street.person(2001)
    mark = worker.mark()
    await worker.send("/help")
    await worker.expect("/report", mark)


async def test_the_bot_waits_for_an_unreachable_bot_api_and_starts_when_it_answers(
    tmp_path: Path,
    district_file: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.app.START_RETRY_SECONDS", (0.2,))
    api = LoopbackBotApi()
    with socket.socket() as probe:  # a port where nothing listens yet
        probe.bind(("127.0.0.1", 0))
        api.port = probe.getsockname()[1]
    settings = make_settings(api, tmp_path / "whistle.db", district_file)
    whistle = Whistle(settings, ManualClock(WEDNESDAY_MORNING))
    starting = asyncio.create_task(whistle.start())
    try:
        async with asyncio.timeout(10):
            while sum("cannot reach the Bot API" in r.getMessage() for r in caplog.records) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert not starting.done()
        warnings = [r for r in caplog.records if "cannot reach the Bot API" in r.getMessage()]
        assert all(r.levelno == logging.WARNING for r in warnings)
        await api.start()
        async with asyncio.timeout(10):
            await starting
        api.user(2001, "网格员")
        worker = api.user(2001, "网格员")
        mark = worker.mark()
        await worker.send("/help")
        await worker.expect("/report", mark)
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await whistle.stop()
        await api.stop()


BERLIN = (
    (ROOT / "bot" / "data" / "district.toml")
    .read_text(encoding="utf-8")
    .replace('timezone = "Asia/Shanghai"', 'timezone = "Europe/Berlin"')
)


def test_the_organisation_files_zone_is_the_streets_without_the_setting(tmp_path: Path) -> None:
    (tmp_path / "berlin.toml").write_text(BERLIN, encoding="utf-8")
    env = {"WHISTLE_DATABASE": str(tmp_path / "w.db")}
    imported = whistle(tmp_path, "org", "import", "berlin.toml", env=env)
    assert imported.returncode == 0, imported.stderr
    shown = whistle(tmp_path, "stats", "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert '"starts": "' in shown.stdout and "+01:00" in shown.stdout  # Berlin in winter


def test_an_import_in_another_zone_than_the_stored_one_is_refused(tmp_path: Path) -> None:
    shutil.copy(ROOT / "bot" / "data" / "district.toml", tmp_path / "district.toml")
    (tmp_path / "berlin.toml").write_text(BERLIN, encoding="utf-8")
    env = {"WHISTLE_DATABASE": str(tmp_path / "w.db")}
    assert whistle(tmp_path, "org", "import", "district.toml", env=env).returncode == 0
    refused = whistle(tmp_path, "org", "import", "berlin.toml", env=env)
    assert refused.returncode == 1
    assert "'Europe/Berlin' differs" in refused.stderr and "Asia/Shanghai" in refused.stderr
    # Set on purpose, the new zone is taken.
    moved = whistle(
        tmp_path, "org", "import", "berlin.toml", env={**env, "WHISTLE_TIMEZONE": "Europe/Berlin"}
    )
    assert moved.returncode == 0, moved.stderr
