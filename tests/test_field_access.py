"""Access ends when it should: /revoke and `whistle people`, imports that retire invited
roles and re-dispatch the open issues of people who can no longer act, import summaries
that name routing changes, and people who serve two departments."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.organisation import OrganisationInvalid
from bot.services import build_services
from bot.settings import Settings
from storage.db import Database
from tests import cli
from tests.cli import whistle_in
from tests.conftest import DISTRICT, WEDNESDAY_MORNING, Street

CG_GROUP = -1001000000001


def district_text() -> str:
    return DISTRICT.read_text(encoding="utf-8")


def without_blocks(text: str, drop: Callable[[str], bool]) -> str:
    """The TOML text without the `[[table]]` blocks for which `drop(block)` is true."""
    blocks = re.split(r"(?m)^(?=\[\[)", text)
    return "".join(b for b in blocks if not drop(b))


def without_hb(text: str) -> str:
    """The district without the environment department (hb) and its two categories."""
    return without_blocks(
        text, lambda b: 'code = "hb"' in b or ('department = "hb"' in b and "[[category]]" in b)
    )


def rows(street: Street, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(street.settings.database)) as conn:
        return list(conn.execute(sql, params))


def unfired_alerts(street: Street, number: int, up_to: int) -> list[tuple[object, ...]]:
    """The issue's alerts up to id `up_to` that are still to fire (neither fired nor cancelled)."""
    return rows(
        street,
        """SELECT id FROM deadline_alert WHERE issue_id = ? AND id <= ?
           AND fired_at IS NULL AND cancelled_at IS NULL""",
        number,
        up_to,
    )


async def invite(street: Street, role: str, scope: str, user_id: int) -> None:
    admin, newcomer = street.person(3001), street.person(user_id, f"新人{user_id}")
    mark = admin.mark()
    await admin.send(f"/invite {role} {scope}")
    code = (await admin.expect("邀请码", mark)).text.split("/start ")[-1].strip()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("欢迎")


# --- /revoke -----------------------------------------------------------------------------


async def test_an_admin_revokes_an_invited_member_and_their_open_issue_moves_on(
    street: Street,
) -> None:
    worker, admin, on_duty = street.person(2001), street.person(3001), street.person(1002)
    await invite(street, "member", "cg", 2700)
    newcomer = street.person(2700)
    number = await street.blow_whistle(worker)
    group_card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    await newcomer.answer_to(await newcomer.tap(group_card, "报到"))
    await street.settle()
    assert rows(street, "SELECT assignee_id FROM issue WHERE id = ?", number) == [(2700,)]
    last_alert = rows(street, "SELECT MAX(id) FROM deadline_alert")[0][0]
    mark, duty_mark = admin.mark(), on_duty.mark()
    await admin.send("/revoke 2700")
    answer = await admin.expect("已收回 2700", mark)
    assert "承办人 cg" in answer.text and f"#{number} 改派至城管执法中队（张伟）" in answer.text
    assert not (await street.whistle.services.people.actor(2700)).registered
    assert rows(street, "SELECT state, assignee_id FROM issue WHERE id = ?", number) == [
        ("dispatched", 1002)
    ]
    await on_duty.expect(f"#{number}", duty_mark, button="报到")
    # The revoked member's reminders stop: what is left to fire was scheduled for 1002.
    assert unfired_alerts(street, number, up_to=last_alert) == []
    events = rows(street, "SELECT action FROM issue_event WHERE issue_id = ? ORDER BY id", number)
    assert events[-1] == ("redispatch",)
    # The revoked person is refused what they could do before.
    mark = newcomer.mark()
    await newcomer.send("/todo")
    await newcomer.expect("仅供本街道在册人员使用", mark)


async def test_revoke_refuses_politely_and_changes_nothing(street: Street) -> None:
    admin, worker, member = street.person(3001), street.person(2001), street.person(1002)
    for person in (worker, member, admin):
        await person.send("/start")
        await person.expect("欢迎")
    await street.settle()
    before = street.dump()
    mark = worker.mark()
    await worker.send("/revoke 1002")
    await worker.expect("仅限街道管理员", mark)
    for command, answer in (
        ("/revoke", "用法：/revoke"),
        ("/revoke abc", "用法：/revoke"),
        ("/revoke 9999", "9999 没有任何角色"),
    ):
        mark = admin.mark()
        await admin.send(command)
        await admin.expect(answer, mark)
    # A role from the organisation file is removed by editing the file: the answer says so.
    mark = admin.mark()
    await admin.send("/revoke 1002")
    kept = await admin.expect("没有经邀请获得的角色", mark)
    assert "组织文件" in kept.text and "whistle org import" in kept.text
    assert (await street.whistle.services.people.actor(1002)).member_of == {"cg"}
    await street.settle()
    assert street.dump() == before


async def test_the_last_admin_cannot_revoke_themselves(street: Street) -> None:
    await invite(street, "admin", "", 2800)
    people = street.whistle.services.people
    await people.sync_settings_admins([])  # 3001 leaves WHISTLE_ADMIN_IDS: 2800 is alone
    assert await people.admins() == (2800,)
    await street.settle()
    before = street.dump()
    only = street.person(2800)
    mark = only.mark()
    await only.send("/revoke 2800")
    await only.expect("将没有管理员", mark)
    await street.settle()
    assert street.dump() == before
    assert (await people.actor(2800)).admin


async def test_revoke_is_in_the_admin_help(street: Street) -> None:
    admin = street.person(3001)
    await admin.send("/help")
    assert "/revoke" in (await admin.expect("/invite")).text


# --- whistle people list | revoke --------------------------------------------------------


def test_command_line_lists_people_and_revokes_invited_roles(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    whistle = whistle_in(
        tmp_path,
        {
            "WHISTLE_DATABASE": str(database),
            "WHISTLE_ADMIN_IDS": "3001",
            "WHISTLE_TIMEZONE": "Asia/Shanghai",
        },
    )

    assert whistle("org", "import", str(DISTRICT)).returncode == 0
    code = whistle("invite", "worker", "--grid", "G02").stdout.split()[0]

    async def join() -> None:
        settings = Settings(database=database, admin_ids=[3001], _env_file=None)  # type: ignore[call-arg]
        async with Database(database) as db:
            svc = build_services(settings, ManualClock(WEDNESDAY_MORNING), db)
            await svc.people.sync_settings_admins([3001])
            await svc.people.join(2700, "新网格员", None, code)
            await svc.people.join(1002, "张伟", None, None)

    asyncio.run(join())
    listed = whistle("people", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("\t")[0]: line for line in listed.stdout.splitlines()}
    assert "worker G02 (invite)" in lines["2700"] and "opened the bot" in lines["2700"]
    assert "member cg (file)" in lines["1002"] and "never" not in lines["1002"]
    assert "head cg (file)" in lines["1001"] and "never opened the bot" in lines["1001"]
    assert "admin (WHISTLE_ADMIN_IDS)" in lines["3001"]
    revoked = whistle("people", "revoke", "2700")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked: worker G02 (invite)" in revoked.stdout
    assert "2700" not in {
        line.split("\t")[0] for line in whistle("people", "list").stdout.split("\n")
    }
    kept = whistle("people", "revoke", "1002")
    assert kept.returncode == 0 and "kept: member cg (file)" in kept.stdout
    assert "organisation file" in kept.stdout
    nobody = whistle("people", "revoke", "9999")
    assert nobody.returncode == 1 and "holds no role" in nobody.stderr


# --- imports ----------------------------------------------------------------------------


async def test_an_import_retires_invited_roles_in_removed_departments_and_grids(
    street: Street,
) -> None:
    await invite(street, "worker", "G06", 2700)
    await invite(street, "member", "hb", 2701)
    await invite(street, "member", "cg", 2702)
    text = without_blocks(without_hb(district_text()), lambda b: 'code = "G06"' in b)
    summary = await street.whistle.services.organisations.import_text(text)
    assert "worker 2700 G06 (invite)" in summary.retired
    assert "member 2701 hb (invite)" in summary.retired
    people = street.whistle.services.people
    assert not (await people.actor(2700)).registered
    assert not (await people.actor(2701)).registered
    assert (await people.actor(2702)).member_of == {"cg"}


async def test_an_import_re_dispatches_the_issues_of_a_retired_member(street: Street) -> None:
    worker, admin = street.person(2001), street.person(3001)
    number = await street.blow_whistle(worker)
    await street.settle()
    assert rows(street, "SELECT assignee_id FROM issue WHERE id = ?", number) == [(1002,)]
    last_alert = rows(street, "SELECT MAX(id) FROM deadline_alert")[0][0]
    text = (
        district_text()
        .replace("members = [1002, 1003, 1004]", "members = [1003, 1004]")
        .replace('member = 1002\ndays = "mon-fri"', 'member = 1003\ndays = "mon-fri"')
    )
    new_member = street.person(1003)
    mark = new_member.mark()
    summary = await street.whistle.services.organisations.import_text(text)
    assert f"#{number} → cg 1003" in summary.redispatched
    assert rows(street, "SELECT state, assignee_id FROM issue WHERE id = ?", number) == [
        ("dispatched", 1003)
    ]
    await new_member.expect(f"#{number}", mark, button="报到")
    # No alert scheduled for the retired member is left to fire.
    assert unfired_alerts(street, number, up_to=last_alert) == []
    await street.settle()
    mark = admin.mark()
    await admin.send("/pending")
    await admin.expect("没有", mark)


async def test_an_issue_nobody_can_take_goes_before_the_admins_at_once(street: Street) -> None:
    worker, admin = street.person(2001), street.person(3001)
    number = await street.blow_whistle(worker, "噪音扰民", "广场舞太吵")
    await street.settle()
    mark = admin.mark()
    summary = await street.whistle.services.organisations.import_text(without_hb(district_text()))
    assert f"#{number} → admins (nobody can take it)" in summary.redispatched
    await admin.expect(f"#{number}", mark, button="改派")
    assert rows(street, "SELECT state, assignee_id FROM issue WHERE id = ?", number) == [
        ("transferred", None)
    ]
    pending_alerts = rows(
        street,
        """SELECT id FROM deadline_alert WHERE issue_id = ?
           AND fired_at IS NULL AND cancelled_at IS NULL""",
        number,
    )
    assert pending_alerts == []
    mark = admin.mark()
    await admin.send("/pending")
    listed = await admin.expect("待改派的问题", mark)
    assert f"#{number}" in listed.text
    # Re-importing the same file changes nothing more.
    again = await street.whistle.services.organisations.import_text(without_hb(district_text()))
    assert again.unchanged


async def test_the_import_summary_names_routing_and_deadline_changes(street: Street) -> None:
    text = (
        district_text()
        .replace('hours = "08:00-18:00"', 'hours = "08:00-17:00"', 1)
        .replace('code = "hb"\n', 'code = "hb"\nquiet = "22:00-07:00"\n', 1)
        .replace('1002 = "张伟"', '1002 = "张伟伟"')
        .replace('code = "G01"\n', 'code = "G01"\nroutes = { noise = "cg" }\n', 1)
    )
    summary = await street.whistle.services.organisations.import_text(text)
    assert not summary.unchanged
    changed = "\n".join(summary.changed)
    assert "duty roster cg" in changed
    assert "department hb quiet hours - → 22:00-07:00" in changed
    assert "name 1002 张伟 → 张伟伟" in changed
    assert "grid G01 routes - → noise→cg" in changed
    assert (await street.whistle.services.organisations.import_text(text)).unchanged


async def test_the_import_refuses_a_time_zone_the_running_bot_would_reject(
    street: Street,
) -> None:
    before = street.dump()
    text = district_text().replace('timezone = "Asia/Shanghai"', 'timezone = "Europe/Berlin"')
    with pytest.raises(OrganisationInvalid, match="WHISTLE_TIMEZONE"):
        await street.whistle.services.organisations.import_text(text)
    assert street.dump() == before


def test_command_line_import_refuses_another_time_zone(tmp_path: Path) -> None:
    berlin = tmp_path / "berlin.toml"
    berlin.write_text(
        district_text().replace('timezone = "Asia/Shanghai"', 'timezone = "Europe/Berlin"'),
        encoding="utf-8",
    )
    env = {"WHISTLE_DATABASE": str(tmp_path / "cli.db"), "WHISTLE_TIMEZONE": "Asia/Shanghai"}
    done = cli.whistle(tmp_path, "org", "import", str(berlin), env=env)
    assert done.returncode == 1
    assert "WHISTLE_TIMEZONE" in done.stderr and "line 8" in done.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before anything was written


# --- the command line and the running bot ----------------------------------------------


async def test_a_revocation_on_the_command_line_reaches_the_running_bot(street: Street) -> None:
    await invite(street, "worker", "G02", 2700)
    newcomer = street.person(2700)
    await newcomer.send("/my")
    await newcomer.expect("您还没有上报过问题")
    street.whistle.services.organisations.recheck_seconds = 0
    async with Database(street.settings.database) as db:
        other = build_services(street.settings, street.clock, db)
        done = await other.people.revoke(None, 2700)
    assert [g.scope for g in done.revoked] == ["G02"]
    mark = newcomer.mark()
    await newcomer.send("/my")
    await newcomer.expect("仅供本街道在册人员使用", mark)
