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
            if event.method == "answerCallbackQuery" and event.params.get("text"):
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
            for uid in (2001, 1002, 1302, 1102, 1103, 3001):
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

            narrator.say("\n━━ 5. 全过程（/issue）")
            quiet_before = narrator.quiet
            narrator.quiet = True
            for issue_id in (1, 2):
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
