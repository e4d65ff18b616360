"""`whistle demo`: the whole loop offline, on the loopback Bot API server and a temporary
database, with a clock that moves as the story does. No token, no network."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from bot.app import Whistle
from bot.bot_api import Method
from bot.clock import ManualClock
from bot.instance import CannotStart
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
        if kind == "user":
            self.say(f"\n👤 {self.who(event.chat_id)}: {shown(event.raw)}")
            return
        body = event.text.strip() or shown(event.raw)
        if event.raw.get("photo") and event.text.strip():
            body = f"📷 照片\n{body}"
        buttons = "  ".join(f"[{label}]" for label, _ in event.buttons())
        arrow = "✏️  改" if kind == "edit" else "🤖"
        indented = body.replace("\n", "\n      ")
        self.say(f"   {arrow} → {self.who(event.chat_id)}:\n      {indented}")
        if buttons:
            self.say(f"      {buttons}")


def shown(message: Mapping[str, object]) -> str:
    """What a message shows, for one that is not text: 📷 a photo (and its caption), 📍 a
    location or a place with its coordinates."""
    caption = str(message.get("caption") or message.get("text") or "")
    venue = message.get("venue")
    place = venue.get("location") if isinstance(venue, dict) else message.get("location")
    if isinstance(place, dict):
        where = f"{place.get('latitude', 0):.5f}, {place.get('longitude', 0):.5f}"
        if isinstance(venue, dict):
            return f"📍 地点 {venue.get('title', '')} {venue.get('address', '')}（{where}）"
        return f"📍 位置 {where}"
    if message.get("photo"):
        return f"📷 照片 {caption}".rstrip()
    return caption


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
GROUPS = {
    -1001000000001: "城管执法中队群",
    ZJ_GROUP: "住建办群",
    -1001000000004: "应急管理办群",
}
DEMO_MARK = ".whistle-demo"
"""Left in a --keep folder: the database there is the demo's, and the next run replaces it."""


@dataclass
class Stage:
    """What every scene of the demo plays on."""

    narrator: Narrator
    whistle: Whistle
    api: LoopbackBotApi
    people: dict[int, SimulatedUser]
    clock: ManualClock

    def say(self, line: str) -> None:
        self.narrator.say(line)

    async def tap(self, user: SimulatedUser, message: SentMessage, label: str) -> None:
        await _tap(self.narrator, user, message, label)

    async def settle(self) -> None:
        """Until everything the bot has queued has gone out."""
        assert self.whistle.sender is not None
        await self.whistle.sender.wait_idle()


async def _report(
    stage: Stage,
    category: str,
    description: str,
    *,
    photo: bool = False,
    place: tuple[float, float] | str,
    urgency: str = "一般",
    submit: str = "提交",
) -> None:
    """The worker's /report dialogue, each answer sent once its prompt is there (so the
    conversation prints in order)."""
    worker = stage.people[2001]
    mark = worker.mark()
    await worker.send("/report")
    await stage.tap(worker, await worker.expect("请选择问题类别", mark), category)
    await worker.expect("请用文字描述问题", mark)
    await worker.send(description)
    photos = await worker.expect("请发送现场照片", mark)
    if photo:
        await worker.send_photo()
        await stage.tap(worker, await worker.expect("已收到 1 张照片", mark), "完成")
    else:
        await stage.tap(worker, photos, "跳过")
    await worker.expect("请发送位置", mark)
    if isinstance(place, str):
        await worker.send(place)
    else:
        await worker.send_location(*place)
    await stage.tap(worker, await worker.expect("请选择紧急程度", mark), urgency)
    await stage.tap(worker, await worker.expect("请核对", mark), submit)


async def _first_report(stage: Stage) -> None:
    """1-3: a report with a photo and a location, 报到, 办结, confirmed and rated."""
    worker, cg, clock = stage.people[2001], stage.people[1002], stage.clock
    stage.say("\n━━ 1. 网格员吹哨：垃圾桶满溢（照片 + 定位）")
    await _report(
        stage,
        "环境卫生",
        "幸福路12号小区门口垃圾桶满溢，气味很大，已有三天无人清运。",
        photo=True,
        place=(39.91234, 116.40456),
    )
    await worker.expect("已上报")
    card = await cg.expect("#1", button="报到")

    stage.say("\n━━ 2. 城管承办人报到并办结")
    clock.advance(timedelta(minutes=4))
    await stage.tap(cg, card, "报到")
    await worker.expect("已报到")
    clock.advance(timedelta(minutes=50))
    await stage.tap(cg, await cg.expect("处置中", button="办结"), "办结")
    await cg.expect("办结说明")
    await cg.send("已联系环卫清运并对周边消毒，垃圾桶已更换。")
    await stage.tap(cg, await cg.expect("处置后照片"), "跳过")
    resolved = await worker.expect("已办结")

    stage.say("\n━━ 3. 网格员确认并评价")
    clock.advance(timedelta(minutes=20))
    await stage.tap(worker, resolved, "确认")
    await stage.tap(worker, await worker.expect("请评价"), "满意")
    await cg.expect("满意")


async def _handed_back(stage: Stage) -> None:
    """4: an urgent report is handed back (退回), the street reroutes it (改派), and the
    admin's card follows: 待报到 at the new department, then 处置中 without 改派."""
    worker, admin, hb = stage.people[2001], stage.people[3001], stage.people[1302]
    clock = stage.clock
    stage.say("\n━━ 4. 第二次吹哨：夜间施工噪音（紧急），被退回后改派")
    clock.advance(timedelta(minutes=5))
    mark, admin_mark = worker.mark(), admin.mark()
    await _report(
        stage,
        "噪音扰民",
        "和平路工地夜间施工，噪音很大，居民无法休息。",
        place="和平路与建设街交叉口东北角工地",
        urgency="紧急",
    )
    await worker.expect("#2", mark)
    card = await hb.expect("#2", button="退回")
    clock.advance(timedelta(minutes=3))
    hb_mark = hb.mark()
    await stage.tap(hb, card, "退回")
    await hb.expect("退回理由", hb_mark)
    await hb.send("建筑工地夜间施工属住建办监管，请改派。")
    await admin.expect("退回", admin_mark)
    admin_card = await admin.expect("#2", admin_mark, button="住建办")
    clock.advance(timedelta(minutes=6))
    await stage.tap(admin, admin_card, "住建办")
    await worker.expect("已派至住建办", mark)
    card = await stage.api.expect(ZJ_GROUP, "#2", button="报到")
    clock.advance(timedelta(minutes=2))
    stage.say("\n   （住建办群里，任何成员都可以报到，先到先得）")
    await stage.tap(stage.people[1103], card, "报到")
    await worker.expect("已报到", mark)
    await stage.settle()
    await stage.api.wait_for(
        lambda: "处置中" in admin_card.text and "改派" not in str(admin_card.buttons())
    )
    stage.say("\n   （街道的卡片随改派更新：已派至住建办，处置中，不再显示改派按钮）")


async def _whistle_asked(stage: Stage) -> None:
    """5a-5b: the worker asks for a whistle; the street summons three departments."""
    worker, admin = stage.people[2001], stage.people[3001]
    stage.say("\n━━ 5a. 联合吹哨：违建压在燃气管上，网格员申请吹哨")
    stage.clock.advance(timedelta(minutes=5))
    mark, admin_mark = worker.mark(), admin.mark()
    await _report(
        stage,
        "违章建筑",
        "幸福路8号人行道上新搭违建棚子，压在燃气管线上方，路面已开裂下沉。",
        place=SITE,
        submit="申请吹哨",
    )
    await worker.expect("提请街道吹哨", mark)

    stage.say("\n━━ 5b. 街道吹哨：召集城管（牵头）、住建、生态环境")
    await stage.tap(admin, await admin.expect("#3", admin_mark, button="吹哨"), "吹哨")
    for name in ("城管执法中队", "住建办", "生态环境分局"):
        picker = await admin.expect("请点选要召集的部门", admin_mark)
        await stage.tap(admin, picker, name)
        await admin.expect(name, admin_mark)
    await stage.tap(
        admin,
        await admin.expect("已选：城管执法中队、住建办、生态环境分局", admin_mark),
        "吹哨（已选部门）",
    )
    await admin.expect("已为 #3 吹哨", admin_mark)


async def _check_in(
    stage: Stage, member: SimulatedUser, card: SentMessage, at: tuple[float, float]
) -> None:
    await stage.settle()
    mark = member.mark()
    await stage.tap(member, card, "到场")
    await member.expect("到场签到", mark)
    mark = member.mark()
    await member.send_location(*at)
    await member.expect("距现场", mark)
    await stage.settle()


async def _arrivals(stage: Stage) -> None:
    """5c: 城管 arrives on time; 生态环境 first checks in too far away, then on site; 住建
    is reminded, its head told, and it arrives late."""
    cg, zj, hb = stage.people[1002], stage.people[1102], stage.people[1302]
    clock, api, alerts = stage.clock, stage.api, stage.whistle.services.whistles
    stage.say("\n━━ 5c. 到场：城管按时到场，生态环境先在 900 米外签到，住建被提醒后迟到")
    cg_card = await cg.expect("#3", button="报到")
    clock.advance(timedelta(minutes=2))
    await stage.tap(cg, cg_card, "报到")
    clock.advance(timedelta(minutes=8))
    await _check_in(stage, cg, await cg.expect("#3", button="到场"), SITE)
    clock.advance(timedelta(minutes=2))
    await _check_in(stage, hb, await hb.expect("#3", button="到场"), FAR)
    clock.advance(timedelta(minutes=8))
    await _check_in(stage, hb, await hb.expect("距离较远", button="到场"), SITE)
    clock.advance(timedelta(minutes=4))
    await alerts.sweep()  # 24 minutes: the reminder at 80 % of the 30-minute limit
    await api.expect(ZJ_GROUP, "尚未到场")
    clock.advance(timedelta(minutes=16))
    await alerts.sweep()  # 40 minutes: past the limit, the head of 住建办 is told
    await stage.people[1101].expect("逾期未到场")
    await _check_in(stage, zj, await api.expect(ZJ_GROUP, "#3", button="到场"), SITE)


async def _whistle_resolved(stage: Stage) -> SentMessage:
    """5d: the co-departments report their part done, then the lead resolves; the
    worker's notice of it."""
    cg, zj, hb, clock = stage.people[1002], stage.people[1102], stage.people[1302], stage.clock
    stage.say("\n━━ 5d. 配合完成，牵头部门办结（事不完、人不撤）")
    for member, note in (
        (zj, "已核查房屋结构，违建已拆除。"),
        (hb, "已检测周边土壤与空气，无燃气泄漏污染。"),
    ):
        clock.advance(timedelta(minutes=20))
        mark = member.mark()
        await stage.tap(member, await member.expect("#3", button="配合完成"), "配合完成")
        await member.expect("请写明本部门完成的工作", mark)
        mark = member.mark()
        await member.send(note)
        prompt = await member.expect("配合完成的现场照片", mark)
        if member is zj:  # with a photo of the site, as 办结 may carry
            await member.send_photo()
            prompt = await member.expect("已收到 1 张照片", mark)
            await stage.tap(member, prompt, "提交")
        else:
            await stage.tap(member, prompt, "跳过")
        await member.expect("已报 #3 配合完成", mark)
        await stage.settle()
    clock.advance(timedelta(minutes=10))
    mark = cg.mark()
    await stage.tap(cg, await cg.expect("#3", button="办结"), "办结")
    await cg.expect("办结说明", mark)
    await cg.send("违建已拆除，燃气公司复查管线正常，路面已回填。")
    await stage.tap(cg, await cg.expect("处置后照片", mark), "跳过")
    return await stage.people[2001].expect("违建已拆除，燃气公司")


async def _whistle_rated(stage: Stage, resolved: SentMessage) -> None:
    """5e: the worker confirms; the street rates each summoned department."""
    worker, admin = stage.people[2001], stage.people[3001]
    stage.say("\n━━ 5e. 网格员确认，街道逐一评价被召集的部门")
    stage.clock.advance(timedelta(minutes=15))
    admin_mark, mark = admin.mark(), worker.mark()
    await stage.tap(worker, resolved, "确认")
    await stage.tap(worker, await worker.expect("请评价", mark), "满意")
    for name, rating in (
        ("城管执法中队", "满意"),
        ("住建办", "基本满意"),
        ("生态环境分局", "满意"),
    ):
        card = await admin.expect(f"请评价 {name}", admin_mark)
        stage.say(f"\n👆 {CAST[3001]} 点击「{rating}」")
        rated = admin.mark()
        await admin.tap_data(card, next(d for label, d in card.buttons() if label == rating))
        await admin.expect(f"已评价 #3 的 {name}", rated)
        asked = await admin.expect("评价的理由", rated)
        if rating == "基本满意":  # a reason with the rating (optional)
            await admin.send("拆除及时，但未提前告知周边居民。")
            await admin.expect(f"已记下对 #3 的 {name} 的评价理由", rated)
        else:
            await stage.tap(admin, asked, "跳过")
            await admin.expect("不写理由", rated)


async def _whistle_story(stage: Stage) -> None:
    """联合吹哨: a grid worker asks for a whistle on an illegal structure over a gas main; the
    street summons 城管 (lead), 住建 and 生态环境; they arrive (one late), finish their
    parts, the lead resolves, the worker confirms and the street rates all three."""
    await _whistle_asked(stage)
    await _arrivals(stage)
    await _whistle_rated(stage, await _whistle_resolved(stage))


async def _epilogue(stage: Stage, folder: Path) -> None:
    """6-7: every issue's whole course (/issue) and the week's statistics with its chart."""
    admin, narrator = stage.people[3001], stage.narrator
    stage.say("\n━━ 6. 全过程（/issue）")
    quiet_before = narrator.quiet
    narrator.quiet = True
    for issue_id in (1, 2, 3):
        mark = admin.mark()
        await admin.send(f"/issue {issue_id}")
        history = await admin.expect("处置全过程", mark)
        stage.say(f"\n#{issue_id}\n{history.text}")

    stage.say("\n━━ 7. 本周响应统计（/stats）")
    mark = admin.mark()
    await admin.send("/stats")
    summary = await admin.expect("响应统计", mark, timeout=30)
    stage.say(summary.text)
    narrator.quiet = quiet_before
    statistics = stage.whistle.services.statistics
    bundle = await statistics.bundle(statistics.week(None), Scope(), "zh")
    chart = folder / f"whistle-{statistics.week(None)}.png"
    await asyncio.to_thread(chart.write_bytes, bundle.chart)
    stage.say(f"\nChart written to {chart}")


def _prepare_folder(keep: Path | None) -> Path:
    """The folder for the demo's database and chart: a new temporary one, or `keep`, where
    a database an earlier demo run left is replaced (one the demo did not make is refused,
    never touched)."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="whistle-demo-"))
    if keep.exists() and not keep.is_dir():
        raise CannotStart(f"{keep} is not a folder: give --keep a folder (a new one is made)")
    keep.mkdir(parents=True, exist_ok=True)
    database = keep / "whistle.db"
    # The demo writes its database and organisation file there: neither of a street's own
    # is ever replaced.
    for theirs in (database, keep / "district.toml"):
        if theirs.exists() and not (keep / DEMO_MARK).exists():
            raise CannotStart(
                f"{theirs} was not made by the demo: give --keep an empty folder, or the "
                "folder of an earlier demo run (its database is replaced)"
            )
    for path in (database, keep / "whistle.db-wal", keep / "whistle.db-shm"):
        path.unlink(missing_ok=True)
    (keep / DEMO_MARK).write_text(
        "Made by `whistle demo`: the next demo run here replaces whistle.db.\n", encoding="utf-8"
    )
    return keep


def _demo_settings(settings: Settings, api: LoopbackBotApi, folder: Path) -> Settings:
    """The settings the demo runs on: the loopback server, the folder's database and
    organisation file, fast pacing and no weekly push."""
    district = resources.files("bot") / "data" / "district.toml"
    org_file = folder / "district.toml"
    org_file.write_text(district.read_text(encoding="utf-8"), encoding="utf-8")
    return settings.model_copy(
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


async def run_demo(settings: Settings, keep: Path | None = None, quiet: bool = False) -> int:
    zone = ZoneInfo(settings.timezone or DEFAULT_ZONE)
    clock = ManualClock(_demo_start(zone))
    folder = _prepare_folder(keep)
    api = LoopbackBotApi()
    await api.start()
    for chat_id, title in GROUPS.items():
        api.group(chat_id, title)
    narrator = Narrator(api, quiet)
    people = {uid: api.user(uid, name) for uid, name in PEOPLE.items()}
    narrator.say(
        f"Whistle demo — {clock.now().astimezone(zone):%Y-%m-%d %H:%M} "
        f"({zone.key}); database {folder / 'whistle.db'}"
    )
    try:
        async with Whistle(_demo_settings(settings, api, folder), clock) as whistle:
            stage = Stage(narrator, whistle, api, people, clock)
            for uid in CAST:
                await people[uid].send("/start")
                await people[uid].expect("欢迎")
            await _first_report(stage)
            await _handed_back(stage)
            await _whistle_story(stage)
            await _epilogue(stage, folder)
        updates = sum(1 for m in api.messages if not m.from_bot)
        sent = sum(1 for c in api.calls if c.status == 200)
        narrator.say(
            f"\nDone: {updates} user messages, {sent} Bot API calls answered by the "
            f"loopback server; database kept in {folder}"
        )
    finally:
        await api.stop()
    return 0
