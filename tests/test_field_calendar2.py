"""Issue #17's remainder: 不属实 and 重复 in the statistics (received, out of the 解决率 and
满意率 denominators, on their own line), 挂账 in /todo and /pending, 延长挂账 to a chosen
date, a closure asked by the head (decided by the admins) and objected to, and the
calendar as `whistle deadline` prints it for 2027 and for a year nobody knows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import cli
from bot.clock import to_epoch
from bot.lifecycle import State
from bot.services.statistics import Scope
from bot.stats import Figures, Grouping, IssueRow, compute, week_label
from bot.stats_views import ISSUE_COLUMNS, report_json
from storage import stats as stats_store
from storage.db import Database, fetch_one
from tests import issue_rows
from tests import stats_oracle as oracle
from tests.conftest import WEDNESDAY_MORNING, Street
from tests.test_extensions import ask, taken_by_head
from tests.test_followers import next_prompt, to_location
from tests.test_working_days import CALENDAR_2027, WORKDAYS, district, whistle
from whistle_testing import SentMessage, SimulatedUser

WORKER, MEMBER, HEAD, ADMIN = 2001, 1002, 1001, 3001
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def close_as(
    street: Street, holder: SimulatedUser, number: int, label: str, reason: str | None
) -> None:
    """The holder taps a closure button and gives its reason (a photo when None)."""
    mark = holder.mark()
    card = await holder.expect(f"#{number}", button=label)
    await holder.tap(card, label)
    await holder.expect("关闭 #", mark)
    if reason is None:
        await holder.send_photo(caption="现场未见问题")
    else:
        await holder.send(reason)
    await holder.expect(f"已提交 #{number} 的关闭申请", mark)


async def decision(street: Street, approver: int, number: int) -> SentMessage:
    return await street.person(approver).expect(f"申请关闭 #{number}", button="同意")


async def put_on_hold(street: Street, member: SimulatedUser, number: int, review: str) -> None:
    """The member asks for 挂账 with a review date; the admin approves."""
    mark = member.mark()
    await ask(street, member, number, "挂账", "需要区里立项拨款")
    await member.expect("挂账复查日期", mark)
    admin = street.person(ADMIN)
    admin_mark = admin.mark()
    await member.send(review)
    request = await admin.expect(f"申请 #{number}", admin_mark, button="同意")
    await admin.answer_to(await admin.tap(request, "同意"))
    await member.expect("挂账申请已同意", mark)
    await street.settle()


# --- 1. 不属实 and 重复 in the statistics --------------------------------------------------


async def test_not_found_and_duplicates_are_received_but_leave_resolution_and_satisfaction(
    street: Street, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four reports, all taken: one resolved and rated 满意, one closed 不属实, one 重复,
    one 非本辖区. Received 4, 响应率 100 %; 解决率 1 of the 2 valid ones (非本辖区 stays
    valid, closed but not resolved); 满意率 1 of 1; each closure on its own line."""
    worker = street.person(WORKER, "王芳")
    kept, kept_member = await street.take(worker)
    invalid, member = await street.take(worker)
    await close_as(street, member, invalid, "不属实", None)
    head = street.person(HEAD)
    await head.answer_to(await head.tap(await decision(street, HEAD, invalid), "同意"))
    duplicate, member = await street.take(worker)
    await close_as(street, member, duplicate, "重复", f"#{kept}")
    await head.answer_to(await head.tap(await decision(street, HEAD, duplicate), "同意"))
    elsewhere, member = await street.take(worker)
    await close_as(street, member, elsewhere, "非本辖区", "应由区水务局处理")
    await head.answer_to(await head.tap(await decision(street, HEAD, elsewhere), "同意"))
    mark = worker.mark()
    await street.resolve(kept_member, kept, "已清运")
    notice = await worker.expect("已清运", mark, button="确认")
    await worker.tap(notice, "确认")
    rating = await worker.expect("请评价", mark, button="满意")
    await worker.answer_to(await worker.tap(rating, "满意"))
    await street.settle()

    admin = street.person(ADMIN)
    mark = admin.mark()
    await admin.send("/stats")
    weekly = await admin.expect("解决率", mark)
    assert "受理 4 件" in weekly.text
    assert "响应率 100%" in weekly.text
    assert "解决率 50%" in weekly.text and "满意率 100%" in weekly.text
    assert "不属实 1 件、重复 1 件、非本辖区 1 件" in weekly.text
    assert "不计入解决率、满意率" in weekly.text

    week = week_label(street.clock.now(), street.whistle.services.zone)
    statistics = street.whistle.services.statistics
    report = await statistics.report(week)
    body = report_json(report, await statistics.names())
    overall = body["overall"]
    assert (overall["received"], overall["excluded"], overall["acknowledged"]) == (4, 2, 4)
    assert (overall["resolved"], overall["rated"], overall["satisfied"]) == (1, 1, 1)
    assert overall["resolution_rate"] == 0.5 and overall["on_time_resolution_rate"] == 0.5
    assert overall["response_rate"] == 1.0 and overall["satisfaction_rate"] == 1.0
    assert body["closures"] == {"invalid": 1, "duplicate": 1, "elsewhere": 1}
    # The department and category lines follow the same definition.
    assert body["departments"][0]["excluded"] == 2
    assert body["categories"][0]["resolution_rate"] == 0.5

    # The per-issue rows say each issue's closure, so the figures can be recomputed.
    bundle = await statistics.bundle(week, Scope(), "zh")
    assert bundle.csv is not None
    rows = list(csv.reader(io.StringIO(bundle.csv.decode("utf-8-sig"))))
    closure = rows[0].index("结案类型名称")
    by_id = {int(r[0]): r for r in rows[1:]}
    assert len(by_id) == 4 and len(rows[0]) == len(ISSUE_COLUMNS)
    assert [by_id[n][closure] for n in (kept, invalid, duplicate, elsewhere)] == [
        "",
        "不属实",
        "重复",
        "非本辖区",
    ]
    monkeypatch.setenv("WHISTLE_DATABASE", str(street.settings.database))
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["stats", "--week", week, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["overall"]["excluded"] == 2 and printed["overall"]["received"] == 4


WEEK_START = datetime(2026, 11, 16, tzinfo=SHANGHAI)
STARTS, ENDS = to_epoch(WEEK_START), to_epoch(WEEK_START + timedelta(days=7))


@st.composite
def cohorts(draw: st.DrawFn) -> list[tuple[IssueRow, str | None]]:
    """Issues of one week with any closure — including 不属实 and 重复 that carry a
    resolved_at and a rating from before the closure, which must not count."""
    rows = []
    for n in range(1, draw(st.integers(0, 16)) + 1):
        reported = STARTS + draw(st.integers(0, 7 * 86400 - 1))
        state = draw(st.sampled_from(["dispatched", "acknowledged", "resolved", "closed"]))
        acknowledged = draw(st.one_of(st.none(), st.integers(reported, reported + 3600)))
        row = IssueRow(
            id=n,
            reported_at=reported,
            state=state,
            grid=draw(st.sampled_from(["G01", "G02"])),
            category="sanitation",
            department="cg",
            assignee=draw(st.sampled_from([1002, 1003])),
            urgent=False,
            dispatched_at=reported,
            acknowledged_at=acknowledged,
            ack_deadline=reported + 1800,
            resolved_at=draw(st.one_of(st.none(), st.integers(reported, reported + 2 * 86400))),
            resolve_deadline=reported + 86400,
            rating=draw(st.sampled_from([None, "satisfied", "fair", "dissatisfied"])),
            reopened=draw(st.booleans()),
            escalated=False,
            transferred=False,
        )
        closure = draw(st.sampled_from([None, "invalid", "duplicate", "elsewhere"]))
        rows.append((row, closure if state == "closed" else None))
    return rows


@settings(max_examples=40, deadline=None)
@given(rows=cohorts())
async def test_every_grouping_matches_the_oracle_with_closures(
    rows: list[tuple[IssueRow, str | None]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("calendar2") / "stats.db"
    async with Database(path) as db:
        async with db.write() as tx:
            await issue_rows.places(tx, grids=("G01", "G02"))
            await issue_rows.insert(tx, [r for r, _ in rows], [c for _, c in rows])
        as_of = ENDS + 86400
        got = compute(await stats_store.cohort_columns(db.reader, STARTS, ENDS), as_of)
        live = oracle.cohort(rows)
        overall = got[Grouping.OVERALL].get("all", Figures())
        assert overall == (oracle.figures(live, as_of) if live else Figures())
        for grid in ("G01", "G02"):
            members = [r for r in live if r.grid == grid]
            assert got[Grouping.GRID].get(grid, Figures()) == (
                oracle.figures(members, as_of) if members else Figures()
            )
        for member in (1002, 1003):
            members = [r for r in live if r.assignee == member]
            assert got[Grouping.MEMBER].get(str(member), Figures()) == (
                oracle.figures(members, as_of, from_dispatch=True) if members else Figures()
            )
        # The rows behind the files carry the closure too.
        read = list(stats_store.cohort_rows(path, STARTS, ENDS))
        assert sorted((r.id, r.closure) for r in read) == sorted((r.id, r.closure) for r in live)


def test_the_valid_denominator_and_its_rates() -> None:
    figures = Figures(received=4, excluded=2, acknowledged=4, resolved=1, rated=1, satisfied=1)
    assert figures.valid == 2
    assert figures.response_rate == 1.0 and figures.resolution_rate == 0.5
    assert figures.satisfaction_rate == 1.0
    only_invalid = Figures(received=1, excluded=1, acknowledged=1)
    assert only_invalid.resolution_rate is None and only_invalid.response_rate == 1.0


# --- 2. 挂账 in /todo and /pending -----------------------------------------------------


async def test_an_issue_in_hold_stays_in_todo_and_pending_marked_and_not_overdue(
    street: Street,
) -> None:
    number, member = await street.take(street.person(WORKER))
    await put_on_hold(street, member, number, "2026-12-10")
    # Long past the old resolve deadline (11-26): no reminder, and not late in the lists.
    street.clock.set(WEDNESDAY_MORNING + timedelta(days=5))
    assert await street.whistle.services.escalation.sweep() == 0
    for who, command in ((member, "/todo"), (street.person(HEAD), "/todo")):
        mark = who.mark()
        await who.send(command)
        listed = await who.expect(f"#{number}", mark)
        line = next(x for x in listed.text.splitlines() if f"#{number}" in x)
        assert "挂账" in line and "12-10 复查" in line and "不计逾期" in line
        assert "逾期 " not in line.replace("不计逾期", "")
    admin = street.person(ADMIN)
    mark = admin.mark()
    await admin.send("/pending")
    listed = await admin.expect(f"#{number}", mark)
    assert "挂账中" in listed.text and "12-10 复查" in listed.text
    assert "没有待改派" not in listed.text


async def test_pending_lists_handed_back_issues_and_then_those_in_hold(street: Street) -> None:
    number, member = await street.take(street.person(WORKER))
    await put_on_hold(street, member, number, "12-10")
    handed = await street.blow_whistle(street.person(WORKER), description="井盖缺失")
    issue = await street.issue(handed)
    assert issue.assignee_id is not None
    holder = street.person(issue.assignee_id)
    mark = holder.mark()
    card = await holder.expect(f"#{handed}", button="退回")
    await holder.tap(card, "退回")
    await holder.expect("退回理由", mark)
    await holder.send("不归我们管")
    await holder.expect(f"已退回 #{handed}", mark)
    await street.settle()
    admin = street.person(ADMIN)
    mark = admin.mark()
    await admin.send("/pending")
    listed = await admin.expect("挂账中", mark)
    text = listed.text
    assert text.index("待改派") < text.index(f"#{handed}") < text.index("挂账中")
    assert text.index("挂账中") < text.index(f"#{number} ")


# --- 3. 延长挂账 to a chosen date ------------------------------------------------------


async def test_extending_a_hold_takes_a_button_or_a_typed_date_checked_politely(
    street: Street,
) -> None:
    number, member = await street.take(street.person(WORKER))
    await put_on_hold(street, member, number, "2026-12-10")
    admin = street.person(ADMIN)
    mark = admin.mark()
    street.clock.set(WEDNESDAY_MORNING + timedelta(days=15))  # 12-10 10:00
    assert await street.whistle.services.escalation.sweep() == 1
    reminder = await admin.expect("挂账到期", mark, button="延长挂账")
    # Only an admin may extend it: the member's forged tap changes nothing.
    before = (await street.issue(number), await street.pending_alerts(number))
    answer = await member.answer_to(await member.tap_data(reminder, reminder.button("延长挂账")))
    assert answer is not None and "管理员" in answer

    mark = admin.mark()
    await admin.tap(reminder, "延长挂账")
    prompt = await admin.expect("新的挂账复查日期", mark)
    labels = [label for label, _ in prompt.buttons()]
    assert labels[0] == "+10 个工作日（12-24）"
    assert [label.split()[0] for label in labels] == ["+10", "+20", "+60"]
    for typed, says in (
        ("下个月", "没有看懂这个日期"),
        ("2026-12-01", "须在 12-10 之后"),  # in the past
        ("2026-12-10", "须在 12-10 之后"),  # today
        ("2028-06-01", "太远了"),
    ):
        mark = admin.mark()
        await admin.send(typed)
        await admin.expect(says, mark)
        assert (await street.issue(number), await street.pending_alerts(number)) == before
    mark = admin.mark()
    await admin.send("12-20")
    await admin.expect(f"#{number} 挂账延长至 12-20", mark)
    await street.settle()
    issue = await street.issue(number)
    review = datetime(2026, 12, 20, 9, 0, tzinfo=SHANGHAI)
    assert issue.state == State.HELD and issue.held_until == to_epoch(review)
    assert await street.pending_alerts(number) == [("hold", "admins", to_epoch(review))]
    await member.expect("挂账已延长，12-20 再复查")
    # The prompt is over: its buttons change nothing now.
    await admin.answer_to(await admin.tap_data(prompt, prompt.button("+10")))
    assert (await street.issue(number)).held_until == to_epoch(review)

    # At the next review, a +N button: 10 working days from Monday 12-21 is 01-05
    # (whether or not 01-01 is known as a holiday, 01-04 is at most the 10th).
    mark = admin.mark()
    street.clock.set(datetime(2026, 12, 21, 10, 0, tzinfo=SHANGHAI))
    assert await street.whistle.services.escalation.sweep() == 1
    reminder = await admin.expect("挂账到期", mark, button="延长挂账")
    mark = admin.mark()
    await admin.tap(reminder, "延长挂账")
    prompt = await admin.expect("新的挂账复查日期", mark, button="+10")
    await admin.tap(prompt, "+10")
    done = await admin.expect(f"#{number} 挂账延长至", mark)
    issue = await street.issue(number)
    assert issue.held_until is not None and issue.held_until > to_epoch(review)
    assert any(f"挂账延长至 01-0{day}" in done.text for day in (4, 5))


# --- 4. a closure asked by the head: the admins decide; the reporter objects ----------


async def test_a_closure_the_head_asks_for_is_decided_by_the_admins_and_undone_by_objection(
    street: Street,
) -> None:
    worker, head, admin = street.person(WORKER, "王芳"), street.person(HEAD), street.person(ADMIN)
    follower = street.person(2002, "李娜")
    number = await street.blow_whistle(worker, location=(39.9, 116.4))
    await taken_by_head(street, number)
    # Another worker seconds it (附议) and so follows it.
    fmark = await to_location(follower, (39.9, 116.4))
    offer = await next_prompt(follower, fmark)
    await follower.tap(offer, "附议")
    await follower.expect(f"已附议 #{number}", fmark)

    head_mark, admin_mark = head.mark(), admin.mark()
    await close_as(street, head, number, "非本辖区", "应由区住建委处理")
    request = await admin.expect(f"申请关闭 #{number}", admin_mark, button="同意")
    assert "应由区住建委处理" in request.text
    await street.settle()
    assert not [m for m in head.inbox()[head_mark:] if f"申请关闭 #{number}" in m.text]
    # The head cannot decide his own request; nothing changes.
    answer = await head.answer_to(await head.tap_data(request, request.button("同意")))
    assert answer is not None
    assert (await street.issue(number)).state == State.CLOSING

    wmark, fmark = worker.mark(), follower.mark()
    await admin.answer_to(await admin.tap(request, "同意"))
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.CLOSED
    notice = await worker.expect(f"#{number} 已结案：非本辖区", wmark, button="异议")
    told = await follower.expect(f"#{number} 已结案：非本辖区", fmark)
    assert told.buttons() == []  # the follower is told, but only the reporter objects
    await head.expect(f"#{number} 的关闭申请已获同意", head_mark)
    row = await fetch_one(
        street.whistle.db.reader, "SELECT closure FROM issue WHERE id = ?", (number,)
    )
    assert row is not None and row[0] == "elsewhere"

    head_mark = head.mark()
    await worker.answer_to(await worker.tap(notice, "异议"))
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.REOPENED and issue.assignee_id == HEAD
    assert issue.reopen_count == 1
    await head.expect(f"#{number} 的上报人对关闭提出异议", head_mark)
    row = await fetch_one(
        street.whistle.db.reader, "SELECT closure FROM issue WHERE id = ?", (number,)
    )
    assert row is not None and row[0] is None
    assert [c for c, _, _ in await street.pending_alerts(number)] == ["resolve"] * 3
    # Back with the head: he may resolve it.
    await street.resolve(head, number, "已协调处理")
    assert (await street.issue(number)).state == State.RESOLVED


# --- 5. the calendar from the command line --------------------------------------------


def test_whistle_deadline_counts_2027_from_the_organisation_file(tmp_path: Path) -> None:
    org_file = tmp_path / "district.toml"
    org_file.write_text(district(WORKDAYS, CALENDAR_2027), encoding="utf-8")
    done = whistle(
        tmp_path, "deadline", "sanitation", "--from", "2026-12-31T16:00", "--org", str(org_file)
    )
    assert done.returncode == 0, done.stderr
    # 2027-01-01 (a Friday) is a holiday by the file, then the weekend.
    assert "办结 due: 2027-01-04 17:30 (Mon)" in done.stdout
    assert "warning" not in done.stderr
    saturday = whistle(
        tmp_path, "deadline", "sanitation", "--from", "2027-02-19T09:00", "--org", str(org_file)
    )
    assert "办结 due: 2027-02-20 17:30 (Sat)" in saturday.stdout  # a 调休 Saturday


def test_whistle_deadline_warns_about_a_year_nobody_knows(tmp_path: Path) -> None:
    org_file = tmp_path / "district.toml"
    org_file.write_text(district(WORKDAYS, CALENDAR_2027), encoding="utf-8")
    done = whistle(
        tmp_path, "deadline", "sanitation", "--from", "2030-09-30T16:00", "--org", str(org_file)
    )
    assert done.returncode == 0, done.stderr
    # Monday to Friday: 10-01 2030 (a Tuesday) counts as a working day.
    assert "办结 due: 2030-10-01 17:30 (Tue)" in done.stdout
    assert "warning: no official working calendar for 2030" in done.stderr
