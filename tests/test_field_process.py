"""The process around the bot: the token never printed, one bot per database, and odd files
(a database that is not SQLite, a missing folder, an organisation file from Notepad or with
ids SQLite cannot hold) answered with one line, at once.

The command-line tests run the real `whistle` (`python -m bot`) as subprocesses, against
the loopback Bot API server where the bot must talk to one; every process started here is
stopped here, and every wait is bounded."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from bench.crash import bot_environment, street_server
from bot.organisation import OrganisationInvalid, load_organisation, parse_organisation
from tests import cli
from tests.conftest import DISTRICT
from whistle_testing import LoopbackBotApi, SimulatedUser

TOKEN = "424242:SECRET-never-print-me"
SECRET = "SECRET-never-print-me"


_numbers = itertools.count(1)


class Process:
    """A `whistle` subprocess, its output (stdout and stderr) going to a file; `stop()`
    ends it (SIGTERM, then SIGKILL) if it is still running."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> Process:
        log = cwd / f"whistle-{next(_numbers)}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                env=env,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def finish(self, seconds: float = 60) -> int:
        """Wait (bounded) for the process to exit by itself; its exit code."""
        try:
            return await asyncio.wait_for(self.process.wait(), seconds)
        finally:
            await self.stop()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


async def whistle(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """Run one command to its end (at most a minute); its exit code and all its output."""
    process = await Process.start(env, cwd, *args)
    code = await process.finish()
    return code, process.output


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


@asynccontextmanager
async def loopback() -> AsyncIterator[LoopbackBotApi]:
    api = await street_server()
    try:
        yield api
    finally:
        await api.stop()


async def answered(user: SimulatedUser) -> None:
    """The running bot answers this user (it has started and polls)."""
    mark = user.mark()
    await user.send("/start")
    await user.expect("欢迎", mark, timeout=60)


# --- the token never printed --------------------------------------------------------------


def closed_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("level", "client"), [("INFO", "httpx"), ("DEBUG", "httpx"), ("INFO", "aiohttp")]
)
@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        ("401", "the Bot API refused the token (401 Unauthorized): check WHISTLE_TELEGRAM_TOKEN"),
        ("404", "answered 404 Not Found: check WHISTLE_TELEGRAM_API_URL"),
    ],
)
async def test_a_refused_start_is_one_line_naming_the_cause_without_the_token(
    tmp_path: Path, answer: str, cause: str, level: str, client: str
) -> None:
    shutil.copy(DISTRICT, tmp_path / "district.toml")
    async with loopback() as api:
        env = bot_environment(api, tmp_path / "w.db", tmp_path / "district.toml")
        env["WHISTLE_TELEGRAM_TOKEN"] = TOKEN  # not the server's: it answers 401
        env["WHISTLE_LOG_LEVEL"] = level
        env["WHISTLE_BOT_API_CLIENT"] = client
        if answer == "404":
            env["WHISTLE_TELEGRAM_API_URL"] = f"http://127.0.0.1:{api.port}/no-such/bot"
        code, output = await whistle(env, tmp_path, "run")
    assert code != 0
    assert SECRET not in output and "424242" not in output
    assert "Traceback" not in output
    said = lines(output)
    assert cause in said[-1] and said[-1].startswith("whistle: ")
    if level == "INFO":
        assert said == said[-1:], output


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
async def test_an_unreachable_bot_api_is_waited_for_without_the_token_and_sigterm_stops_it(
    tmp_path: Path, client: str
) -> None:
    """No network at start is not a reason to exit: the bot says so once per attempt at
    WARNING (the cause, never the token) and keeps trying until it is stopped."""
    shutil.copy(DISTRICT, tmp_path / "district.toml")
    async with loopback() as api:
        env = bot_environment(api, tmp_path / "w.db", tmp_path / "district.toml")
    env["WHISTLE_TELEGRAM_TOKEN"] = TOKEN
    env["WHISTLE_BOT_API_CLIENT"] = client
    env["WHISTLE_TELEGRAM_API_URL"] = f"http://127.0.0.1:{closed_port()}/bot"
    process = await Process.start(env, tmp_path, "run")
    try:
        async with asyncio.timeout(30):
            while "attempt 2" not in process.output:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert process.process.returncode is None
        process.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.process.wait(), 20) == 0
    finally:
        await process.stop()
    output = process.output
    assert SECRET not in output and "424242" not in output and "Traceback" not in output
    warnings = [line for line in lines(output) if "cannot reach the Bot API" in line]
    assert len(warnings) >= 2 and all(" WARNING " in line for line in warnings)


def test_a_missing_token_or_an_invalid_organisation_file_stops_the_start_in_one_line(
    tmp_path: Path,
) -> None:
    org_file = tmp_path / "district.toml"
    org_file.write_text(
        DISTRICT.read_text(encoding="utf-8").replace("head = 1001", f"head = {2**64}"),
        encoding="utf-8",
    )
    env = cli_env(tmp_path / "w.db")
    env["WHISTLE_ORG_FILE"] = str(org_file)
    done = cli.whistle(tmp_path, "run", env=env)
    assert done.returncode == 2
    [said] = lines(done.stdout + done.stderr)
    assert said.startswith(f"whistle: WHISTLE_ORG_FILE {org_file}: 1 error(s), the first: line ")
    assert said.endswith(f"see them all with: whistle org check {org_file}")

    del env["WHISTLE_TELEGRAM_TOKEN"]
    done = cli.whistle(tmp_path, "run", env=env)
    assert done.returncode == 2
    [said] = lines(done.stdout + done.stderr)
    assert said.startswith("whistle: WHISTLE_TELEGRAM_TOKEN is not set")


# --- one bot per database -----------------------------------------------------------------


async def test_a_second_run_on_the_same_database_refuses_and_a_killed_one_leaves_no_lock(
    tmp_path: Path,
) -> None:
    shutil.copy(DISTRICT, tmp_path / "district.toml")
    async with loopback() as api:
        env = bot_environment(api, tmp_path / "w.db", tmp_path / "district.toml")
        worker = api.user(2001, "王芳")
        first = await Process.start(env, tmp_path, "run")
        later: Process | None = None
        try:
            await answered(worker)
            code, output = await whistle(env, tmp_path, "run")
            assert code != 0
            said = lines(output)
            assert len(said) == 1, output
            assert "already using" in said[0] and f"process {first.pid}" in said[0]
            assert "w.db" in said[0]

            await first.kill()
            later = await Process.start(env, tmp_path, "run")
            await answered(worker)
            assert later.process.returncode is None
        finally:
            await first.stop()
            if later is not None:
                await later.stop()
    assert later.process.returncode == 0, later.output  # SIGTERM: a clean stop


async def test_the_other_commands_work_beside_the_running_bot_which_sees_the_new_organisation(
    tmp_path: Path,
) -> None:
    """stats, backup, invite and org import do not take the bot's lock. An import while the
    bot runs is in the bot's next /report within seconds: the bot re-reads the stored
    organisation when its text changes (checked every two seconds)."""
    org_file = tmp_path / "district.toml"
    shutil.copy(DISTRICT, org_file)
    async with loopback() as api:
        env = bot_environment(api, tmp_path / "w.db", org_file)
        worker = api.user(2001, "王芳")
        bot = await Process.start(env, tmp_path, "run")
        try:
            await answered(worker)

            code, output = await whistle(env, tmp_path, "stats", "--format", "json")
            assert code == 0, output
            assert isinstance(json.loads(output), dict)

            code, output = await whistle(env, tmp_path, "backup", str(tmp_path / "copy.db"))
            assert code == 0, output
            with closing(sqlite3.connect(tmp_path / "copy.db")) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

            code, output = await whistle(env, tmp_path, "invite", "worker", "--grid", "G03")
            assert code == 0, output
            invite = output.split()[0]
            newcomer = api.user(2999, "新网格员")
            await newcomer.send(f"/start {invite}")
            await newcomer.expect("已加入", timeout=30)

            with org_file.open("a", encoding="utf-8") as more:
                more.write(
                    '\n[[category]]\ncode = "new_kind"\nname = "新增类别"\ndepartment = "cg"\n'
                    "ack_minutes = 30\nresolve_hours = 24\n"
                )
            code, output = await whistle(env, tmp_path, "org", "import", str(org_file))
            assert code == 0 and "added: category new_kind" in output, output

            for _ in range(40):
                mark = worker.mark()
                await worker.send("/report")
                prompt = await worker.expect("请选择问题类别", mark, timeout=30)
                if any(label == "新增类别" for label, _ in prompt.buttons()):
                    break
                await worker.send("/cancel")
                await worker.expect("已取消", mark, timeout=30)
                await asyncio.sleep(0.5)
            else:
                pytest.fail("the running bot never offered the imported category")
            assert bot.process.returncode is None
        finally:
            await bot.stop()
    assert bot.process.returncode == 0


# --- odd files: the database --------------------------------------------------------------


COMMANDS: list[list[str]] = [
    ["run"],
    ["stats"],
    ["backup", "copy.db"],
    ["invite", "worker", "--grid", "G01"],
    ["org", "import", str(DISTRICT)],
]


def cli_env(database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WHISTLE_DATABASE": str(database),
        "WHISTLE_TELEGRAM_TOKEN": TOKEN,
        "WHISTLE_TELEGRAM_API_URL": f"http://127.0.0.1:{closed_port()}/bot",
    }


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_database_that_is_not_sqlite_or_in_no_folder_is_one_line_at_once(
    tmp_path: Path, command: list[str]
) -> None:
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("会议记录：这不是数据库。\n" * 20, encoding="utf-8")
    for database, problem in (
        (not_sqlite, f"{not_sqlite} is not a SQLite database"),
        (tmp_path / "missing" / "whistle.db", f"the folder {tmp_path / 'missing'} does not exist"),
    ):
        done = cli.whistle(tmp_path, *command, env=cli_env(database))
        assert done.returncode == 1, done.stderr
        said = lines(done.stderr)
        assert len(said) == 1 and said[0].startswith(f"whistle: {problem}"), done.stderr
        assert done.stdout == ""
    assert not_sqlite.read_text(encoding="utf-8").startswith("会议记录")
    assert not (tmp_path / "missing").exists()


def test_the_demo_on_a_kept_folder_with_a_database_that_is_not_sqlite_says_so(
    tmp_path: Path,
) -> None:
    (tmp_path / "whistle.db").write_bytes(b"not a database at all\n" * 10)
    done = cli.whistle(
        tmp_path, "demo", "--keep", str(tmp_path), env=cli_env(tmp_path / "unused.db")
    )
    assert done.returncode == 1
    assert lines(done.stderr) == [
        f"whistle: {tmp_path / 'whistle.db'} was not made by the demo: give --keep an empty "
        "folder, or the folder of an earlier demo run (its database is replaced)"
    ]
    assert "Traceback" not in done.stdout
    assert (tmp_path / "whistle.db").read_bytes() == b"not a database at all\n" * 10


# --- odd files: the organisation ----------------------------------------------------------


def district_text() -> str:
    return DISTRICT.read_text(encoding="utf-8")


def errors_of(text: str) -> list[str]:
    with pytest.raises(OrganisationInvalid) as invalid:
        parse_organisation(text)
    return [str(e) for e in invalid.value.errors]


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_an_organisation_file_saved_by_notepad_with_a_bom_is_read(tmp_path: Path) -> None:
    saved = tmp_path / "district.toml"
    saved.write_bytes(b"\xef\xbb\xbf" + DISTRICT.read_bytes())
    assert len(load_organisation(saved).departments) == 8


def test_errors_in_people_carry_their_line() -> None:
    text = (
        district_text()
        .replace('1003 = "刘洋"', '1003 = ""')
        .replace('1004 = "赵磊"', '-1004 = "赵磊"')
        .replace('1101 = "黄勇"', '"abc" = "黄勇"')
    )
    assert errors_of(text) == [
        f"line {line_of(text, '1003 = ')}: [people] 1003: String should have at least 1 character",
        f"line {line_of(text, '-1004 = ')}: [people] -1004 (the key): Input should be greater "
        "than 0",
        f"line {line_of(text, 'abc')}: [people] abc (the key): Input should be a valid integer, "
        "unable to parse string as an integer",
    ]


TOO_BIG = 2**63


def test_ids_sqlite_cannot_hold_are_errors_of_the_file() -> None:
    text = (
        district_text()
        .replace("head = 1001", f"head = {TOO_BIG}")
        .replace("group_chat = -1001000000001", f"group_chat = {-TOO_BIG - 1}")
        .replace('2009 = "周芳"', f'{TOO_BIG} = "周芳"')
        .replace("workers = [2001, 2002]", f"workers = [2001, {TOO_BIG * 10}]")
        .replace("members = [1102, 1103]", "members = [1102, -1103]")
    )
    text = text.replace(
        'timezone = "Asia/Shanghai"', f'timezone = "Asia/Shanghai"\nadmins = [{TOO_BIG}]'
    )
    errors = errors_of(text)
    assert len(errors) == 6, errors
    for fragment in (
        f"head = {TOO_BIG}",
        "group_chat = -",
        f"{TOO_BIG} = ",
        "workers = [2001,",
        "members = [1102, -1103]",
        "admins = [",
    ):
        assert any(e.startswith(f"line {line_of(text, fragment)}: ") for e in errors), fragment
    assert sum("less than or equal to 9223372036854775807" in e for e in errors) == 4
    assert any("greater than or equal to -9223372036854775808" in e for e in errors)
    assert any("greater than 0" in e for e in errors)


def test_a_duplicate_department_code_is_one_error() -> None:
    text = district_text()
    duplicate = (
        '\n[[department]]\ncode = "cg"\nname = "城管执法中队（重复）"\nhead = 1601\n'
        "members = [1602]\n"
    )
    at = text.index("[[category]]")
    text = text[:at] + duplicate.lstrip("\n") + "\n" + text[at:]
    errors = errors_of(text)
    assert errors == [
        f"line {line_of(text, '城管执法中队（重复）') - 1}: [[department]] #9 (cg) code: "
        "duplicate code 'cg'"
    ]


def test_an_organisation_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    saved = tmp_path / "district.toml"
    saved.write_bytes(
        'timezone = "Asia/Shanghai"\r\n\r\n[people]\r\n1001 = "马军"\r\n'.encode("gbk")
    )
    with pytest.raises(OrganisationInvalid) as invalid:
        load_organisation(saved)
    [error] = invalid.value.errors
    assert error.line == 4
    assert "not UTF-8" in error.message


def test_org_check_refuses_what_org_import_could_not_store_and_a_bom_is_imported(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path / "w.db")
    big = tmp_path / "big.toml"
    big.write_text(district_text().replace("head = 1001", f"head = {TOO_BIG}"), encoding="utf-8")
    checked = cli.whistle(tmp_path, "org", "check", str(big), env=env)
    assert checked.returncode == 1
    assert f"line {line_of(district_text(), 'head = 1001')}: [[department]] #1 (cg) head" in (
        checked.stderr
    )
    imported = cli.whistle(tmp_path, "org", "import", str(big), env=env)
    assert imported.returncode == 1 and "Traceback" not in imported.stderr
    assert not (tmp_path / "w.db").exists(), "nothing is written for a refused file"

    notepad = tmp_path / "notepad.toml"
    notepad.write_bytes(b"\xef\xbb\xbf" + DISTRICT.read_bytes())
    assert cli.whistle(tmp_path, "org", "check", str(notepad), env=env).returncode == 0
    imported = cli.whistle(tmp_path, "org", "import", str(notepad), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "added: department cg" in imported.stdout


def test_org_import_refuses_a_time_zone_other_than_the_bots(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "w.db")
    berlin = tmp_path / "berlin.toml"
    berlin.write_text(
        district_text().replace('timezone = "Asia/Shanghai"', 'timezone = "Europe/Berlin"'),
        encoding="utf-8",
    )
    env["WHISTLE_TIMEZONE"] = "Asia/Shanghai"
    imported = cli.whistle(tmp_path, "org", "import", str(berlin), env=env)
    assert imported.returncode == 1
    assert lines(imported.stderr) == [
        f"{berlin}: 1 error(s)",
        "  line 8: timezone: 'Europe/Berlin' differs from WHISTLE_TIMEZONE 'Asia/Shanghai'; "
        "set both to the same zone (nothing was imported)",
    ]
    assert not (tmp_path / "w.db").exists()
    env["WHISTLE_TIMEZONE"] = "Europe/Berlin"
    assert cli.whistle(tmp_path, "org", "import", str(berlin), env=env).returncode == 0
