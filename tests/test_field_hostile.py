"""What a hostile tester found in the field-safety work (issue #14), each pinned here:
prompts that swallowed photos and "/"-text, the instance lock, invites and imports,
numbers, unreachable groups and members, strangers in groups, invited staff, drafts whose
category went away, invisible text, long summaries, secrets in logs and the command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Whistle
from bot.chats import BOT_COMMANDS
from bot.instance import AlreadyRunning
from bot.message_limits import TEXT_LIMIT, telegram_length
from bot.organisation import OrganisationInvalid, parse_organisation
from bot.routing import RouteReason, Staff, choose_member
from bot.services.reports import visible
from bot.settings import SettingsError, load_settings
from storage import people as people_store
from tests.conftest import Street, open_street
from tests.test_field_access import district_text, without_hb
from tests.test_field_chats import every_command
from tests.test_settings import whistle
from whistle_testing import ApiError, SimulatedUser

CG_GROUP = -1001000000001


async def quiet(street: Street) -> None:
    """Every update was handled and everything due was delivered."""
    await street.api.wait_for(lambda: street.api.pending_updates() == 0)
    await asyncio.sleep(0.3)
    await street.settle()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def rows(street: Street, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(street.settings.database)) as conn:
        return list(conn.execute(sql, params))


async def reopen_prompt(street: Street) -> tuple[SimulatedUser, int]:
    """王芳 reports, 张伟 resolves, and 王芳 taps 重办: the bot asks for the reason."""
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await street.resolve(member, number, "处理好了")
    mark = worker.mark()
    await worker.tap(await worker.expect("处理好了", button="重办"), "重办")
    await worker.expect("需要重办的原因", mark)
    return worker, number


# 1. A prompt never captures a photo, a location, or "/"-text that is no command.


async def test_a_photo_during_the_reopen_prompt_ends_it_and_offers_a_report(
    street: Street,
) -> None:
    worker, number = await reopen_prompt(street)
    mark = worker.mark()
    await worker.send_photo()
    await worker.expect(f"已取消：#{number} 的重办", mark)
    await quiet(street)
    await worker.send("井盖松动，有人差点摔倒")
    await quiet(street)
    got = [m.text for m in worker.inbox()[mark:]]
    assert rows(street, "SELECT reopen_count FROM issue WHERE id = ?", number) == [(0,)], got
    assert not any("请用文字说明" in t for t in got), got


async def test_a_location_during_the_reopen_prompt_ends_it(street: Street) -> None:
    worker, number = await reopen_prompt(street)
    mark = worker.mark()
    await worker.send_location(31.2, 121.5)
    await worker.expect(f"已取消：#{number} 的重办", mark)
    await worker.send("随便说说")
    await quiet(street)
    assert rows(street, "SELECT reopen_count FROM issue WHERE id = ?", number) == [(0,)]


async def test_the_resolve_photo_step_still_takes_photos(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    mark = member.mark()
    await member.tap(await member.expect(f"#{number}", button="办结"), "办结")
    await member.expect("办结说明", mark)
    await member.send("清理完毕")
    await member.expect("处置后照片", mark)
    await member.send_photo()
    await member.tap(await member.expect("已收到 1 张照片", mark, button="提交"), "提交")
    await member.expect(f"已办结 #{number}", mark)
    got = [m.text for m in member.inbox()[mark:]]
    assert not any("已取消" in t for t in got), got


@pytest.mark.parametrize("reason", ["/路灯还是不亮，根本没修", "/nope 还是坏的"])
async def test_a_reason_starting_with_a_slash_that_is_no_bot_command_is_the_answer(
    street: Street, reason: str
) -> None:
    worker, number = await reopen_prompt(street)
    mark = worker.mark()
    await worker.send(reason)
    await quiet(street)
    got = [m.text for m in worker.inbox()[mark:]]
    assert rows(street, "SELECT reopen_count FROM issue WHERE id = ?", number) == [(1,)], got
    assert not any("已取消" in t for t in got), got


async def test_a_real_command_still_ends_the_reopen_prompt(street: Street) -> None:
    worker, number = await reopen_prompt(street)
    mark = worker.mark()
    await worker.send("/my")
    await worker.expect(f"已取消：#{number} 的重办", mark)
    await worker.send("路灯还是不亮")
    await quiet(street)
    assert rows(street, "SELECT reopen_count FROM issue WHERE id = ?", number) == [(0,)]


# 2. One instance per database, whatever path reaches it.


@pytest.mark.parametrize("link", ["symlink", "hard link", "other spelling"])
async def test_a_second_bot_on_the_same_database_by_another_path_is_refused(
    street: Street, tmp_path: Path, link: str
) -> None:
    database = street.settings.database
    if link == "symlink":
        alias = tmp_path / "alias" / "alias.db"
        alias.parent.mkdir()
        alias.symlink_to(database)
    elif link == "hard link":
        alias = tmp_path / "hard" / "hard.db"
        alias.parent.mkdir()
        os.link(database, alias)
    else:
        alias = database.parent / "." / ".." / database.parent.name / database.name
    other = Whistle(street.settings.model_copy(update={"database": alias}), street.clock)
    try:
        with pytest.raises(AlreadyRunning) as refused:
            await other.start(poll=False)
    finally:
        await other.stop()
    assert "already using" in str(refused.value)
    assert "disk I/O" not in str(refused.value)


# 3. An unused invite for a grid or department that is gone cannot be redeemed.


async def admin_invite_code(street: Street, role: str, scope: str) -> str:
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/invite {role} {scope}")
    return (await admin.expect("邀请码", mark)).text.split("/start ")[-1].strip()


async def redeem(street: Street, user_id: int, code: str) -> list[str]:
    newcomer = street.person(user_id, "新人")
    mark = newcomer.mark()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("邀请码无效", mark)
    await quiet(street)
    return [m.text for m in newcomer.inbox()[mark:]]


async def test_an_import_voids_unused_invites_for_the_departments_it_removes(
    street: Street,
) -> None:
    code = await admin_invite_code(street, "member", "hb")
    kept = await admin_invite_code(street, "member", "cg")
    summary = await street.whistle.services.organisations.import_text(without_hb(district_text()))
    assert any("invite member hb" in line for line in summary.retired), summary
    got = await redeem(street, 2800, code)
    assert not any("已加入" in t or "hb" in t for t in got), got
    assert not (await street.whistle.services.people.actor(2800)).registered
    newcomer = street.person(2801, "新人")
    mark = newcomer.mark()
    await newcomer.send(f"/start {kept}")
    await newcomer.expect("已加入", mark)


async def test_an_invite_whose_grid_is_gone_is_refused_when_redeemed(street: Street) -> None:
    """However the grid went away, redeeming checks that it is still there."""
    code = await admin_invite_code(street, "worker", "G01")
    with closing(sqlite3.connect(street.settings.database)) as conn, conn:
        conn.execute("UPDATE grid SET retired_at = 1 WHERE code = 'G01'")
    await redeem(street, 2802, code)
    assert not (await street.whistle.services.people.actor(2802)).registered


# 4. Numbers people type are ASCII digits from 1 to 2**63-1, everywhere.

ODD_IDS = ["²", "٢٧٠٠", "２７００", "99999999999999999999", "9223372036854775808", "0", "-2700"]


@pytest.mark.parametrize("user_id", ODD_IDS)
async def test_revoke_with_an_odd_number_gets_the_usage_hint_and_revokes_nothing(
    street: Street, user_id: str
) -> None:
    code = await admin_invite_code(street, "member", "cg")
    newcomer = street.person(2700, "新人")
    mark = newcomer.mark()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("已加入", mark)
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/revoke {user_id}")
    await admin.expect("用法：/revoke", mark)
    assert (await street.whistle.services.people.actor(2700)).registered


@pytest.mark.parametrize("user_id", ["٣٠٠١", "²", "99999999999999999999", "0"])
def test_people_revoke_on_the_command_line_refuses_an_odd_number_in_one_line(
    tmp_path: Path, user_id: str
) -> None:
    done = whistle(tmp_path, "people", "revoke", user_id, env={"WHISTLE_DATABASE": "w.db"})
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a user id" in lines[0], done.stderr
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize("admin_ids", ["٣٠٠١", "３００１", "99999999999999999999", "-3001", "0"])
def test_admin_ids_in_the_settings_are_ascii_digits_that_fit(admin_ids: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, admin_ids=admin_ids)
    assert len(raised.value.problems) == 1


@pytest.mark.parametrize("hours", ["０８:３０-17:30", "٠٨:٣٠-17:30"])
def test_office_hours_in_the_organisation_file_are_ascii_digits(hours: str) -> None:
    text = district_text().replace(
        "group_chat = -1001000000001\n", f'group_chat = -1001000000001\noffice_hours = "{hours}"\n'
    )
    assert hours in text
    parse_organisation(text.replace(hours, "08:30-17:30"))
    with pytest.raises(OrganisationInvalid):
        parse_organisation(text)


# 5. A department's group the bot cannot reach is told to the admins once, by name and id.


def group_notices(admin: SimulatedUser, mark: int) -> list[str]:
    return [m.text for m in admin.inbox()[mark:] if "群" in m.text and "机器人" in m.text]


@pytest.mark.parametrize("why", ["never_seen", "blocked"])
async def test_a_group_the_bot_cannot_reach_is_told_to_the_admins_once(
    street: Street, caplog: pytest.LogCaptureFixture, why: str
) -> None:
    """A wrong group id or a bot not in the group (400 chat not found), or a bot removed
    from it (403): each admin hears of it once, naming the department and the id."""
    getattr(street.api, why).add(CG_GROUP)
    admin, worker = street.person(3001), street.person(2001, "王芳")
    mark = admin.mark()
    await street.blow_whistle(worker)
    await street.blow_whistle(worker, description="路灯不亮")
    await quiet(street)
    told = group_notices(admin, mark)
    assert len(told) == 1, told
    assert "城管执法中队" in told[0] and str(CG_GROUP) in told[0], told
    assert not errors(caplog), errors(caplog)
    # The bot is added back: the next card reaches the group.
    getattr(street.api, why).discard(CG_GROUP)
    third = await street.blow_whistle(worker, description="井盖松动")
    await street.api.expect(CG_GROUP, f"#{third}", button="报到")


async def test_a_group_upgraded_to_a_supergroup_is_followed_and_told_to_the_admins(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    new_id = street.api.group(-1009999999999, "城管执法中队（超级群）")
    sends = {name: getattr(street.api, name) for name in ("_api_sendMessage", "_api_sendPhoto")}

    def migrated(handler: Any) -> Any:
        async def run(params: dict[str, Any]) -> Any:
            if int(params.get("chat_id") or 0) == CG_GROUP:
                raise ApiError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": new_id},
                )
            return await handler(params)

        return run

    for name, handler in sends.items():
        setattr(street.api, name, migrated(handler))
    admin, worker = street.person(3001), street.person(2001, "王芳")
    mark = admin.mark()
    first = await street.blow_whistle(worker)
    await street.api.expect(new_id, f"#{first}", button="报到")
    second = await street.blow_whistle(worker, description="路灯不亮")
    await street.api.expect(new_id, f"#{second}", button="报到")
    await quiet(street)
    told = group_notices(admin, mark)
    assert len(told) == 1, told
    assert str(new_id) in told[0] and "group_chat" in told[0] and "城管执法中队" in told[0]
    assert not errors(caplog), errors(caplog)


# 6. A person the bot cannot write to is told so on the tap, and nothing is logged as an error.


@pytest.mark.parametrize("label", ["退回", "办结"])
async def test_a_member_who_never_opened_the_bot_is_told_to_open_it_first(
    street: Street, caplog: pytest.LogCaptureFixture, label: str
) -> None:
    street.api.never_started.add(1003)
    number = await street.blow_whistle(street.person(2001, "王芳"))
    card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    member = street.person(1003)
    if label == "办结":
        await member.answer_to(await member.tap(card, "报到"))
        await quiet(street)
        card = await street.api.expect(CG_GROUP, f"#{number}", button="办结")
    before = rows(street, "SELECT state, assignee_id FROM issue WHERE id = ?", number)
    query = await member.tap(card, label)
    answer = await member.answer_to(query)
    await quiet(street)
    assert answer is not None and f"t.me/{street.api.username}" in answer and "/start" in answer
    assert "私聊中继续" not in answer
    assert street.api.callback_answers[query].get("show_alert") in (True, "true", "True")
    assert rows(street, "SELECT state, assignee_id FROM issue WHERE id = ?", number) == before
    assert not errors(caplog), errors(caplog)


async def test_a_prompt_ended_for_someone_who_blocked_the_bot_logs_no_error(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    """张伟 taps 办结 (the bot asks for the note), blocks the bot, then taps 报到 on another
    card in the group: the prompt ends, the 'cancelled' notice cannot go, the tap acts."""
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    first = await street.blow_whistle(worker)
    await member.answer_to(
        await member.tap(await member.expect(f"#{first}", button="报到"), "报到")
    )
    mark = member.mark()
    await member.tap(await member.expect(f"#{first}", button="办结"), "办结")
    await member.expect("办结说明", mark)
    second = await street.blow_whistle(worker, description="路灯不亮")
    card = await street.api.expect(CG_GROUP, f"#{second}", button="报到")
    street.api.blocked.add(1002)
    await member.answer_to(await member.tap(card, "报到"))
    await quiet(street)
    assert rows(street, "SELECT assignee_id FROM issue WHERE id = ?", second) == [(1002,)]
    assert not errors(caplog), errors(caplog)


# 7. Strangers and other bots' commands in a group get nothing; hints are paced per group.


def group_texts(street: Street, before: int) -> list[str]:
    return [m.text for m in street.api.chat(CG_GROUP) if m.from_bot][before:]


async def test_the_bot_knows_every_command_it_registers(street: Street) -> None:
    assert every_command(street) == BOT_COMMANDS


@pytest.mark.parametrize("command", ["/todo", "/invite admin", "/roll", "/start abc"])
async def test_a_strangers_commands_in_a_group_get_nothing(street: Street, command: str) -> None:
    stranger = street.person(9999, "路人")
    before = len(group_texts(street, 0))
    for _ in range(5):
        await stranger.send(command, chat_id=CG_GROUP)
    await quiet(street)
    assert group_texts(street, before) == []


async def test_commands_for_other_bots_in_a_group_get_nothing(street: Street) -> None:
    member = street.person(1002, "张伟")
    before = len(group_texts(street, 0))
    for command in ("/todo@other_bot", "/roll", "/help@other_bot", "/stats@OtherBot"):
        await member.send(command, chat_id=CG_GROUP)
    await quiet(street)
    assert group_texts(street, before) == []


async def test_a_group_gets_at_most_one_hint_a_minute_and_cards_still_arrive(
    street: Street,
) -> None:
    member, admin = street.person(1002, "张伟"), street.person(3001)
    before = len(group_texts(street, 0))
    for command in ("/todo", "/stats", "/issue 1", "/my", "/pending"):
        await member.send(command, chat_id=CG_GROUP)
        await admin.send(command, chat_id=CG_GROUP)
    await quiet(street)
    assert group_texts(street, before) == ["请在与机器人的私聊中使用这个命令。"]
    number = await street.blow_whistle(street.person(2001, "王芳"))
    await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    street.clock.advance(timedelta(seconds=61))
    await member.send("/todo", chat_id=CG_GROUP)
    await quiet(street)
    assert group_texts(street, before).count("请在与机器人的私聊中使用这个命令。") == 2


# 8. Members and heads who joined by invite count like the file's, everywhere.


async def join_by_invite(street: Street, role: str, scope: str, user_id: int) -> None:
    code = await admin_invite_code(street, role, scope)
    newcomer = street.person(user_id, f"新人{user_id}")
    mark = newcomer.mark()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("已加入", mark)


async def test_an_admin_can_reroute_to_an_invited_member(street: Street) -> None:
    await join_by_invite(street, "member", "cg", 2700)
    admin = street.person(3001)
    number = await street.blow_whistle(street.person(2001, "王芳"))
    mark = admin.mark()
    await admin.send(f"/reroute {number} cg 2700")
    await street.person(2700).expect(f"#{number}", button="报到")
    await quiet(street)
    got = [m.text for m in admin.inbox()[mark:]]
    assert rows(street, "SELECT assignee_id FROM issue WHERE id = ?", number) == [(2700,)], got


async def test_routing_reaches_an_invited_member_when_the_files_staff_cannot_be_reached(
    street: Street,
) -> None:
    await join_by_invite(street, "member", "cg", 2700)
    with closing(sqlite3.connect(street.settings.database)) as conn, conn:
        conn.execute("UPDATE person SET blocked_at = 1 WHERE user_id IN (1001, 1002, 1003, 1004)")
    number = await street.blow_whistle(street.person(2001, "王芳"))
    await street.person(2700).expect(f"#{number}", button="报到")
    assert rows(street, "SELECT assignee_id FROM issue WHERE id = ?", number) == [(2700,)]


async def test_an_invited_head_with_a_lower_id_does_not_unseat_the_files_head(
    street: Street,
) -> None:
    await join_by_invite(street, "head", "cg", 900)
    reader = street.whistle.db.reader
    assert await people_store.department_head(reader, "cg") == 1001
    assert await people_store.department_heads(reader, "cg") == [1001, 900]


def test_routing_takes_the_staff_it_is_given_file_and_invited() -> None:
    org = parse_organisation(district_text())
    wednesday = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    staff = Staff((1002, 1003, 1004, 2700), (1001, 900))
    everyone_else = frozenset({1002, 1003, 1004})
    chosen = choose_member(org, "cg", wednesday, {}, everyone_else, staff)
    assert chosen.member == 2700
    heads_only = choose_member(org, "cg", wednesday, {}, everyone_else | {2700}, staff)
    assert (heads_only.member, heads_only.reason) == (1001, RouteReason.HEAD)


# 9. A draft whose category an import retired chooses again and keeps what was written.


async def draft_at_summary_in_category_hb(street: Street) -> tuple[SimulatedUser, int]:
    worker = street.person(2001, "王芳")
    mark = worker.mark()
    await street.open_report(worker, "污染排放")
    await worker.send("工地夜间排放黑烟")
    await worker.send_photo()
    await worker.tap(await worker.expect("已收到 1 张照片", mark), "完成")
    await worker.send_location(31.2, 121.5)
    await worker.tap(await worker.expect("请选择紧急程度", mark), "一般")
    await worker.expect("请核对", mark)
    await street.whistle.services.organisations.import_text(without_hb(district_text()))
    street.whistle.services.organisations.recheck_seconds = 0
    return worker, mark


async def choose_again_and_submit(street: Street, worker: SimulatedUser, mark: int) -> None:
    await worker.tap(await worker.expect("请选择问题类别", mark), "环境卫生")
    summary = await worker.expect("请核对", mark)
    assert "工地夜间排放黑烟" in summary.text
    await worker.tap(summary, "提交")
    await worker.expect("已上报", mark)
    await quiet(street)
    assert rows(
        street,
        "SELECT category_code, description, latitude IS NOT NULL FROM issue ORDER BY id DESC",
    )[0] == ("sanitation", "工地夜间排放黑烟", 1)
    assert rows(street, "SELECT COUNT(*) FROM issue_photo") == [(1,)]


async def test_submit_after_the_category_was_retired_asks_for_a_category_again(
    street: Street,
) -> None:
    worker, mark = await draft_at_summary_in_category_hb(street)
    summary = await worker.expect("请核对", mark)
    mark = worker.mark()
    answer = await worker.answer_to(await worker.tap(summary, "提交"))
    assert answer is not None and "类别已停用" in answer
    await choose_again_and_submit(street, worker, mark)


async def test_report_after_the_category_was_retired_asks_for_a_category_again(
    street: Street,
) -> None:
    worker, _ = await draft_at_summary_in_category_hb(street)
    mark = worker.mark()
    await worker.send("/report")
    await choose_again_and_submit(street, worker, mark)


# 10. Text without a visible character is no text.

INVISIBLE = [
    "\u200b",
    "\u200b\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u3164",
    "\u2800",
    "\u115f\u1160",
    " \u3000\u200b ",
    "\u0301",
]


@pytest.mark.parametrize("blank", INVISIBLE)
async def test_an_invisible_description_is_asked_for_again(street: Street, blank: str) -> None:
    worker = street.person(2001, "王芳")
    await street.open_report(worker)
    mark = worker.mark()
    await worker.send(blank)
    await worker.expect("请用文字", mark)
    await quiet(street)
    got = [m.text for m in worker.inbox()[mark:]]
    assert not any("请发送现场照片" in t for t in got), got
    assert rows(street, "SELECT description FROM draft") == [(None,)]


@pytest.mark.parametrize("blank", ["\u200b\u2060", "\u3164", "\u2800"])
async def test_an_invisible_reopen_reason_is_asked_for_again(street: Street, blank: str) -> None:
    worker, number = await reopen_prompt(street)
    mark = worker.mark()
    await worker.send(blank)
    await worker.expect("请用文字", mark)
    await quiet(street)
    assert rows(street, "SELECT reopen_count FROM issue WHERE id = ?", number) == [(0,)]


def test_visible_text_counts_as_text() -> None:
    for shown in ("a", "路灯", "😀", "\u200b路\u200b", "é", "1"):
        assert visible(shown), shown
    for blank in INVISIBLE:
        assert not visible(blank), blank


# 11. The 请核对 summary fits Telegram's 4,096 UTF-16 units whatever the description.


async def report_up_to_the_summary(street: Street, description: str, address: str) -> str:
    worker = street.person(2001, "王芳")
    mark = worker.mark()
    await street.open_report(worker)
    await worker.send(description)
    await worker.tap(await worker.expect("请发送现场照片", mark), "跳过")
    await worker.expect("请发送位置", mark)
    await worker.send(address)
    await worker.tap(await worker.expect("请选择紧急程度", mark), "一般")
    summary = await worker.expect("请核对", mark)
    shown = summary.text  # the message becomes the receipt once 提交 is tapped
    await worker.tap(summary, "提交")
    await worker.expect("已上报", mark)
    return shown


@pytest.mark.parametrize("emoji", ["😀", "🇨🇳", "&<😀"])
async def test_the_summary_of_the_longest_description_fits_one_message(
    tmp_path: Path, district_file: Path, caplog: pytest.LogCaptureFixture, emoji: str
) -> None:
    async with open_street(tmp_path, district_file, max_text_length=3000) as street:
        description = emoji * (3000 // len(emoji))
        shown = await report_up_to_the_summary(street, description, "🏠" * 200)
        await quiet(street)
        assert telegram_length(shown) <= TEXT_LIMIT
        assert "…" in shown
        assert rows(street, "SELECT description FROM issue") == [(description,)]
        assert not errors(caplog), errors(caplog)


# 12. Invite codes stay out of the logs, at DEBUG too.


async def test_invite_codes_are_not_in_the_logs_at_debug_level(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await admin_invite_code(street, "member", "cg")
    newcomer = street.person(2900, "新人")
    mark = newcomer.mark()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("已加入", mark)
    await quiet(street)
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert any("sendMessage" in line for line in logged)  # the DEBUG lines were there
    leaked = [line[:160] for line in logged if code in line]
    assert not leaked, leaked


# 13. The command line speaks in words, and a misspelt setting is an error.


def test_whistle_invite_for_an_unknown_grid_says_so_in_words(
    tmp_path: Path, district_file: Path
) -> None:
    env = {"WHISTLE_DATABASE": str(tmp_path / "w.db")}
    assert whistle(tmp_path, "org", "import", str(district_file), env=env).returncode == 0
    done = whistle(tmp_path, "invite", "worker", "--grid", "G99", env=env)
    assert done.returncode == 1
    assert done.stderr.strip() == "cannot make that invite: 找不到代码 G99。", done.stderr
    english = whistle(
        tmp_path, "invite", "member", "--department", "xx", env={**env, "WHISTLE_LANGUAGE": "en"}
    )
    assert english.stderr.strip() == "cannot make that invite: No such code: xx.", english.stderr


@pytest.mark.parametrize(
    ("name", "meant"),
    [("WHISTLE_ADMIN_ID", "WHISTLE_ADMIN_IDS"), ("WHISTLE_TIMEZNE", "WHISTLE_TIMEZONE")],
)
@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_misspelt_setting_is_one_line_naming_the_closest_real_one(
    tmp_path: Path, name: str, meant: str, where: str
) -> None:
    env = {"WHISTLE_DATABASE": str(tmp_path / "w.db")}
    if where == "environment":
        env[name] = "3001"
    else:
        (tmp_path / ".env").write_text(f"{name}=3001\n", encoding="utf-8")
    done = whistle(tmp_path, "people", "list", env=env)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and meant in lines[0], lines


def test_load_settings_reports_every_unknown_name_beside_other_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHISTLE_ADMIN_ID", "3001")
    monkeypatch.setenv("WHISTLE_NOTHING_LIKE_IT", "1")
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, timezone="Mars/Olympus")
    problems = raised.value.problems
    assert len(problems) == 3, problems
    assert "did you mean WHISTLE_ADMIN_IDS?" in problems[0]
    assert "WHISTLE_NOTHING_LIKE_IT is not a setting" in problems[1]
