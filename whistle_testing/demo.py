"""`whistle demo`: the whole loop offline, on the loopback Bot API server and a temporary
database, with a clock that moves as the story does. No token, no network."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from bot.app import Whistle
from bot.bot_api import Method
from bot.clock import ManualClock
from bot.organisation import parse_organisation
from bot.services.statistics import Scope
from bot.settings import DEFAULT_ZONE, Settings
from whistle_testing import ApiCall, LoopbackBotApi, SentMessage, SimulatedUser

PEOPLE: dict[int, str] = parse_organisation(
    (resources.files("bot") / "data" / "district.toml").read_text(encoding="utf-8")
).people
"""Names of the example district's people (its [people] table)."""

CAST = {
    uid: f"{PEOPLE[uid]}（{role}）"
    for uid, role in {
        2001: "网格员",
        1002: "城管",
        1302: "生态环境",
        1102: "住建",
        1103: "住建",
        1101: "住建负责人",
        3001: "街道值班",
    }.items()
}


class Narrator:
    """Prints the conversation as it crosses the loopback server."""

    def __init__(self, api: LoopbackBotApi, quiet: bool) -> None:
        self.api = api
        self.quiet = quiet
        api.observers.append(self.observe)

    def say(self, line: str) -> None:
        print(line, flush=True)

    def who(self, chat_id: int) -> str:
        if chat_id < 0:
            return str(self.api.chat_json(chat_id).get("title", chat_id))
        return CAST.get(chat_id, PEOPLE.get(chat_id, str(chat_id)))

    def observe(self, kind: str, event: SentMessage | ApiCall) -> None:
        if self.quiet:
            return
        if isinstance(event, ApiCall):
            if event.method == Method.ANSWER_CALLBACK_QUERY and event.params.get("text"):
                self.say(f"      💬 {event.params['text']}")
            return
        body = event.text.strip() or {
            "location": "📍 位置",
            "venue": "📍 地点",
            "photo": "🖼 照片",
        }.get(event.kind, event.kind)
        if kind == "user":
            self.say(f"\n👤 {self.who(event.chat_id)}: {body}")
            return
        buttons = "  ".join(f"[{label}]" for label, _ in event.buttons())
        arrow = "✏️  改" if kind == "edit" else "🤖"
        indented = body.replace("\n", "\n      ")
        self.say(f"   {arrow} → {self.who(event.chat_id)}:\n      {indented}")
        if buttons:
            self.say(f"      {buttons}")


async def _tap(narrator: Narrator, user: SimulatedUser, message: SentMessage, label: str) -> None:
    narrator.say(f"\n👆 {CAST.get(user.id, user.id)} 点击「{label}」")
    await user.tap(message, label)


def _demo_start(zone: ZoneInfo) -> datetime:
    """Wednesday of this week, 10:00 local: the day shift of the example roster."""
    today = datetime.now(zone).date()
    wednesday = today - timedelta(days=today.weekday()) + timedelta(days=2)
    return datetime.combine(wednesday, time(10, 0), tzinfo=zone)


SITE = (39.91530, 116.40310)
FAR = (39.92340, 116.40310)  # 900 m north of the site
ZJ_GROUP = -1001000000002


async def _whistle_story(
    narrator: Narrator,
    whistle: Whistle,
    api: LoopbackBotApi,
    people: dict[int, SimulatedUser],
    clock: ManualClock,
) -> None:
    """联合吹哨: a grid worker asks for a whistle on an illegal structure over a gas main; the
    street summons 城管 (lead), 住建 and 生态环境. 城管 arrives on time; 生态环境 first checks
    in too far away, then on site; 住建 is reminded and arrives late. The co-departments
    report their part done, the lead resolves, the worker confirms, the street rates all
    three."""
    worker, admin = people[2001], people[3001]
    cg, zj, hb = people[1002], people[1102], people[1302]
    alerts = whistle.services.whistles

    async def settle() -> None:
        assert whistle.sender is not None
        await whistle.sender.wait_idle()

    async def check_in(member: SimulatedUser, card: SentMessage, at: tuple[float, float]) -> None:
        await settle()
        mark = member.mark()
        await _tap(narrator, member, card, "到场")
        await member.expect("到场签到", mark)
        mark = member.mark()
        narrator.say(f"\n📍 {CAST.get(member.id, member.id)} 发送位置 {at[0]:.5f}, {at[1]:.5f}")
        await member.send_location(*at)
        await member.expect("距现场", mark)
        await settle()

    narrator.say("\n━━ 5a. 联合吹哨：违建压在燃气管上，网格员申请吹哨")
    clock.advance(timedelta(minutes=5))
    mark, admin_mark = worker.mark(), admin.mark()
    await worker.send("/report")
    await _tap(narrator, worker, await worker.expect("请选择问题类别", mark), "违章建筑")
    await worker.send("幸福路8号人行道上新搭违建棚子，压在燃气管线上方，路面已开裂下沉。")
    await _tap(narrator, worker, await worker.expect("请发送现场照片", mark), "跳过")
    await worker.send_location(*SITE)
    await _tap(narrator, worker, await worker.expect("请选择紧急程度", mark), "一般")
    await _tap(narrator, worker, await worker.expect("请核对", mark), "申请吹哨")
    await worker.expect("提请街道吹哨", mark)

    narrator.say("\n━━ 5b. 街道吹哨：召集城管（牵头）、住建、生态环境")
    card = await admin.expect("#3", admin_mark, button="吹哨")
    await _tap(narrator, admin, card, "吹哨")
    for name in ("城管执法中队", "住建办", "生态环境分局"):
        picker = await admin.expect("请点选要召集的部门", admin_mark)
        await _tap(narrator, admin, picker, name)
        await admin.expect(name, admin_mark)
    await _tap(
        narrator,
        admin,
        await admin.expect("已选：城管执法中队、住建办、生态环境分局", admin_mark),
        "吹哨（已选部门）",
    )
    await admin.expect("已为 #3 吹哨", admin_mark)

    narrator.say("\n━━ 5c. 到场：城管按时到场，生态环境先在 900 米外签到，住建被提醒后迟到")
    cg_card = await cg.expect("#3", button="报到")
    clock.advance(timedelta(minutes=2))
    await _tap(narrator, cg, cg_card, "报到")
    clock.advance(timedelta(minutes=8))
    await check_in(cg, await cg.expect("#3", button="到场"), SITE)
    clock.advance(timedelta(minutes=2))
    hb_card = await hb.expect("#3", button="到场")
    await check_in(hb, hb_card, FAR)
    clock.advance(timedelta(minutes=8))
    await check_in(hb, await hb.expect("距离较远", button="到场"), SITE)
    clock.advance(timedelta(minutes=4))
    await alerts.sweep()  # 24 minutes: the reminder at 80 % of the 30-minute limit
    await api.expect(ZJ_GROUP, "尚未到场")
    clock.advance(timedelta(minutes=16))
    await alerts.sweep()  # 40 minutes: past the limit, the head of 住建办 is told
    await people[1101].expect("逾期未到场")
    await check_in(zj, await api.expect(ZJ_GROUP, "#3", button="到场"), SITE)

    narrator.say("\n━━ 5d. 配合完成，牵头部门办结（事不完、人不撤）")
    for member, note in (
        (zj, "已核查房屋结构，违建已拆除。"),
        (hb, "已检测周边土壤与空气，无燃气泄漏污染。"),
    ):
        clock.advance(timedelta(minutes=20))
        mark = member.mark()
        await _tap(narrator, member, await member.expect("#3", button="配合完成"), "配合完成")
        await member.expect("请写明本部门完成的工作", mark)
        mark = member.mark()
        await member.send(note)
        prompt = await member.expect("配合完成的现场照片", mark)
        if member is zj:  # with a photo of the site, as 办结 may carry
            await member.send_photo()
            prompt = await member.expect("已收到 1 张照片", mark)
            await _tap(narrator, member, prompt, "提交")
        else:
            await _tap(narrator, member, prompt, "跳过")
        await member.expect("已报 #3 配合完成", mark)
        await settle()
    clock.advance(timedelta(minutes=10))
    mark = cg.mark()
    await _tap(narrator, cg, await cg.expect("#3", button="办结"), "办结")
    await cg.expect("办结说明", mark)
    await cg.send("违建已拆除，燃气公司复查管线正常，路面已回填。")
    await _tap(narrator, cg, await cg.expect("处置后照片", mark), "跳过")
    resolved = await worker.expect("违建已拆除，燃气公司")

    narrator.say("\n━━ 5e. 网格员确认，街道逐一评价被召集的部门")
    clock.advance(timedelta(minutes=15))
    admin_mark, mark = admin.mark(), worker.mark()
    await _tap(narrator, worker, resolved, "确认")
    await _tap(narrator, worker, await worker.expect("请评价", mark), "满意")
    for name, rating in (
        ("城管执法中队", "满意"),
        ("住建办", "基本满意"),
        ("生态环境分局", "满意"),
    ):
        card = await admin.expect(f"请评价 {name}", admin_mark)
        narrator.say(f"\n👆 {CAST[3001]} 点击「{rating}」")
        rated = admin.mark()
        await admin.tap_data(card, next(d for label, d in card.buttons() if label == rating))
        await admin.expect(f"已评价 #3 的 {name}", rated)
        asked = await admin.expect("评价的理由", rated)
        if rating == "基本满意":  # a reason with the rating (optional)
            await admin.send("拆除及时，但未提前告知周边居民。")
            await admin.expect(f"已记下对 #3 的 {name} 的评价理由", rated)
        else:
            await _tap(narrator, admin, asked, "跳过")
            await admin.expect("不写理由", rated)


async def run_demo(settings: Settings, keep: Path | None = None, quiet: bool = False) -> int:
    zone = ZoneInfo(settings.timezone or DEFAULT_ZONE)
    clock = ManualClock(_demo_start(zone))
    folder = keep or Path(tempfile.mkdtemp(prefix="whistle-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    district = resources.files("bot") / "data" / "district.toml"
    org_file = folder / "district.toml"
    org_file.write_text(district.read_text(encoding="utf-8"), encoding="utf-8")
    api = LoopbackBotApi()
    await api.start()
    for chat_id, title in (
        (-1001000000001, "城管执法中队群"),
        (-1001000000002, "住建办群"),
        (-1001000000004, "应急管理办群"),
    ):
        api.group(chat_id, title)
    narrator = Narrator(api, quiet)
    demo_settings = settings.model_copy(
        update={
            "telegram_token": SecretStr(api.token),
            "telegram_api_url": api.base_url,
            "telegram_file_url": api.file_url,
            "database": folder / "whistle.db",
            "org_file": org_file,
            "admin_ids": [3001],
            "poll_timeout_seconds": 1,
            "send_rate_private_chat": 20.0,
            "send_rate_group_per_minute": 600.0,
            "weekly_stats": False,
        }
    )
    people = {uid: api.user(uid, name) for uid, name in PEOPLE.items()}
    worker, admin = people[2001], people[3001]
    narrator.say(
        f"Whistle demo — {clock.now().astimezone(zone):%Y-%m-%d %H:%M} "
        f"({zone.key}); database {folder / 'whistle.db'}"
    )
    try:
        async with Whistle(demo_settings, clock) as whistle:
            for uid in (2001, 1002, 1302, 1102, 1103, 1101, 3001):
                await people[uid].send("/start")
                await people[uid].expect("欢迎")

            narrator.say("\n━━ 1. 网格员吹哨：垃圾桶满溢（照片 + 定位）")
            await worker.send("/report")
            await _tap(narrator, worker, await worker.expect("请选择问题类别"), "环境卫生")
            await worker.expect("请用文字描述问题")
            await worker.send("幸福路12号小区门口垃圾桶满溢，气味很大，已有三天无人清运。")
            mark = worker.mark()
            await worker.send_photo()
            await _tap(narrator, worker, await worker.expect("已收到 1 张照片", mark), "完成")
            await worker.expect("请发送位置")
            await worker.send_location(39.91234, 116.40456)
            await _tap(narrator, worker, await worker.expect("紧急程度"), "一般")
            await _tap(narrator, worker, await worker.expect("请核对"), "提交")
            await worker.expect("已上报")
            card = await people[1002].expect("#1", button="报到")

            narrator.say("\n━━ 2. 城管党员报到并办结")
            clock.advance(timedelta(minutes=4))
            await _tap(narrator, people[1002], card, "报到")
            await worker.expect("已报到")
            clock.advance(timedelta(minutes=50))
            card = await people[1002].expect("处置中", button="办结")
            await _tap(narrator, people[1002], card, "办结")
            await people[1002].expect("办结说明")
            await people[1002].send("已联系环卫清运并对周边消毒，垃圾桶已更换。")
            await _tap(narrator, people[1002], await people[1002].expect("处置后照片"), "跳过")
            resolved = await worker.expect("已办结")

            narrator.say("\n━━ 3. 网格员确认并评价")
            clock.advance(timedelta(minutes=20))
            await _tap(narrator, worker, resolved, "确认")
            await _tap(narrator, worker, await worker.expect("请评价"), "满意")
            await people[1002].expect("满意")

            narrator.say("\n━━ 4. 第二次吹哨：夜间施工噪音（紧急），被退回后改派")
            clock.advance(timedelta(minutes=5))
            mark = worker.mark()
            await worker.send("/report")
            await _tap(narrator, worker, await worker.expect("请选择问题类别", mark), "噪音扰民")
            await worker.send("和平路工地夜间施工，噪音很大，居民无法休息。")
            await _tap(narrator, worker, await worker.expect("请发送现场照片", mark), "跳过")
            await worker.send("和平路与建设街交叉口东北角工地")
            await _tap(narrator, worker, await worker.expect("紧急程度", mark), "紧急")
            await _tap(narrator, worker, await worker.expect("请核对", mark), "提交")
            await worker.expect("#2", mark)
            card = await people[1302].expect("#2", button="退回")
            clock.advance(timedelta(minutes=3))
            await _tap(narrator, people[1302], card, "退回")
            await people[1302].expect("退回理由")
            await people[1302].send("建筑工地夜间施工属住建办监管，请改派。")
            await admin.expect("退回")
            admin_card = await admin.expect("#2", button="住建办")
            clock.advance(timedelta(minutes=6))
            await _tap(narrator, admin, admin_card, "住建办")
            await worker.expect("住建办")
            card = await api.expect(-1001000000002, "#2", button="报到")
            clock.advance(timedelta(minutes=2))
            narrator.say("\n   （住建办群里，任何成员都可以报到，先到先得）")
            await _tap(narrator, people[1103], card, "报到")
            await worker.expect("已报到", mark)

            await _whistle_story(narrator, whistle, api, people, clock)

            narrator.say("\n━━ 5. 全过程（/issue）")
            quiet_before = narrator.quiet
            narrator.quiet = True
            for issue_id in (1, 2, 3):
                mark = admin.mark()
                await admin.send(f"/issue {issue_id}")
                history = await admin.expect("处置全过程", mark)
                narrator.say(f"\n#{issue_id}\n{history.text}")
            narrator.quiet = quiet_before

            narrator.say("\n━━ 6. 本周响应统计（/stats）")
            narrator.quiet = True
            mark = admin.mark()
            await admin.send("/stats")
            summary = await admin.expect("响应统计", mark, timeout=30)
            narrator.say(summary.text)
            narrator.quiet = quiet_before
            statistics = whistle.services.statistics
            bundle = await statistics.bundle(statistics.week(None), Scope(), "zh")
            chart = folder / f"whistle-{statistics.week(None)}.png"
            await asyncio.to_thread(chart.write_bytes, bundle.chart)
            narrator.say(f"\nChart written to {chart}")
        updates = sum(1 for m in api.messages if not m.from_bot)
        sent = sum(1 for c in api.calls if c.status == 200)
        narrator.say(
            f"\nDone: {updates} user messages, {sent} Bot API calls answered by the "
            f"loopback server; database kept in {folder}"
        )
    finally:
        await api.stop()
    return 0
