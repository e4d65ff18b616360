"""The whistle loop end to end: the real PTB Application against the loopback Bot API
server over HTTP, on the example district."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import strip_markup
from bot.lifecycle import State
from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from bot.records import IssueRecord
from bot.services import Services
from bot.views import Audience, Names, issue_card
from storage import issues as issue_store
from tests.conftest import DISTRICT, Street
from tests.issue_record import issue_record
from tests.office import clock, reported

CG_GROUP = -1001000000001
ZJ_GROUP = -1001000000002
HOLDER_BUTTONS = {
    "📝 进展",
    "✅ 办结",
    "↩️ 退回",
    "🔍 不属实",
    "📑 重复",
    "🧭 非本辖区",
    "⏳ 申请延期",
    "📌 挂账",
}
"""What the member who took an issue (报到) sees on its card."""


async def issue(street: Street, number: int) -> IssueRecord:
    found = await issue_store.get_issue(street.whistle.db.reader, number)
    assert found is not None
    return found


async def test_report_is_routed_and_pushed_with_photos_and_location(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker, photos=2, location=(39.9, 116.4))
    card = await member.expect(f"#{number}", button="报到")
    assert "环境卫生" in card.text and "幸福社区第一网格" in card.text
    assert "报到时限：11-25 10:30" in card.text and "办结时限：11-26 10:00" in card.text
    assert [label for label, _ in card.buttons()] == ["🙋 报到", "↩️ 退回"]
    await street.settle()
    kinds = [m.kind for m in member.inbox()]
    assert kinds == ["photo", "photo", "text", "location"]
    assert len({m.raw["media_group_id"] for m in member.inbox()[:2]}) == 1
    await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    # The group reads the place on the card; the pin goes to the one who goes there.
    assert [m.kind for m in street.api.chat(CG_GROUP)] == ["photo", "photo", "text"]
    stored = await issue(street, number)
    assert (stored.state, stored.department_code, stored.assignee_id) == (
        State.DISPATCHED,
        "cg",
        1002,
    )
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [e.action for e in history] == ["report", "dispatch"]


async def test_one_photo_is_pushed_with_the_card_as_its_caption(street: Street) -> None:
    """One message per push to a group (Telegram allows a group about 20 a minute): the
    photo carries the card and its buttons, and state changes edit the caption."""
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    long_text = "楼道里堆满杂物，" * 120  # 960 characters: the card would not fit a caption
    number = await street.blow_whistle(
        worker, description=long_text, photos=1, location=(39.9, 116.4)
    )
    group_card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    assert group_card.kind == "photo" and len(street.api.chat(CG_GROUP)) == 1
    assert "楼道里堆满杂物" in group_card.text and group_card.text.count("…") == 1
    assert len(group_card.text.encode("utf-16-le")) // 2 <= 1024
    card = await member.expect(f"#{number}", button="报到")
    await street.settle()
    assert [m.kind for m in member.inbox()] == ["photo", "location"]
    await member.answer_to(await member.tap(card, "报到"))
    await street.settle()
    assert "处置中" in card.text and "处置中" in group_card.text and group_card.edits == 1
    assert {label for label, _ in card.buttons()} == HOLDER_BUTTONS
    failed = [c for c in street.api.calls if c.status != 200 and c.method.startswith("edit")]
    assert failed == []
    mark = member.mark()
    await member.send(f"/issue {number}")
    assert long_text in (await member.expect(f"#{number}", mark)).text


async def test_acknowledge_edits_the_card_in_place_and_tells_the_reporter(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    street.clock.advance(street.clock.now() - street.clock.now())
    answer = await member.answer_to(await member.tap(card, "报到"))
    assert answer == "报到成功，请尽快处置。"
    await worker.expect("张伟已报到")
    await street.settle()
    assert card.edits >= 1 and "处置中" in card.text and "报到：张伟，11-25 10:00" in card.text
    assert {label for label, _ in card.buttons()} == HOLDER_BUTTONS
    group_card = await street.api.expect(CG_GROUP, f"#{number}")
    assert "处置中" in group_card.text


async def test_second_tap_on_report_to_duty_changes_nothing(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    ack = card.button("报到")
    await member.answer_to(await member.tap(card, "报到"))
    await street.settle()
    before = street.dump()
    answer = await member.answer_to(await member.tap_data(card, ack))
    assert answer == "已由张伟报到，无需重复操作。"
    await street.settle()
    assert street.dump() == before


async def test_group_claim_race_yields_exactly_one_assignee(street: Street) -> None:
    worker = street.person(2001, "王芳")
    first, second = street.person(1003, "刘洋"), street.person(1004, "赵磊")
    number = await street.blow_whistle(worker)
    group_card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    data = group_card.button("报到")
    taps = [await first.tap_data(group_card, data), await second.tap_data(group_card, data)]
    answers = await asyncio.gather(first.answer_to(taps[0]), second.answer_to(taps[1]))
    stored = await issue(street, number)
    assert stored.state == State.ACKNOWLEDGED and stored.assignee_id in (1003, 1004)
    winner = "刘洋" if stored.assignee_id == 1003 else "赵磊"
    assert sorted(answers) == sorted(
        ["报到成功，请尽快处置。", f"已由{winner}报到，无需重复操作。"]
    )
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [e.action for e in history].count("acknowledge") == 1
    await street.settle()
    private_card = [m for m in street.person(1002).inbox() if f"#{number}" in m.text][-1]
    assert f"责任人：{winner}" in private_card.text and private_card.buttons() == []


async def test_member_of_another_department_can_neither_take_nor_see(street: Street) -> None:
    worker, outsider = street.person(2001, "王芳"), street.person(1102, "周杰")
    number = await street.blow_whistle(worker)
    card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    await outsider.send("/start")
    await outsider.expect("欢迎")
    await street.settle()
    before = street.dump()
    answer = await outsider.answer_to(await outsider.tap(card, "报到"))
    assert answer == "找不到这个问题。"
    mark = outsider.mark()
    await outsider.send(f"/issue {number}")
    assert "找不到" in (await outsider.expect("找不到", mark)).text
    assert street.dump() == before


async def test_unregistered_user_is_refused_and_nothing_changes(street: Street) -> None:
    worker, stranger = street.person(2001, "王芳"), street.person(9999, "路人")
    number = await street.blow_whistle(worker)
    card = await street.person(1002).expect(f"#{number}", button="报到")
    await street.settle()
    before = street.dump()
    for command in ("/start", "/report", f"/issue {number}", "/todo", "随便说点什么"):
        mark = stranger.mark()
        await stranger.send(command)
        await stranger.expect("仅供本街道在册人员使用", mark)
    answer = await stranger.answer_to(await stranger.tap(card, "报到"))
    assert answer is not None and "在册" in answer
    assert street.dump() == before


async def test_transfer_goes_to_admins_who_reroute_it(street: Street) -> None:
    worker, admin = street.person(2001, "王芳"), street.person(3001, "陈静")
    hb = street.person(1302, "孙敏")
    for person in (worker, admin, hb):
        await person.send("/start")
    number = await street.blow_whistle(worker, "噪音扰民", "工地夜间施工噪音")
    card = await hb.expect(f"#{number}", button="退回")
    await hb.tap(card, "退回")
    await hb.expect("退回理由")
    await hb.send("工地施工归住建办管")
    await hb.expect(f"已退回 #{number}")
    await admin.expect("工地施工归住建办管")
    admin_card = await admin.expect(f"#{number}", button="住建办")
    await worker.expect("退回：")
    stored = await issue(street, number)
    assert (stored.state, stored.assignee_id, stored.transfer_count) == (State.TRANSFERRED, None, 1)
    answer = await admin.answer_to(await admin.tap(admin_card, "住建办"))
    assert answer == f"已改派 #{number} 至住建办。"
    stored = await issue(street, number)
    assert (stored.state, stored.department_code) == (State.DISPATCHED, "zj")
    assert stored.assignee_id in (1102, 1103)
    await street.person(stored.assignee_id).expect(f"#{number}", button="报到")
    await street.api.expect(ZJ_GROUP, f"#{number}", button="报到")
    await worker.expect("已派至住建办")
    await street.settle()
    assert card.buttons() == [] and "住建办" in card.text
    assert "责任部门：住建办" in admin_card.text and "待报到" in admin_card.text
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [e.action for e in history] == ["report", "dispatch", "transfer", "reroute"]
    assert history[2].note == "工地施工归住建办管" and history[3].actor_id == 3001
    # The member who handed it on may still look it up (the timeline names them); their
    # head, who never touched it, may not once it belongs to another department.
    await hb.send(f"/issue {number}")
    await hb.expect("处置全过程")
    hb_head = street.person(1301, "陈刚")
    await hb_head.send("/start")
    await hb_head.send(f"/issue {number}")
    await hb_head.expect("找不到这个问题")


async def test_resolve_confirm_and_rate(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    await member.tap(card, "报到")
    card = await member.expect(f"#{number}", button="办结")
    mark = member.mark()
    await member.tap(card, "办结")
    await member.expect("办结说明", mark)
    await member.send("已清运并消毒")
    prompt = await member.expect("处置后照片", mark)
    await member.send_photo()
    prompt = await member.expect("已收到 1 张照片", mark)
    await member.tap(prompt, "提交")
    await member.expect(f"已办结 #{number}", mark)
    notice = await worker.expect("已清运并消毒", button="确认")
    assert any(m.kind == "photo" and "处置后照片" in m.text for m in worker.inbox())
    assert {label for label, _ in notice.buttons()} == {"👍 确认", "🔁 重办"}
    assert (await issue(street, number)).state == State.RESOLVED
    await worker.tap(notice, "确认")
    rating = await worker.expect("请评价", button="满意")
    assert [label for label, _ in rating.buttons()] == ["满意", "基本满意", "不满意"]
    satisfied = rating.button("满意")
    await worker.answer_to(await worker.tap(rating, "基本满意"))
    await member.expect("基本满意")
    stored = await issue(street, number)
    assert (stored.state, stored.rating) == (State.CLOSED, "fair")
    again = await worker.answer_to(await worker.tap_data(rating, satisfied))
    assert again == "已经评价过了，谢谢！"
    mark = worker.mark()
    await worker.send(f"/issue {number}")
    timeline = await worker.expect("处置全过程", mark)
    for step in ("上报", "派发", "报到", "办结：已清运并消毒", "确认", "评价：基本满意"):
        assert step in timeline.text


async def test_reopen_goes_back_to_the_same_member(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await street.resolve(member, number, "处理好了")
    notice = await worker.expect("处理好了", button="重办")
    await worker.tap(notice, "重办")
    await worker.expect("需要重办的原因")
    await worker.send("垃圾还在")
    await worker.expect(f"已要求 #{number} 重办")
    await member.expect("垃圾还在")
    stored = await issue(street, number)
    assert (stored.state, stored.assignee_id, stored.reopen_count) == (State.REOPENED, 1002, 1)
    await street.settle()
    card = [m for m in member.inbox() if f"#{number}" in m.text and m.buttons()][-1]
    assert "重办中" in card.text and "✅ 办结" in [label for label, _ in card.buttons()]


async def test_text_or_photo_outside_a_conversation_offers_a_report(street: Street) -> None:
    worker = street.person(2001, "王芳")
    await worker.send("路灯坏了三盏")
    offer = await worker.expect("要用这段文字开始", button="开始上报")
    await worker.tap(offer, "开始上报")
    prompt = await worker.expect("请选择问题类别")
    await worker.tap(prompt, "路灯不亮")
    await worker.expect("请发送现场照片")
    await worker.tap(await worker.expect("请发送现场照片"), "跳过")
    await worker.tap(await worker.expect("请发送位置"), "跳过")
    await worker.tap(await worker.expect("紧急程度"), "一般")
    summary = await worker.expect("请核对")
    assert "描述：路灯坏了三盏" in summary.text
    await worker.tap(summary, "提交")
    await worker.expect("已上报")
    other = street.person(2003, "李娜")
    await other.send_photo(caption="井盖丢了")
    offer = await other.expect("要用这张照片开始", button="开始上报")
    await other.tap(offer, "开始上报")
    await other.tap(await other.expect("请选择问题类别"), "井盖缺失破损")
    photos = await other.expect("请发送现场照片")
    await other.tap(photos, "完成")
    await other.tap(await other.expect("请发送位置"), "跳过")
    await other.tap(await other.expect("紧急程度"), "紧急")
    summary = await other.expect("请核对")
    assert "照片：1 张" in summary.text and "紧急程度：紧急" in summary.text


async def test_restart_mid_report_keeps_the_draft(street: Street) -> None:
    worker = street.person(2001, "王芳")
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别"), "消防隐患")
    await worker.expect("请用文字描述问题")
    await worker.send("楼道堆放杂物堵塞消防通道")
    await worker.expect("请发送现场照片")
    await street.restart()
    mark = worker.mark()
    await worker.send_photo()
    prompt = await worker.expect("已收到 1 张照片", mark)
    await worker.tap(prompt, "完成")
    await worker.tap(await worker.expect("请发送位置", mark), "跳过")
    await worker.tap(await worker.expect("紧急程度", mark), "紧急")
    summary = await worker.expect("请核对", mark)
    assert "楼道堆放杂物堵塞消防通道" in summary.text and "消防隐患" in summary.text
    await worker.tap(summary, "提交")
    await worker.expect("已上报", mark)


async def test_restart_with_open_issues_loses_nothing(street: Street) -> None:
    from whistle_testing import Fault

    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    street.api.faults = lambda method, params: (
        Fault(500) if str(params.get("chat_id")) in ("1002", str(CG_GROUP)) else None
    )
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别"), "环境卫生")
    await worker.send("垃圾堆积")
    await worker.tap(await worker.expect("请发送现场照片"), "跳过")
    await worker.tap(await worker.expect("请发送位置"), "跳过")
    await worker.tap(await worker.expect("紧急程度"), "一般")
    await worker.tap(await worker.expect("请核对"), "提交")
    await street.api.wait_for(
        lambda: street.api.pending_updates() == 0 and any(c.status == 500 for c in street.api.calls)
    )
    await asyncio.sleep(0.3)
    await street.whistle.stop()
    assert member.inbox() == []
    street.api.faults = None
    street.whistle = type(street.whistle)(street.settings, street.clock)
    await street.whistle.start()
    street.clock.advance(timedelta(seconds=5))
    card = await member.expect("#1", button="报到")
    await street.settle()
    assert len([m for m in member.inbox() if "#1" in m.text]) == 1
    await member.answer_to(await member.tap(card, "报到"))
    assert (await issue(street, 1)).state == State.ACKNOWLEDGED


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_caption_card_shortens_what_people_wrote_until_it_fits(lang: str) -> None:
    done = 1_800_000_000
    resolved = issue_record(
        acknowledged_at=done,
        resolved_at=done,
        closed_at=done,
        description="😀墙体开裂" * 300,
        urgent=True,
        address="幸福路 1 号" * 10,
        state=State.RESOLVED,
    )
    names = Names({}, {}, {}, {2001: "王芳", 1002: "张伟"})
    zone = ZoneInfo("Asia/Shanghai")
    note = "已清理<b>完毕</b>" * 200

    def card(limit: int) -> str:
        rendered = issue_card(
            lang, resolved, names, zone, Audience.ASSIGNEE, resolution_note=note, limit=limit
        )
        return strip_markup(rendered.text)

    whole, caption = card(TEXT_LIMIT), card(CAPTION_LIMIT)
    assert telegram_length(whole) > 3 * CAPTION_LIMIT
    assert CAPTION_LIMIT - 2 <= telegram_length(caption) <= CAPTION_LIMIT
    assert caption.count("…") == 2 and "已清理<b>完毕</b>" in caption
    assert whole.splitlines()[:3] == caption.splitlines()[:3]


async def test_member_loads_count_open_issues_and_the_last_dispatch(office: Services) -> None:
    """What routing's "fewest open, then longest idle" reads (one index seek per member);
    asked of the services (tests/office.py)."""
    await reported(office)
    clock(office).advance(timedelta(minutes=5))
    await reported(office)
    loads = await issue_store.member_loads(office.db.reader, [1002, 1003])
    assert loads[1002].open_issues == 2
    assert loads[1002].last_dispatched_at == office.clock.now()
    assert (loads[1003].open_issues, loads[1003].last_dispatched_at) == (0, None)


def district_with_wang_fang_moved() -> str:
    """The example district with 王芳 (2001) moved from the first grid to the second."""
    return (
        DISTRICT.read_text(encoding="utf-8")
        .replace("workers = [2001, 2002]", "workers = [2002]")
        .replace("workers = [2003]", "workers = [2001, 2003]")
    )


async def test_a_draft_for_a_grid_the_worker_left_is_dropped_on_submit(street: Street) -> None:
    worker = street.person(2001, "王芳")
    mark = worker.mark()
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别", mark), "环境卫生")
    await worker.send("垃圾桶满溢")
    await worker.tap(await worker.expect("请发送现场照片", mark), "跳过")
    await worker.tap(await worker.expect("请发送位置", mark), "跳过")
    await worker.tap(await worker.expect("紧急程度", mark), "一般")
    summary = await worker.expect("请核对", mark)
    # Meanwhile the street office moves her to another grid.
    await street.whistle.services.organisations.import_text(district_with_wang_fang_moved())
    before = [row for row in street.dump() if 'INSERT INTO "issue' in row]
    answer = await worker.answer_to(await worker.tap(summary, "提交"))
    assert answer == "所选网格已停用，请重新上报。"
    assert await street.whistle.services.reports.current(2001) is None
    assert [row for row in street.dump() if 'INSERT INTO "issue' in row] == before
    assert not [row for row in street.dump() if 'INSERT INTO "draft"' in row]


async def test_a_new_telegram_name_shows_in_the_next_notice(street: Street) -> None:
    """Names are kept in memory for cards and notices; a changed Telegram name replaces
    the one kept, not only the one stored."""
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await worker.expect("张伟")
    member.first_name = "张伟（城管）"
    await street.resolve(member, number, "已清运")
    notice = await worker.expect("已清运", button="确认")
    assert "张伟（城管）" in notice.text


async def test_a_department_moved_to_another_group_gets_its_next_push_there(
    street: Street,
) -> None:
    """The departments' groups are kept in memory with the organisation; an import that
    changes one is followed at once."""
    worker = street.person(2001, "王芳")
    first = await street.blow_whistle(worker)
    await street.api.expect(CG_GROUP, f"#{first}", button="报到")
    new_group = -1001000000099
    street.api.group(new_group, "城管新群")
    moved = DISTRICT.read_text(encoding="utf-8").replace(
        f"group_chat = {CG_GROUP}", f"group_chat = {new_group}"
    )
    await street.whistle.services.organisations.import_text(moved)
    second = await street.blow_whistle(worker, "环境卫生", "第二件")
    await street.api.expect(new_group, f"#{second}", button="报到")
    await street.settle()
    assert not [m for m in street.api.messages if m.chat_id == CG_GROUP and f"#{second}" in m.text]
