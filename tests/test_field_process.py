"""The process around the bot: the token never printed, one bot per database, and odd files
(a database that is not SQLite, a missing folder, an organisation file from Notepad or with
ids SQLite cannot hold) answered with one line, at once.

The command-line tests run the real `whistle` (`python -m bot`) as subprocesses, against
the loopback Bot API server where the bot must talk to one; every process started here is
stopped here, and every wait is bounded."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from bot.organisation import OrganisationInvalid, load_organisation, parse_organisation
from tests.conftest import DISTRICT

TOKEN = "424242:SECRET-never-print-me"


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def closed_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_env(database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WHISTLE_DATABASE": str(database),
        "WHISTLE_TELEGRAM_TOKEN": TOKEN,
        "WHISTLE_TELEGRAM_API_URL": f"http://127.0.0.1:{closed_port()}/bot",
    }


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
    checked = run_cli(env, tmp_path, "org", "check", str(big))
    assert checked.returncode == 1
    assert f"line {line_of(district_text(), 'head = 1001')}: [[department]] #1 (cg) head" in (
        checked.stderr
    )
    imported = run_cli(env, tmp_path, "org", "import", str(big))
    assert imported.returncode == 1 and "Traceback" not in imported.stderr
    assert not (tmp_path / "w.db").exists(), "nothing is written for a refused file"

    notepad = tmp_path / "notepad.toml"
    notepad.write_bytes(b"\xef\xbb\xbf" + DISTRICT.read_bytes())
    assert run_cli(env, tmp_path, "org", "check", str(notepad)).returncode == 0
    imported = run_cli(env, tmp_path, "org", "import", str(notepad))
    assert imported.returncode == 0, imported.stderr
    assert "added: department cg" in imported.stdout
