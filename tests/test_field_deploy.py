"""Deploying Whistle like a service: webhook mode end to end over HTTP, /healthz and
/metrics, JSON logs, `whistle doctor`, the first start and stopping, deploy/ files."""

from __future__ import annotations

import logging
import socket
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import WEBHOOK_SECRET, Whistle
from bot.doctor import examine
from bot.settings import load_settings
from storage.install import install_value
from tests.cli import whistle
from tests.conftest import Street, open_street
from whistle_testing import Fault


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_settings(port: int) -> dict[str, str]:
    return {
        "webhook_url": f"http://127.0.0.1:{port}/telegram",
        "webhook_listen": f"127.0.0.1:{port}",
    }


async def kept_secret(street: Street) -> str | None:
    return await install_value(street.whistle.db.reader, WEBHOOK_SECRET)


# --- webhook mode -------------------------------------------------------------------------


async def test_webhook_mode_handles_a_whole_report_over_http(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, **webhook_settings(port)) as street:
        hook = street.api.webhook
        assert hook is not None and hook.url == f"http://127.0.0.1:{port}/telegram"
        secret = await kept_secret(street)
        assert secret and hook.secret == secret
        worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
        number = await street.blow_whistle(worker)
        card = await member.expect(f"#{number}", button="报到")
        await member.tap(card, "报到")
        await worker.expect("已报到")
        assert hook.delivered >= 8 and hook.refused == 0
        # No getUpdates while the webhook is set: every update came by POST.
        assert not [c for c in street.api.calls if c.method == "getUpdates"]


async def test_the_webhook_refuses_a_request_without_the_secret(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, **webhook_settings(port)) as street:
        url = f"http://127.0.0.1:{port}/telegram"
        update = {"update_id": 999, "message": {"message_id": 1, "date": 0, "text": "/help"}}
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=update)
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert missing.status_code == 403 and wrong.status_code == 403
        assert street.whistle.metrics.updates._value.get() == 0


async def test_the_secret_is_kept_across_restarts_and_polling_deletes_the_webhook(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, **webhook_settings(port)) as street:
        first = await kept_secret(street)
        await street.restart()
        assert await kept_secret(street) == first
        assert street.api.webhook is not None and street.api.webhook.secret == first
        # Back to polling: the webhook is deleted and updates arrive by getUpdates.
        await street.whistle.stop()
        polling = street.settings.model_copy(update={"webhook_url": None, "webhook_listen": None})
        street.whistle = Whistle(polling, street.clock)
        await street.whistle.start()
        assert street.api.webhook is None
        assert any(c.method == "deleteWebhook" for c in street.api.calls)
        person = street.person(2001, "王芳")
        mark = person.mark()
        await person.send("/help")
        await person.expect("/report", mark)


# --- health and metrics ------------------------------------------------------------------


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def test_healthz_answers_200_while_polling_and_503_when_getupdates_fails(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, http_listen=f"127.0.0.1:{port}") as street:
        await street.api.wait_for(lambda: street.whistle.metrics.last_poll is not None)
        healthy = await get(port, "/healthz")
        assert healthy.status_code == 200, healthy.text
        street.api.faults = lambda method, params: Fault(500) if method == "getUpdates" else None
        street.clock.advance(timedelta(minutes=10))
        sick = await get(port, "/healthz")
        assert sick.status_code == 503
        assert sick.text.startswith("not receiving updates: getUpdates last answered")
        assert sick.text.count("\n") == 1


async def test_healthz_503_when_the_outbox_does_not_drain(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, http_listen=f"127.0.0.1:{port}") as street:
        await street.api.wait_for(lambda: street.whistle.metrics.last_poll is not None)
        # The member's chat fails: the push to them stays in the outbox, retried.
        street.api.faults = lambda method, params: (
            Fault(500) if str(params.get("chat_id")) == "1002" else None
        )
        await street.blow_whistle(street.person(2001, "王芳"))
        await street.api.wait_for(
            lambda: any(c.chat_id == 1002 and c.status == 500 for c in street.api.calls)
        )
        street.clock.advance(timedelta(minutes=20))
        street.whistle.metrics.last_poll = street.clock.now().timestamp()
        sick = await get(port, "/healthz")
        assert sick.status_code == 503 and sick.text.startswith("outbox not draining:")


async def test_metrics_parse_and_count_what_happened(tmp_path: Path, district_file: Path) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, http_listen=f"127.0.0.1:{port}") as street:
        worker = street.person(2001, "王芳")
        refused_once: list[int] = []

        def one_429(method: str, params: dict[str, object]) -> Fault | None:
            to_member = method == "sendMessage" and str(params.get("chat_id")) == "1002"
            if to_member and not refused_once:
                refused_once.append(1)
                return Fault(429, retry_after=1)
            return None

        street.api.faults = one_429
        number = await street.blow_whistle(worker)
        await street.settle()
        # A day and more later: reminded, escalated to the head and the admins, overdue.
        street.clock.advance(timedelta(hours=25))
        await street.whistle.services.escalation.sweep()
        await street.settle()
        answer = await get(port, "/metrics")
        assert answer.status_code == 200
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }
        assert samples[("whistle_updates_handled_total", ())] == 7
        assert samples[("whistle_bot_api_calls_total", (("method", "getMe"), ("outcome", "200")))]
        assert samples[("whistle_bot_api_429_total", ())] == 1
        assert samples[
            ("whistle_bot_api_calls_total", (("method", "sendMessage"), ("outcome", "429")))
        ]
        assert samples[("whistle_outbox_depth", ())] == 0
        assert samples[("whistle_outbox_oldest_due_age_seconds", ())] == 0
        assert samples[("whistle_open_issues", (("state", "dispatched"),))] == 1
        assert samples[("whistle_open_issues", (("state", "acknowledged"),))] == 0
        assert samples[("whistle_overdue_issues", ())] == 1
        assert samples[("whistle_alerts_fired_total", (("kind", "ack_remind"),))] == 1
        assert samples[("whistle_alerts_fired_total", (("kind", "ack_head"),))] == 1
        assert number == 1


async def test_health_and_metrics_share_the_webhook_server(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    settings = {**webhook_settings(port), "http_listen": f"127.0.0.1:{port}"}
    async with open_street(tmp_path, district_file, **settings):
        assert (await get(port, "/healthz")).status_code == 200
        answer = await get(port, "/metrics")
        names = {family.name for family in text_string_to_metric_families(answer.text)}
        assert "whistle_open_issues" in names


# --- logs --------------------------------------------------------------------------------


def test_json_logs_are_one_object_per_line_with_the_token_redacted() -> None:
    import io
    import json
    import logging

    from bot.app import redact_in_logs
    from bot.logs import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("INFO", "json", stream)
        redact_in_logs("777:JSON-LOG-SECRET")
        logging.getLogger("whistle").info("calling https://x/bot777:JSON-LOG-SECRET/getMe")
        try:
            raise ValueError("boom 777:JSON-LOG-SECRET")
        except ValueError:
            logging.getLogger("whistle").exception("it failed")
        logging.getLogger("apscheduler.executors.default").info('Running job "deadlines"')
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["message"] for e in entries] == ["calling https://x/bot<token>/getMe", "it failed"]
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "whistle"
    assert "boom <token>" in entries[1]["traceback"]
    assert "JSON-LOG-SECRET" not in stream.getvalue()


async def test_a_group_that_is_gone_is_a_warning_not_an_error(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    street.api.never_seen.add(-1001000000001)  # the 城管 group
    await street.blow_whistle(street.person(2001, "王芳"))
    await street.settle()
    failed = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelname == "WARNING"  # once, not per card
    assert "chat not found" in failed[0].getMessage().lower()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- whistle doctor ----------------------------------------------------------------------


async def test_doctor_on_a_good_setup_names_the_bot_and_passes(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file) as street:
        async with street.whistle.db.write() as conn:
            await conn.execute("UPDATE person SET seen_at = 1")
        lines: list[str] = []
        code = await examine(street.settings, lines.append)
    assert code == 0, lines
    assert any("reached; the bot is @whistle_bot" in line for line in lines)
    assert any("integrity ok, migrations current" in line for line in lines)
    assert lines[-1].startswith("doctor: all good")


async def test_doctor_lists_who_never_opened_the_bot_and_fails(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file) as street:
        async with street.whistle.db.write() as conn:
            await conn.execute("UPDATE person SET seen_at = 1 WHERE user_id != 1002")
        lines: list[str] = []
        code = await examine(street.settings, lines.append)
    assert code == 1
    assert any("1 of" in line and "never opened a chat" in line for line in lines)
    listed = [line for line in lines if line.strip().endswith("1002")]
    assert listed and "member cg" in listed[0] and "张伟" in listed[0]
    assert lines[-1] == "doctor: 1 thing(s) to fix (the FIX lines above)"


async def test_doctor_on_a_broken_setup_says_what_to_fix(tmp_path: Path) -> None:
    broken = tmp_path / "district.toml"
    broken.write_text('timezone = "Asia/Shanghai"\n[[department]]\ncode = "cg"\n')
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings = load_settings(
        telegram_token="1:WRONG",
        telegram_api_url=f"http://127.0.0.1:{closed_port}/bot",
        database=tmp_path / "missing.db",
        org_file=broken,
        _env_file=None,
    )
    lines: list[str] = []
    code = await examine(settings, lines.append)
    assert code == 1
    fixes = [line for line in lines if line.startswith("FIX")]
    assert len(fixes) == 3, lines
    assert "missing.db does not exist" in fixes[0]
    assert "organisation file" in fixes[1] and "whistle org check" in fixes[1]
    assert "cannot reach the Bot API" in fixes[2]
    assert not (tmp_path / "missing.db").exists()
    assert "WRONG" not in "\n".join(lines)


# --- first start and stopping ------------------------------------------------------------


async def test_an_existing_install_takes_its_first_import_from_its_oldest_trace(
    tmp_path: Path,
) -> None:
    import sqlite3

    from storage.db import Database
    from storage.migrations import MIGRATIONS
    from storage.org import first_import

    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        for version, sql in MIGRATIONS:
            if version <= 10:
                conn.executescript(sql)
        conn.execute("PRAGMA user_version = 10")
        conn.execute("INSERT INTO person (user_id, name, created_at) VALUES (1001, 'x', 1)")
        conn.execute(
            "INSERT INTO role_grant (user_id, role, scope, source, granted_at) "
            "VALUES (1001, 'head', 'cg', 'org', 1700000000)"
        )
        conn.execute("INSERT INTO org_source (id, toml, imported_at) VALUES (1, '', 1760000000)")
        conn.commit()
    async with Database(path) as db:
        assert await first_import(db.reader) == 1700000000


async def test_stopping_while_the_chart_is_drawn_kills_it_and_the_next_start_sends_the_report(
    street: Street, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import os
    import sys

    from tests.conftest import WEDNESDAY_MORNING

    async with street.whistle.db.write() as tx:
        await tx.execute("UPDATE install_value SET value = '0' WHERE name = 'first_org_import'")
    street.clock.set(WEDNESDAY_MORNING - timedelta(days=7))
    await street.blow_whistle(street.person(2001), "环境卫生", "上周的问题")
    street.clock.set(WEDNESDAY_MORNING)
    started, pid_file = tmp_path / "chart-started", tmp_path / "chart-pid"
    slow_chart = tmp_path / "slow-chart"  # stands in for `python -m bot.chart_process`
    slow_chart.write_text(f"#!/bin/sh\ntouch {started}\necho $$ > {pid_file}\nexec sleep 600\n")
    slow_chart.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(slow_chart))
    street.settings = street.settings.model_copy(update={"weekly_stats": True})
    await street.restart()
    for _ in range(600):  # bounded: the start's statistics run begins after 1 s
        if started.exists():
            break
        await asyncio.sleep(0.05)
    assert started.exists()
    # A stop (what SIGTERM does) does not wait for the 600 s chart: bounded well below it.
    await asyncio.wait_for(street.whistle.stop(), 30)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)
    assert [c for c in street.api.calls if "2026 年第 47 周" in str(c.params.get("text", ""))] == []
    # The next start (a chart that draws) sends the report that was not sent.
    monkeypatch.undo()
    street.whistle = Whistle(street.settings, street.clock)
    await street.whistle.start()
    await street.person(3001).expect("2026 年第 47 周", timeout=60)


# --- README, deploy/ and the command line -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def readme_blocks(language: str) -> list[str]:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", readme, flags=re.DOTALL | re.MULTILINE)


def install_command() -> str:
    """The README's install command: its first shell line, up to the command it runs."""
    first = readme_blocks("sh")[0].strip()
    command = first.split(" && .venv/bin/whistle")[0]
    assert command.startswith("python3 -m venv .venv && ") and "pip install" in command
    return command


def test_the_dockerfile_and_the_systemd_unit_install_and_run_as_the_readme_says() -> None:
    command = install_command()
    docker = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    unit = (ROOT / "deploy" / "whistle.service").read_text(encoding="utf-8")
    assert f"RUN {command}\n" in docker
    assert 'CMD [".venv/bin/whistle", "run"]' in docker
    assert f"#   {command}\n" in unit
    assert "\nExecStart=/opt/whistle/.venv/bin/whistle run\n" in unit


def test_every_toml_block_in_the_readme_passes_org_check() -> None:
    from bot.organisation import parse_organisation

    blocks = readme_blocks("toml")
    assert blocks
    for block in blocks:
        parse_organisation(block)  # raises OrganisationInvalid listing every error


def test_every_command_and_argument_explains_itself_with_an_example() -> None:
    import argparse

    from bot.cli import _parser

    def check(parser: argparse.ArgumentParser, name: str) -> None:
        assert parser.epilog and "examples:" in parser.epilog, name
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    check(sub, f"{name} {sub_name}")
            elif not isinstance(action, argparse._HelpAction):
                assert action.help and "e.g." in action.help, (name, action.dest)

    check(_parser(), "whistle")


async def test_id_in_a_group_shows_the_group_and_a_stranger_sees_their_own(
    street: Street,
) -> None:
    group = -1001000000001
    admin = street.person(3001, "街道值班")
    before = len(street.api.chat(group))
    await admin.send("/id", chat_id=group)
    answer = await street.api.expect(group, "本群的 ID", before)
    assert str(group) in answer.text
    stranger = street.person(5555, "路人")
    await stranger.send("你好")
    refusal = await stranger.expect("仅供本街道")
    assert "5555" in refusal.text
    mark = stranger.mark()
    await stranger.send("/start")
    assert "5555" in (await stranger.expect("仅供本街道", mark)).text


# --- the new settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"WHISTLE_WEBHOOK_URL": "http://whistle.example.org/tg"},
            "WHISTLE_WEBHOOK_URL=https://",
        ),
        (
            {"WHISTLE_WEBHOOK_URL": "https://whistle.example.org/tg"},
            "WHISTLE_WEBHOOK_LISTEN is not set: webhook mode needs both",
        ),
        ({"WHISTLE_HTTP_LISTEN": "9100"}, "WHISTLE_HTTP_LISTEN=127.0.0.1:9100"),
        ({"WHISTLE_WEBHOOK_LISTEN": "127.0.0.1:http"}, "WHISTLE_WEBHOOK_LISTEN=127.0.0.1:8443"),
        ({"WHISTLE_LOG_FORMAT": "xml"}, "WHISTLE_LOG_FORMAT=json"),
    ],
)
def test_a_wrong_deploy_setting_is_one_line_with_an_example(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    result = whistle(tmp_path, "doctor", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_empty_deploy_settings_mean_polling_without_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WEBHOOK_URL", "WEBHOOK_LISTEN", "HTTP_LISTEN", "LOG_FORMAT"):
        monkeypatch.setenv(f"WHISTLE_{name}", "")
    settings = load_settings(_env_file=None)
    assert settings.webhook_url is None and settings.http_listen is None
    assert settings.log_format == "text"


async def test_doctor_says_when_telegram_cannot_deliver_to_the_webhook(
    tmp_path: Path, district_file: Path
) -> None:
    port = free_port()
    async with open_street(tmp_path, district_file, **webhook_settings(port)) as street:
        async with street.whistle.db.write() as conn:
            await conn.execute("UPDATE person SET seen_at = 1")
        lines: list[str] = []
        assert await examine(street.settings, lines.append) == 0, lines
        assert any("set, no delivery errors" in line for line in lines)
        await street.whistle.stop()  # the webhook stays set; nobody listens any more
        hook = street.api.webhook
        assert hook is not None
        await street.person(2001).send("/help")
        await street.api.wait_for(lambda: hook.refused > 0)
        lines.clear()
        assert await examine(street.settings, lines.append) == 1
        assert any("could not deliver to the webhook" in line for line in lines), lines
