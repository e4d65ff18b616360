"""联合吹哨 end to end over HTTP: the admin summons departments (by command and by buttons),
each reports on site (到场) with its location, inside or outside the radius; late
arrivals are reminded and escalated."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.stats_views import report_json, report_text
from bot.whistles import EARTH_RADIUS_METERS
from storage import issues as issue_store
from storage import whistles as whistle_store
from tests.conftest import WEDNESDAY_MORNING, Street
from whistle_testing import SimulatedUser

SITE = (39.9087, 116.3975)
ZJ_GROUP = -1001000000002


def north(meters: float) -> tuple[float, float]:
    return (SITE[0] + math.degrees(meters / EARTH_RADIUS_METERS), SITE[1])


async def reported(street: Street, *, location: bool = True) -> int:
    return await street.blow_whistle(
        street.person(2001),
        "违章建筑",
        "人行道上搭了违建棚子，压着燃气管",
        location=SITE if location else None,
    )


async def summoned_by_command(street: Street, *codes: str) -> int:
    number = await reported(street)
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/whistle {number} {' '.join(codes)}")
    await admin.expect(f"已为 #{number} 吹哨", mark)
    await street.settle()
    return number


async def arrive(
    street: Street, member: SimulatedUser, number: int, at: tuple[float, float], answer: str
) -> None:
    mark = member.mark()
    card = await member.expect(f"#{number}", button="到场")
    await member.tap(card, "到场")
    await member.expect("到场签到：请发送您当前的位置", mark)
    await member.send_location(*at)
    await member.expect(answer, mark)
    await street.settle()


async def test_summons_by_command_pushes_every_department_with_the_card(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    for chat in (1002, ZJ_GROUP, 1302):
        await street.api.expect(chat, "街道召集")
        card = await street.api.expect(chat, "联合吹哨 · 牵头：城管执法中队")
        assert "城管执法中队（牵头）：待到场（10:30 前）" in card.text
        assert "住建办：待到场" in card.text and "生态环境分局：待到场" in card.text
    # Each chat's 到场 is its own department's.
    zj_card = await street.api.expect(ZJ_GROUP, "联合吹哨 · 牵头", button="到场")
    assert zj_card.button("到场") == f"wa:{number}:zj"
    stored = await whistle_store.summoned(street.whistle.db.reader, number)
    assert [(s.department_code, s.state) for s in stored] == [
        ("cg", "summoned"),
        ("zj", "summoned"),
        ("hb", "summoned"),
    ]
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [e.note for e in history if e.action == "whistle"] == [
        "城管执法中队、住建办、生态环境分局"
    ]


async def test_whistle_is_for_admins_and_bad_input_changes_nothing(street: Street) -> None:
    number = await reported(street)
    member, admin = street.person(1002), street.person(3001)
    for person in (member, admin):  # seen once: their later messages change nothing
        mark = person.mark()
        await person.send("/help")
        await person.expect("", mark)
    await street.settle()
    before = street.dump()
    mark = member.mark()
    await member.send(f"/whistle {number} cg zj")
    await member.expect("仅限街道管理员", mark)
    mark = admin.mark()
    await admin.send(f"/whistle {number} cg nosuch")
    await admin.expect("找不到部门 nosuch", mark)
    await admin.send("/whistle")
    await admin.expect("用法：/whistle", mark)
    await admin.send("/whistle 9999 cg")
    await admin.expect("找不到", mark)
    await street.settle()
    assert street.dump() == before


async def test_summons_by_buttons_and_a_missing_place_is_asked_for(street: Street) -> None:
    number = await reported(street, location=False)
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/issue {number}")
    card = await admin.expect(f"#{number}", mark, button="吹哨")
    await admin.tap(card, "吹哨")
    picker = await admin.expect("请点选要召集的部门", mark)
    await admin.tap(picker, "住建办")
    picker = await admin.expect("已选：住建办", mark)
    await admin.tap(picker, "应急管理办")
    picker = await admin.expect("已选：住建办、应急管理办", mark)
    await admin.tap(picker, "吹哨（已选部门）")
    await admin.expect(f"#{number} 没有位置", mark)
    await admin.send_location(*SITE)
    await admin.expect(f"已为 #{number} 吹哨：住建办、应急管理办", mark)
    await street.settle()
    whistle = await whistle_store.get_whistle(street.whistle.db.reader, number)
    assert whistle is not None and whistle.lead == "zj"
    assert (whistle.latitude, whistle.longitude) == SITE
    issue = await issue_store.get_issue(street.whistle.db.reader, number)
    assert issue is not None and issue.department_code == "zj"  # the lead holds the issue
    await street.api.expect(-1001000000004, "应急管理办：待到场", button="到场")


async def test_arrival_inside_and_outside_the_radius(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    inside, far = street.person(1102), street.person(1302)
    street.clock.advance(timedelta(minutes=12))
    await arrive(street, inside, number, north(299.6), "已到场 10:12，距现场 300 米")
    card = await street.api.expect(1302, "住建办：已到场 10:12（距现场 300 米，")
    assert "生态环境分局：待到场" in card.text
    admin = street.person(3001)
    mark = admin.mark()
    await arrive(street, far, number, north(1200), "您距现场 1200 米，超过 300 米")
    await admin.expect("在距现场 1200 米处签到", mark)
    await street.api.expect(1002, "生态环境分局：距离较远（1200 米），待到场")
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "hb")
    assert stored is not None and stored.state == "far" and stored.arrived_at is None
    street.clock.advance(timedelta(minutes=3))
    await arrive(street, far, number, north(85), "已到场 10:15，距现场 85 米")
    card = await street.api.expect(1002, "生态环境分局：已到场 10:15（距现场 85 米，")
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [
        (e.action, e.department_code, e.note)
        for e in history
        if "arrive" in e.action or "check_in" in e.action
    ] == [
        ("arrive", "zj", "300 m"),
        ("check_in_far", "hb", "1200 m"),
        ("arrive", "hb", "85 m"),
    ]
    # Arrived: no 到场 button any more, and a second check-in is refused.
    zj_card = await street.api.expect(ZJ_GROUP, "住建办：已到场")
    assert all("到场" not in label for label, _ in zj_card.buttons())


async def test_late_arrival_is_reminded_then_escalated(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    alerts = street.whistle.services.whistles

    async def at(minutes: float) -> int:
        street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=minutes))
        fired = await alerts.sweep()
        await street.settle()
        return fired

    assert await at(23.9) == 0
    assert await at(24) == 2  # both departments: 80 % of 30 minutes
    await street.api.expect(ZJ_GROUP, f"#{number} 联合吹哨：住建办 尚未到场，还剩 6 分钟")
    await arrive(street, street.person(1002), number, SITE, "已到场")
    assert await at(30) == 1  # the head of zj only: cg is on site
    await street.person(1101).expect(f"#{number} 联合吹哨：住建办 逾期未到场")
    card = await street.api.expect(ZJ_GROUP, "住建办：逾期未到场")
    assert card.button("到场") == f"wa:{number}:zj"  # may still check in
    assert await at(60) == 1
    await street.person(3001).expect(f"#{number} 联合吹哨：住建办 逾期未到场已超过 30 分钟")
    street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=65))
    await arrive(street, street.person(1102), number, SITE, "（已超过到场时限）")
    assert await at(600) == 0
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.state == "arrived"


async def all_on_site(street: Street, number: int) -> None:
    lead = street.person(1002)
    await lead.tap(await lead.expect(f"#{number}", button="报到"), "报到")
    await lead.expect(f"#{number}", button="办结")
    for uid in (1002, 1102, 1302):
        await arrive(street, street.person(uid), number, SITE, "已到场")


async def co_done(street: Street, member: SimulatedUser, number: int, note: str) -> None:
    mark = member.mark()
    await member.tap(await member.expect(f"#{number}", button="配合完成"), "配合完成")
    await member.expect("请写明本部门完成的工作", mark)
    await member.send(note)
    await member.tap(await member.expect("配合完成的现场照片", mark), "跳过")
    await member.expect(f"已报 #{number} 配合完成", mark)
    await street.settle()


async def resolved_whistle(street: Street) -> int:
    """One whistle of three: cg (张伟) on site on time after 10 minutes at 0 m, zj (周杰)
    late after 40 at 20 m, hb (孙敏) too far then on site after 20 at 85 m; zj and hb
    report 配合完成 and 张伟 resolves it (办结). Its number."""
    number = await summoned_by_command(street, "cg", "zj", "hb")
    lead = street.person(1002)
    await lead.tap(await lead.expect(f"#{number}", button="报到"), "报到")
    for minutes, uid, at, answer in (
        (10, 1002, SITE, "已到场"),
        (15, 1302, north(900), "您距现场 900 米"),
        (20, 1302, north(85), "已到场"),
        (40, 1102, north(20), "（已超过到场时限）"),
    ):
        street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=minutes))
        await arrive(street, street.person(uid), number, at, answer)
    await co_done(street, street.person(1102), number, "已拆除")
    await co_done(street, street.person(1302), number, "无污染")
    await street.resolve(lead, number, "违建已拆除")
    return number


async def test_lead_resolves_after_co_done_or_an_override_and_reopen_brings_all_back(
    street: Street,
) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    await all_on_site(street, number)
    lead, worker, admin = street.person(1002), street.person(2001), street.person(3001)
    # Co-departments are on site but not done: the lead's 办结 is refused, nothing asked.
    query = await lead.tap(await lead.expect(f"#{number}", button="办结"), "办结")
    refused = await lead.answer_to(query)
    assert (
        refused
        == f"#{number} 还不能办结：住建办、生态环境分局 尚未配合完成（或请街道说明理由后放行）。"
    )
    # The lead's own card has no 配合完成 (the lead finishes with 办结).
    assert all("配合完成" not in label for label, _ in (await lead.expect(f"#{number}")).buttons())
    mark = lead.mark()
    await co_done(street, street.person(1102), number, "已拆除棚子骨架")
    await lead.expect(f"#{number} 联合吹哨：住建办 已配合完成：已拆除棚子骨架", mark)
    query = await lead.tap(await lead.expect(f"#{number}", button="办结"), "办结")
    assert "生态环境分局 尚未配合完成" in (await lead.answer_to(query) or "")
    # The admin lets it through with a reason.
    mark = admin.mark()
    await admin.send(f"/whistle {number} override")
    await admin.expect("请写明理由", mark)
    await admin.send(f"/whistle {number} override 环保检测明天出结果，不影响拆除")
    await admin.expect(f"已放行 #{number} 的办结", mark)
    await street.settle()
    await street.resolve(lead, number, "违建已拆除，燃气管复查正常")
    card = await street.api.expect(ZJ_GROUP, "住建办：已到场")
    assert "配合完成" in card.text
    # 重办 brings every department back; the override no longer holds.
    mark = worker.mark()
    await worker.tap(await worker.expect("违建已拆除", button="重办"), "重办")
    await worker.expect("需要重办的原因", mark)
    await worker.send("棚子又搭起来了")
    await worker.expect(f"已要求 #{number} 重办", mark)
    await street.settle()
    await street.api.expect(ZJ_GROUP, f"#{number} 重办：住建办 请继续配合（棚子又搭起来了）")
    await street.person(1302).expect(f"#{number} 重办：生态环境分局 请继续配合")  # no group
    stored = await whistle_store.summoned(street.whistle.db.reader, number)
    assert {s.department_code: s.state for s in stored} == {
        "cg": "arrived",
        "zj": "arrived",
        "hb": "arrived",
    }
    query = await lead.tap(await lead.expect(f"#{number}", button="办结"), "办结")
    assert "住建办、生态环境分局 尚未配合完成" in (await lead.answer_to(query) or "")
    history = [e.action for e in await issue_store.events(street.whistle.db.reader, number)]
    assert "co_done" in history and "whistle_override" in history


async def test_admin_adds_and_releases_departments_with_a_reason(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/whistle {number} add hb 有油污渗入土壤")
    await admin.expect(f"已为 #{number} 增派 生态环境分局", mark)
    await street.settle()
    await street.person(1302).expect(f"#{number}：街道召集 生态环境分局 到场")
    await admin.send(f"/whistle {number} add hb 再来一次")
    await admin.expect("生态环境分局 已在召集之列", mark)
    await admin.send(f"/whistle {number} release zj")
    await admin.expect("请写明理由", mark)
    await admin.send(f"/whistle {number} release cg 牵头")
    await admin.expect("牵头部门不能释放", mark)
    await admin.send(f"/whistle {number} release zj 经核实不涉及房屋结构")
    await admin.expect(f"已释放 #{number} 的 住建办", mark)
    await street.settle()
    await street.api.expect(ZJ_GROUP, f"#{number}：街道已释放 住建办（经核实不涉及房屋结构）")
    card = await street.api.expect(ZJ_GROUP, "住建办：已释放")
    assert all("到场" not in label for label, _ in card.buttons())
    # Released: its arrival alerts stop.
    street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=120))
    await street.whistle.services.whistles.sweep()
    await street.settle()
    assert not [m for m in street.person(1101).inbox() if "住建办 逾期未到场" in m.text]
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [(e.action, e.department_code, e.note) for e in history if e.actor_id == 3001][1:] == [
        ("summon", "hb", "有油污渗入土壤"),
        ("release_department", "zj", "经核实不涉及房屋结构"),
    ]


async def test_the_street_rates_each_department_after_confirmation(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    await all_on_site(street, number)
    await co_done(street, street.person(1102), number, "已拆除")
    await co_done(street, street.person(1302), number, "土壤无污染")
    lead, worker, admin = street.person(1002), street.person(2001), street.person(3001)
    await street.resolve(lead, number, "违建已拆除")
    mark = admin.mark()
    await worker.tap(await worker.expect("违建已拆除", button="确认"), "确认")
    await street.settle()
    cards = {}
    for name in ("城管执法中队", "住建办", "生态环境分局"):
        cards[name] = await admin.expect(f"请评价 {name} 在 #{number}", mark, button="满意")
    again = cards["生态环境分局"].button("满意")
    await admin.tap(cards["城管执法中队"], "满意")
    await admin.expect(f"已评价 #{number} 的 城管执法中队", mark)
    await admin.tap(cards["住建办"], "基本满意")
    await admin.expect(f"已评价 #{number} 的 住建办", mark)
    await admin.tap(cards["生态环境分局"], "不满意")
    await admin.expect(f"已评价 #{number} 的 生态环境分局", mark)
    query = await admin.tap_data(cards["生态环境分局"], again)  # a second rating: refused
    assert await admin.answer_to(query) == "已经评价过了，谢谢！"
    await street.settle()
    await street.api.expect(ZJ_GROUP, f"#{number}：街道对 住建办 的评价：基本满意")
    stored = await whistle_store.summoned(street.whistle.db.reader, number)
    assert {s.department_code: s.street_rating for s in stored} == {
        "cg": "satisfied",
        "zj": "fair",
        "hb": "dissatisfied",
    }


async def test_the_whistle_figures(street: Street) -> None:
    """One whistle of three: cg on site on time after 10 minutes, zj late (after 40), hb
    too far then on site after 20; rated 满意 / 不满意 / 基本满意. It counts once in
    `received`, under the lead."""
    number = await resolved_whistle(street)
    worker, admin = street.person(2001), street.person(3001)
    mark = admin.mark()
    await worker.tap(await worker.expect("违建已拆除", button="确认"), "确认")
    for name, rating in (
        ("城管执法中队", "满意"),
        ("住建办", "不满意"),
        ("生态环境分局", "基本满意"),
    ):
        card = await admin.expect(f"请评价 {name} 在 #{number}", mark, button="满意")
        await admin.tap_data(card, next(d for label, d in card.buttons() if label == rating))
        await admin.expect(f"已评价 #{number} 的 {name}", mark)
    statistics = street.whistle.services.statistics
    report = await statistics.report(statistics.week(None))
    body = report_json(report, await statistics.names())
    overall = body["overall"]
    assert overall["received"] == 1
    assert {k: overall[k] for k in WHISTLE_KEYS} == {
        "whistles": 3,
        "arrived": 3,
        "arrived_on_time": 2,
        "on_site_rate": 2 / 3,
        "arrive_median_seconds": 20 * 60,
        "arrive_p90_seconds": 40 * 60,
        "street_rated": 3,
        "street_satisfied": 2,
        "street_satisfaction_rate": 2 / 3,
    }
    by_department = {d["key"]: d for d in body["departments"]}
    assert by_department["cg"]["received"] == 1
    assert by_department["zj"]["received"] == 0 and by_department["hb"]["received"] == 0
    assert {k: by_department["zj"][k] for k in WHISTLE_KEYS} == {
        "whistles": 1,
        "arrived": 1,
        "arrived_on_time": 0,
        "on_site_rate": 0.0,
        "arrive_median_seconds": 40 * 60,
        "arrive_p90_seconds": 40 * 60,
        "street_rated": 1,
        "street_satisfied": 0,
        "street_satisfaction_rate": 0.0,
    }
    for group in (*body["departments"], *body["grids"], *body["categories"], *body["members"]):
        assert set(WHISTLE_KEYS) <= set(group)
    assert body["grids"][0]["whistles"] == 3 and body["categories"][0]["whistles"] == 3
    lang = "zh"
    weekly = report_text(lang, report, await statistics.names(), street.whistle.services.zone, "")
    assert "联合吹哨：召集部门 3 次，到场 3 次（按时 2 次），按时到场率 67%" in weekly
    assert "住建办：召集 1 次，按时到场率 0%" in weekly


WHISTLE_KEYS = (
    "whistles",
    "arrived",
    "arrived_on_time",
    "on_site_rate",
    "arrive_median_seconds",
    "arrive_p90_seconds",
    "street_rated",
    "street_satisfied",
    "street_satisfaction_rate",
)


async def test_a_worker_asks_for_a_whistle_at_the_review_step(street: Street) -> None:
    worker, admin = street.person(2001), street.person(3001)
    mark = worker.mark()
    admin_mark = admin.mark()
    await street.open_report(worker, "违章建筑")
    await worker.send("燃气管上方路面下沉，旁边有违建")
    await worker.tap(await worker.expect("请发送现场照片", mark), "跳过")
    await worker.expect("请发送位置", mark)
    await worker.send_location(*SITE)
    await worker.tap(await worker.expect("请选择紧急程度", mark), "一般")
    await worker.tap(await worker.expect("请核对", mark, button="申请吹哨"), "申请吹哨")
    receipt = await worker.expect("并已提请街道吹哨", mark)
    number = int(receipt.text.split("#")[1].split("，")[0])
    await street.settle()
    issue = await issue_store.get_issue(street.whistle.db.reader, number)
    assert issue is not None and issue.state == "reported" and issue.department_code is None
    await admin.expect(f"王芳 申请为 #{number}（违章建筑）吹哨", admin_mark)
    card = await admin.expect(f"#{number}", admin_mark, button="吹哨")
    await admin.tap(card, "吹哨")
    picker = await admin.expect("请点选要召集的部门", admin_mark)
    await admin.tap(picker, "城管执法中队")
    picker = await admin.expect("已选：城管执法中队", admin_mark)
    await admin.tap(picker, "住建办")
    picker = await admin.expect("已选：城管执法中队、住建办", admin_mark)
    await admin.tap(picker, "吹哨（已选部门）")
    await admin.expect(f"已为 #{number} 吹哨：城管执法中队、住建办", admin_mark)
    await street.settle()
    issue = await issue_store.get_issue(street.whistle.db.reader, number)
    assert issue is not None and issue.state == "dispatched" and issue.department_code == "cg"
    await street.person(1002).expect("城管执法中队（牵头）：待到场", button="到场")


async def test_the_group_card_checks_in_and_whistle_stays_private(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    member = street.person(1103)
    card = await street.api.expect(ZJ_GROUP, "住建办：待到场", button="到场")
    mark = member.mark()
    await member.tap(card, "到场")
    await member.expect(f"#{number} 到场签到：请发送您当前的位置", mark)
    await member.send_location(*north(40))
    await member.expect("距现场 40 米", mark)
    await street.settle()
    await street.api.expect(ZJ_GROUP, "住建办：已到场 10:00（距现场 40 米，")
    # Somebody of another department cannot check in for zj, even from a private chat.
    outsider = street.person(1302)
    query = await outsider.tap_data(card, f"wa:{number}:zj")
    assert await outsider.answer_to(query) == "您无权执行这个操作。"
    # /whistle in a group: the private-chat hint, nothing else.
    admin = street.person(3001)
    await admin.send(f"/whistle {number} add hb 试试", chat_id=ZJ_GROUP)
    await street.api.expect(ZJ_GROUP, "请在与机器人的私聊中使用这个命令")
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "hb")
    assert stored is None


async def test_the_timeline_shows_every_whistle_step(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    street.clock.advance(timedelta(minutes=5))
    await arrive(street, street.person(1102), number, north(700), "您距现场 700 米")
    await arrive(street, street.person(1102), number, north(20), "已到场")
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send(f"/issue {number}")
    history = await admin.expect("处置全过程", mark)
    assert "陈静 · 联合吹哨：城管执法中队、住建办" in history.text
    assert "周杰 · 距离较远的签到 · 住建办：700 m" in history.text
    assert "周杰 · 到场 · 住建办：20 m" in history.text


async def test_a_live_location_counts_by_its_first_point(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    member = street.person(1102)
    mark = member.mark()
    await member.tap(await member.expect(f"#{number}", button="到场"), "到场")
    await member.expect("到场签到", mark)
    lat, lon = north(120)
    await member.send_raw({"location": {"latitude": lat, "longitude": lon, "live_period": 900}})
    await member.expect("已到场 10:00，距现场 120 米", mark)
    photo = await member.send_photo()  # the optional photo of the scene
    await member.expect(f"已附上 #{number} 的现场照片", mark)
    assert await whistle_store.checkin_photos(street.whistle.db.reader, number) == [("zj", photo)]
    admin = street.person(3001)  # the timeline counts the check-in's photo
    mark = admin.mark()
    await admin.send(f"/issue {number}")
    history = await admin.expect("处置全过程", mark)
    assert "周杰 · 到场 · 住建办：120 m（附照片 1 张）" in history.text
    # Text instead of a location: asked again, nothing changes.
    number2 = await summoned_by_command(street, "zj")
    mark = member.mark()
    await member.tap(await member.expect(f"#{number2}", button="到场"), "到场")
    await member.expect(f"#{number2} 到场签到", mark)
    await member.send("我到了")
    await member.expect("请发送位置", mark)
    stored = await whistle_store.get_summons(street.whistle.db.reader, number2, "zj")
    assert stored is not None and stored.state == "summoned"
