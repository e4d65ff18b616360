"""Joining, roles, menus, languages and looking things up, end to end."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bot.permissions import Role
from tests.cli import whistle_in
from tests.conftest import Street


def menu(street: Street, user_id: int) -> list[str]:
    key = json.dumps([{"chat_id": user_id, "type": "chat"}, ""], sort_keys=True)
    return [c["command"] for c in street.api.commands.get(key, [])]


async def test_people_named_in_the_file_join_with_start_and_get_their_menu(street: Street) -> None:
    worker, member, admin = street.person(2001), street.person(1002), street.person(3001)
    for person in (worker, member, admin):
        await person.send("/start")
        await person.expect("欢迎")
    assert menu(street, 2001) == ["report", "my", "issue", "lang", "cancel", "help"]
    assert menu(street, 1002) == ["todo", "stats", "issue", "lang", "cancel", "help"]
    assert menu(street, 3001) == [
        "pending",
        "reroute",
        "whistle",
        "invite",
        "revoke",
        "stats",
        "issue",
        "lang",
        "cancel",
        "help",
    ]
    default = json.dumps([{"type": "default"}, ""], sort_keys=True)
    assert [c["command"] for c in street.api.commands[default]] == ["start", "help", "lang"]


async def test_help_says_what_each_role_can_do(street: Street) -> None:
    worker, admin = street.person(2001), street.person(3001)
    await worker.send("/help")
    worker_help = await worker.expect("/report")
    assert "/invite" not in worker_help.text and "/todo" not in worker_help.text
    await admin.send("/help")
    admin_help = await admin.expect("/invite")
    assert "/report" not in admin_help.text


async def test_an_admin_invite_is_single_use(street: Street) -> None:
    admin, newcomer, late = street.person(3001), street.person(2500, "新人"), street.person(2501)
    await admin.send("/invite worker G02")
    created = await admin.expect("邀请码")
    code = created.text.split("/start ")[-1].strip()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("已加入：网格员 · G02")
    await newcomer.expect("欢迎")
    assert (await street.whistle.services.people.actor(2500)).grids == {"G02"}
    mark = late.mark()
    await late.send(f"/start {code}")
    await late.expect("邀请码无效", mark)
    assert not (await street.whistle.services.people.actor(2501)).registered


async def test_an_admin_who_joins_by_invite_gets_the_admins_share_at_once(street: Street) -> None:
    worker, admin, hb = street.person(2001), street.person(3001), street.person(1302, "孙敏")
    newcomer = street.person(2600, "新管理员")
    for person in (worker, hb):
        await person.send("/start")

    async def transfer(description: str) -> int:
        number = await street.blow_whistle(worker, "噪音扰民", description)
        card = await hb.expect(f"#{number}", button="退回")
        await hb.tap(card, "退回")
        await hb.expect("退回理由")
        await hb.send("不归我们管")
        await hb.expect(f"已退回 #{number}")
        return number

    first = await transfer("第一件噪音")
    await admin.expect(f"#{first}", button="住建办")
    await admin.send("/invite admin")
    code = (await admin.expect("邀请码")).text.split("/start ")[-1].strip()
    await newcomer.send(f"/start {code}")
    await newcomer.expect("欢迎")
    second = await transfer("第二件噪音")
    await newcomer.expect(f"#{second}", button="住建办")


async def test_admin_commands_refuse_everybody_else(street: Street) -> None:
    worker = street.person(2001)
    await street.settle()
    await worker.send("/start")
    await worker.expect("欢迎")
    await street.settle()
    before = street.dump()
    for command in ("/invite admin", "/reroute 1 zj", "/pending"):
        mark = worker.mark()
        await worker.send(command)
        await worker.expect("仅限街道管理员", mark)
    assert street.dump() == before


async def test_bad_invite_arguments_get_usage(street: Street) -> None:
    admin = street.person(3001)
    await admin.send("/invite boss")
    await admin.expect("用法：/invite")
    await admin.send("/invite worker G99")
    await admin.expect("找不到代码 G99")


async def test_my_todo_and_issue(street: Street) -> None:
    worker, member, head = street.person(2001), street.person(1002), street.person(1001)
    first = await street.blow_whistle(worker, "环境卫生", "第一件")
    second = await street.blow_whistle(worker, "占道经营", "第二件", urgent=True)
    await worker.send("/my")
    mine = await worker.expect("我上报的问题")
    assert f"#{second} 占道经营 · 待报到" in mine.text and f"#{first} 环境卫生" in mine.text
    await member.send("/todo")
    todo = await member.expect("待办")
    lines = todo.text.splitlines()[1:]
    assert lines[0].startswith(f"#{first} ") or lines[0].startswith(f"#{second} ")
    assert "剩 30 分钟" in todo.text
    await head.send("/todo")
    head_todo = await head.expect("待办")
    assert f"#{first} " in head_todo.text and f"#{second} 【紧急】占道经营" in head_todo.text
    await worker.send(f"/issue {first}")
    await worker.expect("第一件")
    timeline = await worker.expect("处置全过程")
    assert "上报" in timeline.text and "派发 → 城管执法中队（张伟）" in timeline.text
    await worker.send("/issue abc")
    await worker.expect("用法：/issue")
    await worker.send("/issue 999")
    await worker.expect("找不到这个问题")


async def test_cancel_drops_a_half_written_report(street: Street) -> None:
    worker = street.person(2001)
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别"), "环境卫生")
    await worker.expect("请用文字描述问题")
    await worker.send("/cancel")
    await worker.expect("已取消本次上报")
    assert await street.whistle.services.reports.current(2001) is None
    mark = worker.mark()
    await worker.send("/cancel")
    await worker.expect("当前没有进行中的操作", mark)


async def test_user_text_is_shown_literally(street: Street) -> None:
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker, "环境卫生", "<b>x</b> & *y* <script>")
    card = await member.expect(f"#{number}", button="报到")
    assert "描述：<b>x</b> & *y* <script>" in card.text


async def test_english_is_complete_and_switchable(street: Street) -> None:
    worker = street.person(2001)
    await worker.send("/lang")
    await worker.tap(await worker.expect("Choose a language"), "English")
    await worker.expect("Language set to English")
    mark = worker.mark()
    await worker.send("/report")
    prompt = await worker.expect("Choose a category", mark)
    assert "环境卫生" in [label for label, _ in prompt.buttons()]
    assert menu(street, 2001)[0] == "report"


async def test_wrong_input_in_a_step_gets_a_hint_and_changes_nothing(street: Street) -> None:
    worker = street.person(2001)
    await worker.send("/report")
    await worker.expect("请选择问题类别")
    await street.settle()
    before = street.dump()
    await worker.send("这不是按钮")
    await worker.expect("请点击上面的按钮选择")
    await worker.send_location(1.0, 2.0)
    assert street.dump() == before
    await worker.tap(await worker.expect("请选择问题类别"), "环境卫生")
    await worker.send_photo()
    await worker.expect("请用文字描述问题。")
    await worker.send("x" * 1001)
    await worker.expect("文字过长")


def test_command_line_invite_and_org_check(tmp_path: Path) -> None:
    whistle = whistle_in(tmp_path, {"WHISTLE_DATABASE": str(tmp_path / "cli.db")})
    district = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"

    assert "OK — 8 departments" in whistle("org", "check", str(district)).stdout
    imported = whistle("org", "import", str(district))
    assert imported.returncode == 0 and "added: department cg" in imported.stdout
    again = whistle("org", "import", str(district))
    assert "nothing changed" in again.stdout
    invited = whistle("invite", "member", "--department", "cg")
    assert invited.returncode == 0 and "/start " in invited.stdout
    wrong = whistle("invite", "worker", "--grid", "NOPE")
    assert wrong.returncode == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[[grid]]\ncode = 1\n", encoding="utf-8")
    checked = whistle("org", "check", str(bad))
    assert checked.returncode == 1 and "line 2: [[grid]] #1" in checked.stderr


async def test_a_flood_of_reports_gets_a_polite_answer(street: Street) -> None:
    street.settings = street.settings.model_copy(update={"report_limit_per_hour": 2})
    await street.restart()
    worker = street.person(2001)
    await street.blow_whistle(worker, "环境卫生", "一")
    await street.blow_whistle(worker, "环境卫生", "二")
    await street.settle()
    before = street.dump()
    mark = worker.mark()
    await worker.send("/report")
    await worker.expect("一小时内已上报 2 件问题", mark)
    await worker.send("再来一件")
    await worker.expect("一小时内已上报 2 件问题", mark + 1)
    assert street.dump() == before
    street.clock.advance(timedelta(hours=1, seconds=1))
    await street.blow_whistle(worker, "环境卫生", "三")


async def test_an_invite_expires_and_is_stored_only_as_a_hash(street: Street) -> None:
    code = await street.whistle.services.people.create_invite(Role.WORKER, "G03", 3001)
    stored = street.dump()
    assert not any(code in line for line in stored)
    street.clock.advance(timedelta(days=7, seconds=1))
    newcomer = street.person(2600, "迟到")
    await newcomer.send(f"/start {code}")
    await newcomer.expect("邀请码无效")
    assert not (await street.whistle.services.people.actor(2600)).registered
