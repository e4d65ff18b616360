"""Rules that were tested by starting a whole street over HTTP, now asked of the services
directly (tests/office.py): which figures a person's /stats covers, which weeks the weekly
report is pushed for, what the statistics count, when reminders and escalations fire.
The paths a person takes (/stats answered with its chart and file, the weekly report
delivered once, extension requests, a reminder due while the bot was down) stay end to
end in tests/test_stats_push.py, tests/test_extensions.py and tests/test_escalation.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.closures import ClosureKind
from bot.extensions import Kind
from bot.i18n import text
from bot.services import Refused, Services
from bot.services import statistics as statistics_module
from bot.stats import week_label
from storage import extensions as extension_store
from storage import issues as issue_store
from tests.conftest import DISTRICT, WEDNESDAY_MORNING
from tests.office import ADMIN, WORKER, clock, no_chart, queued, queued_texts, reported, rows

MEMBER, HEAD = 1002, 1001  # 张伟 and the head of 城管 (cg), which owns sanitation
HEAD_OF_ZJ = 1101


@pytest.fixture(autouse=True)
def _figures_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart is drawn in a child process (tested in tests/test_chart_process.py); these
    tests are about the figures and who gets them."""
    monkeypatch.setattr(statistics_module, "chart_in_child", no_chart)


async def stats_answer(office: Services, user_id: int, argument: str | None = None) -> str:
    """What /stats [argument] answers `user_id` with (bundle text, or the refusal's text),
    asked as the handler asks: the person's scope, the week, the bundle."""
    statistics = office.statistics
    try:
        scope = statistics.scope_for(await office.people.actor(user_id))
        week = statistics.week(argument)
    except Refused as refused:
        return str(text("zh", refused.key, **refused.values))
    return str((await statistics.bundle(week, scope, "zh", with_csv=False)).text)


async def first_imported_long_ago(office: Services) -> None:
    """The street has been on Whistle long before these weeks (a fresh install pushes no
    report about weeks before its first import)."""
    async with office.db.write() as tx:
        await tx.execute("UPDATE install_value SET value = '0' WHERE name = 'first_org_import'")


async def test_stats_on_demand_follow_the_role(office: Services) -> None:
    await reported(office)
    whole = await stats_answer(office, ADMIN)
    assert "响应统计" in whole and "全街道" in whole and "受理 1 件" in whole
    own = await stats_answer(office, MEMBER)
    assert "响应统计" in own and "张伟 个人" in own and "受理 1 件" in own
    department = await stats_answer(office, HEAD_OF_ZJ, "last")
    assert "响应统计" in department
    assert "住建办" in department and "2026 年第 47 周" in department
    assert "统计仅对" in await stats_answer(office, WORKER)
    assert "用法：/stats" in await stats_answer(office, ADMIN, "2026-W99")


async def test_a_head_of_two_departments_sees_both_in_stats_and_the_weekly_push(
    office: Services,
) -> None:
    district = DISTRICT.read_text(encoding="utf-8")
    both = district.replace('name = "住建办"\nhead = 1101', 'name = "住建办"\nhead = 1001')
    await office.organisations.import_text(both)
    cg_issue = await reported(office, description="垃圾")
    zj_issue = await reported(office, category="house_safety", description="墙体开裂")
    todo = (await office.issues.to_do(1001)).text
    assert "待办" in todo and f"#{cg_issue} " in todo and f"#{zj_issue} " in todo
    acknowledged = await office.issues.acknowledge(1001, zj_issue)
    assert acknowledged.assignee_id == 1001
    answer = await stats_answer(office, 1001)
    assert "响应统计" in answer and "城管执法中队" in answer and "住建办" in answer
    assert "受理 2 件" in answer
    await first_imported_long_ago(office)
    clock(office).advance(timedelta(days=7))
    assert await office.statistics.push_due() >= 1
    pushed = [t for t in queued_texts(office, 1001) if "响应统计" in t]
    assert len(pushed) == 1
    assert "城管执法中队" in pushed[0] and "住建办" in pushed[0]


async def test_a_fresh_install_pushes_no_report_about_weeks_before_it_existed(
    office: Services,
) -> None:
    statistics = office.statistics
    # Wednesday of W48: imported today. Last week (W47) began before the import.
    assert statistics.due_week() == "2026-W47"
    assert await statistics.push_due() == 0
    # Next Monday after the send time: W48 began on the Monday before the import.
    clock(office).advance(timedelta(days=5, hours=1))
    assert statistics.due_week() == "2026-W48"
    assert await statistics.push_due() == 0
    # A week later: W49 began after the import, and it goes out.
    clock(office).advance(timedelta(days=7))
    assert statistics.due_week() == "2026-W49"
    assert await statistics.push_due() >= 1


async def approved(office: Services, decider: int, number: int, kind: Kind, choice: str) -> None:
    """张伟 asks for `kind` on the issue he holds (`choice`: "+N" working days or a date),
    and `decider` approves it."""
    await office.extensions.request(MEMBER, number, kind, REASONS[kind], choice)
    request = await extension_store.pending(office.db.reader, number)
    assert request is not None
    assert any(f"申请 #{number}" in t for t in queued_texts(office, decider))
    await office.extensions.approve(decider, request.id)
    assert any(TOLD[kind] in t for t in queued_texts(office, MEMBER))


REASONS = {Kind.EXTEND: "等配件", Kind.HOLD: "需要区里立项"}
TOLD = {Kind.EXTEND: "延期申请已同意", Kind.HOLD: "挂账申请已同意"}


async def test_statistics_count_extensions_and_hold(
    office: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One issue extended (+3 working days) and resolved after its original deadline but
    before the extended one; another in 挂账 past its old deadline, so not overdue."""
    extended = await reported(office)
    await office.issues.acknowledge(MEMBER, extended)
    await approved(office, HEAD, extended, Kind.EXTEND, "+3")
    held = await reported(office, description="路面塌陷需要大修")
    await office.issues.acknowledge(MEMBER, held)
    await approved(office, ADMIN, held, Kind.HOLD, "12-20")
    clock(office).set(WEDNESDAY_MORNING + timedelta(days=2))
    await office.issues.resolve(MEMBER, extended, "配件已换好", [])
    weekly = await stats_answer(office, ADMIN)
    assert "按时解决率 50%" in weekly and "按原时限解决率 0%" in weekly
    assert "申请延期 1 件，同意 1 件；周末挂账 1 件" in weekly
    assert f"#{held} 需要区里立项 · 12-20 复查" in weekly
    monkeypatch.setenv("WHISTLE_DATABASE", str(office.settings.database))
    code = await asyncio.to_thread(cli.main, ["stats", "--week", "2026-W48", "--format", "json"])
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    overall = body["overall"]
    assert (overall["resolved_on_time"], overall["resolved_on_time_original"]) == (1, 0)
    assert overall["on_time_resolution_rate_original"] == 0
    assert overall["overdue"] == 0
    assert body["extensions"]["requested"] == 1 and body["extensions"]["approved"] == 1
    assert body["extensions"]["held_at_end"] == 1
    assert [(h["id"], h["reason"]) for h in body["extensions"]["held"]] == [(held, "需要区里立项")]


# --- reminders and escalations (bot/deadlines.py, bot/services/escalation.py) -------------


async def sweep(office: Services, minutes_after_start: float) -> int:
    clock(office).set(WEDNESDAY_MORNING + timedelta(minutes=minutes_after_start))
    return await office.escalation.sweep()


async def test_reminder_at_80_percent_head_at_100_admins_at_200(office: Services) -> None:
    number = await reported(office)
    assert await sweep(office, 23.9) == 0
    assert await sweep(office, 24) == 1
    assert queued_texts(office, MEMBER, "请尽快报到") == [
        f"⏰ #{number}（环境卫生）请尽快报到：报到时限 11-25 10:30，还剩 6 分钟。"
    ]
    assert await sweep(office, 30) == 1
    [head_notice] = queued_texts(office, HEAD, "逾期未报到")
    assert "城管执法中队张伟" in head_notice and "已逾期 0 分钟" in head_notice
    [head_card] = [
        m
        for m in queued(office, HEAD)
        if f"#{number}" in m.text and any("改派" in label for label in m.buttons)
    ]
    assert head_card.buttons == {"改派 → 刘洋", "改派 → 赵磊"}
    stored = await issue_store.get_issue(office.db.reader, number)
    assert stored is not None and stored.escalated
    assert await sweep(office, 59) == 0
    assert await sweep(office, 60) == 1
    [admin_notice] = queued_texts(office, ADMIN, "升级至街道")
    assert "已逾期 30 分钟" in admin_notice
    assert await sweep(office, 600) == 0
    history = await issue_store.events(office.db.reader, number)
    assert [e.note for e in history if e.action == "escalate"] == ["ack:head", "ack:admins"]
    assert len(queued_texts(office, MEMBER, "请尽快报到")) == 1


async def test_acknowledging_stops_the_ack_alerts_and_resolving_stops_all(
    office: Services,
) -> None:
    number = await reported(office)
    clock(office).advance(timedelta(minutes=5))
    await office.issues.acknowledge(MEMBER, number)
    assert await sweep(office, 120) == 0
    assert queued_texts(office, HEAD, "逾期") == []
    assert await sweep(office, 24 * 60 * 0.8) == 1
    assert queued_texts(office, MEMBER, "请尽快办结") != []
    await office.issues.resolve(MEMBER, number, "好了", [])
    assert await sweep(office, 24 * 60 * 5) == 0
    assert queued_texts(office, HEAD, "逾期") == [] and queued_texts(office, ADMIN, "逾期") == []


async def test_quiet_hours_hold_non_urgent_reminders_but_never_urgent_ones(
    office: Services,
) -> None:
    night = 1003  # on the night shift of 城管's roster
    quiet = DISTRICT.read_text(encoding="utf-8").replace(
        "group_chat = -1001000000001", 'group_chat = -1001000000001\nquiet = "22:00-07:00"'
    )
    await office.organisations.import_text(quiet)
    clock(office).set(WEDNESDAY_MORNING + timedelta(hours=11, minutes=50))  # 21:50 local
    normal = await reported(office, description="夜里的垃圾")
    assert await sweep(office, 12 * 60 + 15) == 0  # 22:15: the reminder is held
    assert queued_texts(office, night, "请尽快报到") == []
    assert await sweep(office, 12 * 60 + 20) == 1  # 22:20: escalations never wait
    assert len(queued_texts(office, HEAD, f"🚨 #{normal}（环境卫生，")) == 1
    clock(office).set(WEDNESDAY_MORNING + timedelta(hours=12, minutes=30))  # 22:30 local
    urgent = await reported(office, description="化学品泄漏", urgent=True)
    assert await sweep(office, 12 * 60 + 38) >= 1  # 22:38: 80 % of the 10-minute ack window
    assert len(queued_texts(office, night, f"⏰ #{urgent}")) == 1
    assert await sweep(office, 21 * 60 - 1) >= 1  # 06:59 next day: still held
    assert queued_texts(office, night, f"⏰ #{normal}") == []
    await sweep(office, 21 * 60)  # 07:00: quiet hours end
    assert len(queued_texts(office, night, f"⏰ #{normal}")) == 1


# --- closures in the figures (bot/closures.py, bot/stats.py) --------------------------------


async def closed_as(
    office: Services, number: int, kind: ClosureKind, words: str | None, photo: bool = False
) -> None:
    """The holder asks to close the issue for `kind`, and the head of 城管 approves."""
    issue = await issue_store.get_issue(office.db.reader, number)
    assert issue is not None and issue.assignee_id is not None
    site = ("site-photo", "site-photo-unique") if photo else None
    await office.closures.request(issue.assignee_id, number, kind, words, site)
    [(request_id,)] = rows(office, "SELECT id FROM closure_request WHERE issue_id = ?", number)
    asked = [m for m in queued(office, HEAD) if f"申请关闭 #{number}" in m.text]
    assert any("同意" in label for m in asked for label in m.buttons)
    await office.closures.decide(HEAD, request_id, approve=True)


async def held_by_its_member(office: Services, worker: int) -> int:
    """A report by `worker`, taken (报到) by the member it went to: its number."""
    number = await reported(office, worker)
    issue = await issue_store.get_issue(office.db.reader, number)
    assert issue is not None and issue.assignee_id is not None
    await office.issues.acknowledge(issue.assignee_id, number)
    return number


async def test_the_statistics_leave_out_not_found_and_duplicates_and_count_each_closure(
    office: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other_worker = 2002  # 李娜, of the same grid
    kept = await held_by_its_member(office, WORKER)
    await closed_as(
        office, await held_by_its_member(office, WORKER), ClosureKind.INVALID, "无", True
    )
    duplicate = await held_by_its_member(office, other_worker)
    await closed_as(office, duplicate, ClosureKind.DUPLICATE, f"#{kept}")
    elsewhere = await held_by_its_member(office, other_worker)
    await closed_as(office, elsewhere, ClosureKind.ELSEWHERE, "区水务局")
    kept_issue = await issue_store.get_issue(office.db.reader, kept)
    assert kept_issue is not None and kept_issue.assignee_id is not None
    await office.issues.resolve(kept_issue.assignee_id, kept, "已处理", [])

    week = week_label(office.clock.now(), office.zone)
    report = await office.statistics.report(week)
    figures = report.overall.current
    # 不属实 and 重复 are received (and were acknowledged) but leave the 解决率 and 满意率
    # denominators; 非本辖区 stays in them, closed but not resolved.
    assert figures.received == 4 and figures.excluded == 2 and figures.resolved == 1
    assert figures.response_rate == 1.0 and figures.resolution_rate == 0.5
    assert report.closures == {"invalid": 1, "duplicate": 1, "elsewhere": 1}

    monkeypatch.setenv("WHISTLE_DATABASE", str(office.settings.database))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["stats", "--week", week, "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["closures"] == {"invalid": 1, "duplicate": 1, "elsewhere": 1}
    assert body["overall"]["received"] == 4 and body["overall"]["excluded"] == 2
    assert body["overall"]["resolution_rate"] == 0.5
    assert await asyncio.to_thread(cli.main, ["stats", "--week", week, "--format", "text"]) == 0
    assert "不属实 1 件、重复 1 件、非本辖区 1 件" in capsys.readouterr().out
