"""The organisation file: every kind of error is reported with its place, and import is
idempotent and retires instead of deleting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from bot.app import ConfigurationError
from bot.clock import ManualClock
from bot.organisation import OrganisationInvalid, parse_organisation
from bot.services.languages import Languages
from bot.services.organisation import OrganisationService
from bot.services.people import PeopleService
from storage import people as people_store
from storage.db import Database, fetch_all
from tests.conftest import DISTRICT, WEDNESDAY_MORNING, open_street

BASE = """
timezone = "Asia/Shanghai"

[[department]]
code = "cg"
name = "城管"
head = 1001
members = [1002]

[[category]]
code = "sanitation"
name = "环境卫生"
department = "cg"
ack_minutes = 30
resolve_hours = 24

[[grid]]
code = "G01"
name = "一网格"
workers = [2001]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(OrganisationInvalid) as invalid:
        parse_organisation(text)
    return [str(e) for e in invalid.value.errors]


def test_the_example_district_is_valid() -> None:
    org = parse_organisation(DISTRICT.read_text(encoding="utf-8"))
    assert (len(org.departments), len(org.categories), len(org.grids), len(org.shifts)) == (
        8,
        18,
        6,
        5,
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'),
            "line 2: timezone: Value error, unknown time zone 'Mars/Olympus'",
        ),
        (('code = "cg"', 'code = "c g"'), "line 5: [[department]] #1 (c g) code: String"),
        (
            ("head = 1001", "head = -5"),
            "line 7: [[department]] #1 (cg) head: Input should be greater",
        ),
        (("members = [1002]", 'members = ["x"]'), "line 8: [[department]] #1 (cg) members.0:"),
        (
            ("ack_minutes = 30", "ack_minutes = 0"),
            "line 14: [[category]] #1 (sanitation) ack_minutes",
        ),
        (
            ("resolve_hours = 24", 'resolve_hours = "soon"'),
            "line 15: [[category]] #1 (sanitation) resolve_hours",
        ),
        (
            ("workers = [2001]", 'workers = [2001]\ncolour = "red"'),
            "line 21: [[grid]] #1 (G01) colour: Extra inputs are not permitted",
        ),
        (('name = "一网格"', 'name = ""'), "line 19: [[grid]] #1 (G01) name: String should"),
    ],
)
def test_shape_errors_name_their_line_and_key(change: tuple[str, str], expected: str) -> None:
    errors = errors_of(BASE.replace(*change))
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[[category]]\ncode = "noise"\nname = "噪音"\ndepartment = "hb"\n'
            "ack_minutes = 10\nresolve_hours = 1\n",
            "department: unknown department 'hb'",
        ),
        ('[[department]]\ncode = "cg"\nname = "again"\nhead = 5\n', "code: duplicate code 'cg'"),
        (
            '[[duty]]\ndepartment = "cg"\nmember = 4242\ndays = "mon-fri"\nhours = "08:00-18:00"\n',
            "member: 4242 is not on the roster of department 'cg'",
        ),
        (
            '[[duty]]\ndepartment = "cg"\nmember = 1002\ndays = "weekdays"\n'
            'hours = "08:00-18:00"\n',
            "days: Value error, days must look like",
        ),
        (
            '[[duty]]\ndepartment = "cg"\nmember = 1002\ndays = "mon"\nhours = "8-18"\n',
            "hours: Value error, hours must look like",
        ),
        (
            '[[duty]]\ndepartment = "cg"\nmember = 1002\ndays = "mon"\nhours = "08:00-08:00"\n',
            "hours: Value error, '08:00-08:00' is an empty span",
        ),
        (
            '[[duty]]\ndepartment = "xx"\nmember = 1002\ndays = "mon"\nhours = "08:00-09:00"\n',
            "department: unknown department 'xx'",
        ),
        (
            '[[category]]\ncode = "gas"\nname = "燃气"\ndepartment = "cg"\nack_minutes = 10\n'
            "resolve_hours = 1\nurgent_ack_minutes = 5\n",
            "give both urgent_ack_minutes",
        ),
        (
            '[[category]]\ncode = "gas"\nname = "燃气"\ndepartment = "cg"\nack_minutes = 120\n'
            "resolve_hours = 1\n",
            "the ack deadline is longer than the resolve one",
        ),
        (
            '[[grid]]\ncode = "G02"\nname = "二"\nroutes = { nosuch = "cg" }\n',
            "routes: unknown category 'nosuch'",
        ),
        (
            '[[grid]]\ncode = "G02"\nname = "二"\nroutes = { sanitation = "zz" }\n',
            "routes: unknown department 'zz'",
        ),
        ('[[department]]\ncode = "empty"\nname = "空"\n', "a department needs a head or members"),
        (
            '[[department]]\ncode = "dup"\nname = "重"\nhead = 7\nmembers = [7]\n',
            "head 7 is also listed as a member",
        ),
    ],
)
def test_reference_errors_are_reported(extra: str, expected: str) -> None:
    errors = errors_of(BASE + "\n" + extra)
    assert any(expected in e for e in errors), errors
    assert all(e.startswith("line ") for e in errors), errors


def test_a_toml_syntax_error_is_reported() -> None:
    errors = errors_of("timezone = \n")
    assert errors[0].startswith("TOML: ")


def test_a_file_without_categories_or_grids_is_refused() -> None:
    errors = errors_of('[[department]]\ncode = "cg"\nname = "城管"\nhead = 1\n')
    assert any("no categories" in e for e in errors) and any("no grids" in e for e in errors)


async def test_import_is_idempotent_and_retires_what_disappears(tmp_path: Path) -> None:
    async with Database(tmp_path / "org.db") as db:
        service = OrganisationService(db, ManualClock(WEDNESDAY_MORNING))
        first = await service.import_text(BASE)
        assert "department cg" in first.added and "worker 2001 G01" in first.added
        again = await service.import_text(BASE)
        assert again.unchanged
        smaller = BASE.replace("members = [1002]", "members = []")
        changed = await service.import_text(smaller)
        assert changed.retired == ["member 1002 cg"]
        grants = await fetch_all(
            db.reader, "SELECT retired_at FROM role_grant WHERE user_id = 1002"
        )
        assert grants[0]["retired_at"] is not None
        renamed = await service.import_text(smaller.replace('name = "城管"', 'name = "城管中队"'))
        assert renamed.changed == ["department cg"]
        restored = await service.import_text(BASE)
        assert "member 1002 cg" in restored.added
        org = await service.current()
        assert org.departments["cg"].members == [1002]


async def test_an_admin_in_both_the_settings_and_the_file_stays_until_both_drop_them(
    tmp_path: Path,
) -> None:
    async with Database(tmp_path / "org.db") as db:
        clock = ManualClock(WEDNESDAY_MORNING)
        organisations = OrganisationService(db, clock)
        people = PeopleService(db, clock, 7, organisations.directory, Languages("zh"))
        with_admin = BASE.replace("\n[[department]]", "admins = [3001]\n\n[[department]]", 1)
        await organisations.import_text(with_admin)
        await people.sync_settings_admins([3001])
        await organisations.import_text(BASE)
        assert (await people.actor(3001)).admin, "dropped from the file, still in the settings"
        await organisations.import_text(with_admin)
        await people.sync_settings_admins([])
        assert (await people.actor(3001)).admin, "dropped from the settings, still in the file"
        await organisations.import_text(BASE)
        assert not (await people.actor(3001)).admin


async def test_the_bot_does_not_start_when_the_two_time_zones_differ(
    tmp_path: Path, district_file: Path
) -> None:
    with pytest.raises(ConfigurationError, match="Europe/Berlin"):
        async with open_street(tmp_path, district_file, timezone="Europe/Berlin"):
            pass


async def test_two_imports_in_the_same_second_are_both_seen(tmp_path: Path) -> None:
    async with Database(tmp_path / "org.db") as db:
        service = OrganisationService(db, ManualClock(WEDNESDAY_MORNING))
        await service.import_text(BASE)
        assert (await service.current()).departments["cg"].name == "城管"
        await service.import_text(BASE.replace('name = "城管"', 'name = "城管中队"'))
        assert (await service.current()).departments["cg"].name == "城管中队"
        assert (await service.directory()).names["department"]["cg"] == "城管中队"


async def test_a_read_under_way_when_the_admins_change_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The people service keeps the admins in memory; a read that began before they were
    forgotten answers its caller but is not kept, or a slow read would put back the old
    list after the change."""
    async with Database(tmp_path / "org.db") as db:
        clock = ManualClock(WEDNESDAY_MORNING)
        organisations = OrganisationService(db, clock)
        roster = PeopleService(db, clock, 7, organisations.directory, Languages("zh"))
        await organisations.import_text(BASE)
        await roster.sync_settings_admins([3001])
        slow_read_started, finish_slow_read = asyncio.Event(), asyncio.Event()
        read_admins = people_store.active_admins

        async def slow_active_admins(conn: aiosqlite.Connection) -> list[int]:
            admins = await read_admins(conn)
            slow_read_started.set()
            await finish_slow_read.wait()
            return admins

        monkeypatch.setattr(people_store, "active_admins", slow_active_admins)
        slow = asyncio.create_task(roster.admins())
        await slow_read_started.wait()
        monkeypatch.setattr(people_store, "active_admins", read_admins)
        await roster.sync_settings_admins([3001, 3002])
        finish_slow_read.set()
        assert await slow == (3001,)
        assert await roster.admins() == (3001, 3002)
