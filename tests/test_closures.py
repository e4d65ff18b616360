"""Closures that say why, end to end over HTTP: 不属实 (with a site photo), 重复 (merged:
its reporter follows the issue it repeats) and 非本辖区 (saying whose), each approved or
refused by the head or an admin; the reporter's 异议; the weekly statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import to_epoch
from bot.closures import ClosureKind, approvers
from bot.lifecycle import State
from bot.stats import Figures, Grouping, IssueRow, compute
from storage import followers as follower_store
from storage import issues as issue_store
from storage import stats as stats_store
from storage.db import Database, fetch_one
from tests import issue_rows
from tests import stats_oracle as oracle
from tests.conftest import Street
from whistle_testing import SentMessage, SimulatedUser

HEAD = 1001


async def state(street: Street, number: int) -> tuple[State, str | None]:
    row = await fetch_one(
        street.whistle.db.reader, "SELECT state, closure FROM issue WHERE id = ?", (number,)
    )
    assert row is not None
    return State(row[0]), row[1]


async def pending_resolve_alerts(street: Street, number: int) -> int:
    row = await fetch_one(
        street.whistle.db.reader,
        "SELECT COUNT(*) FROM deadline_alert WHERE issue_id = ? AND clock = 'resolve'"
        " AND fired_at IS NULL AND cancelled_at IS NULL",
        (number,),
    )
    assert row is not None
    return int(row[0])


async def ask_closure(
    street: Street, member: SimulatedUser, number: int, label: str, question: str
) -> None:
    mark = member.mark()
    card = await member.expect(f"#{number}", button=label)
    await member.tap(card, label)
    await member.expect(question, mark)


async def decision_card(street: Street, number: int, approver: int = HEAD) -> SentMessage:
    return await street.person(approver).expect(f"申请关闭 #{number}", button="同意")


async def test_not_found_needs_a_site_photo_is_approved_and_the_reporter_objects(
    street: Street,
) -> None:
    worker = street.person(2001, "王芳")
    number, member = await street.take(worker)
    await ask_closure(street, member, number, "不属实", "现场照片")
    before = street.dump()
    mark = member.mark()
    await member.send("现场没有发现问题")
    await member.expect("需要一张现场照片", mark)
    assert street.dump() == before and (await state(street, number))[0] == State.ACKNOWLEDGED
    await member.send_photo(caption="现场已清理干净")
    await member.expect(f"已提交 #{number} 的关闭申请", mark)
    assert await state(street, number) == (State.CLOSING, None)

    head = street.person(HEAD)
    card = await decision_card(street, number)
    assert "不属实" in card.text and "现场已清理干净" in card.text
    await street.settle()
    assert any(m.kind == "photo" for m in head.inbox())
    # Somebody else tapping 同意 is refused and changes nothing.
    other = street.person(1003)
    assert await other.answer_to(await other.tap_data(card, card.button("同意"))) is not None
    assert await state(street, number) == (State.CLOSING, None)

    approve = card.button("同意")
    await head.answer_to(await head.tap(card, "同意"))
    await street.settle()
    assert await state(street, number) == (State.CLOSED, "invalid")
    assert card.buttons() == []
    notice = await worker.expect(f"#{number} 已结案：不属实", button="异议")
    assert "现场已清理干净" in notice.text
    await member.expect(f"#{number} 的关闭申请已获同意")
    # A second tap on 同意 changes nothing.
    again = await head.answer_to(await head.tap_data(card, approve))
    assert again == "该申请已处理过了。"

    object_data = notice.button("异议")
    await worker.answer_to(await worker.tap(notice, "异议"))
    await street.settle()
    issue = await issue_store.get_issue(street.whistle.db.reader, number)
    assert issue is not None and issue.state == State.REOPENED and issue.reopen_count == 1
    assert (await state(street, number))[1] is None
    await member.expect(f"#{number} 的上报人对关闭提出异议")
    history = [e.action for e in await issue_store.events(street.whistle.db.reader, number)]
    assert history[-3:] == ["request_closure", "approve_closure", "object"]
    # The objection cannot be made twice.
    repeated = await worker.answer_to(await worker.tap_data(notice, object_data))
    assert repeated == "这个关闭已无法再提出异议。"


async def test_duplicate_is_merged_and_its_reporter_follows_the_issue_it_repeats(
    street: Street,
) -> None:
    first_reporter, second_reporter = street.person(2001, "王芳"), street.person(2002, "李娜")
    first, first_member = await street.take(first_reporter)
    second, member = await street.take(second_reporter)
    await ask_closure(street, member, second, "重复", "重复的问题编号")
    mark = member.mark()
    before = street.dump()
    await member.send("不知道")
    await member.expect("请发送重复问题的编号", mark)
    await member.send(f"#{second}")
    await member.expect(f"找不到可合并的问题 #{second}", mark)
    await member.send("#999")
    await member.expect("找不到可合并的问题 #999", mark)
    assert street.dump() == before
    await member.send(f"#{first}")
    await member.expect(f"已提交 #{second} 的关闭申请", mark)

    head = street.person(HEAD)
    await head.answer_to(await head.tap(await decision_card(street, second), "同意"))
    await street.settle()
    assert await state(street, second) == (State.CLOSED, "duplicate")
    await second_reporter.expect(f"#{second} 已结案：重复", button="异议")
    await second_reporter.expect(f"与 #{first} 重复，已合并")
    followers = await follower_store.followers(street.whistle.db.reader, first)
    assert followers == [2002]

    # The follower gets #first's progress notices and may 确认 it.
    await street.resolve(first_member, first, "已清运")
    await street.settle()
    notice = await second_reporter.expect(f"你关注的 #{first}", button="确认")
    assert "已清运" in notice.text
    assert len(notice.buttons()) == 1 and "确认" in notice.buttons()[0][0]
    confirmed = await second_reporter.answer_to(await second_reporter.tap(notice, "确认"))
    assert confirmed is None, confirmed
    await street.settle()
    assert (await state(street, first))[0] == State.CLOSED


async def test_not_ours_refused_leaves_the_issue_with_its_holder(street: Street) -> None:
    worker = street.person(2001, "王芳")
    number, member = await street.take(worker)
    await ask_closure(street, member, number, "非本辖区", "应由哪个街道或部门")
    mark = member.mark()
    await member.send("应由隔壁和平街道处理")
    await member.expect(f"已提交 #{number} 的关闭申请", mark)
    assert await pending_resolve_alerts(street, number) == 0
    head = street.person(HEAD)
    card = await decision_card(street, number)
    assert "非本辖区" in card.text and "隔壁和平街道" in card.text
    await head.answer_to(await head.tap(card, "不同意"))
    await street.settle()
    assert await state(street, number) == (State.ACKNOWLEDGED, None)
    await member.expect(f"#{number} 的关闭申请未获同意")
    # The holder's resolve deadline runs on: its alerts are planned again.
    assert await pending_resolve_alerts(street, number) == 3
    # The holder's card offers the closures again; approved the second time.
    await ask_closure(street, member, number, "非本辖区", "应由哪个街道或部门")
    await member.send("应由区住建委处理")
    await member.expect(f"已提交 #{number} 的关闭申请", mark)
    await head.answer_to(await head.tap(await decision_card(street, number), "同意"))
    await street.settle()
    assert await state(street, number) == (State.CLOSED, "elsewhere")
    await worker.expect(f"#{number} 已结案：非本辖区", button="异议")


async def test_the_reporter_and_other_people_cannot_ask_for_a_closure(street: Street) -> None:
    worker = street.person(2001, "王芳")
    number, member = await street.take(worker)
    card = await member.expect(f"#{number}", button="不属实")
    before = street.dump()
    for someone in (worker, street.person(1003)):
        answer = await someone.answer_to(await someone.tap_data(card, card.button("不属实")))
        assert answer is not None
    forged = await member.answer_to(await member.tap_data(card, f"clr:{number}:nonsense"))
    assert forged is not None
    assert street.dump() == before


async def test_the_closure_prompt_ends_when_something_else_starts_and_expires(
    street: Street,
) -> None:
    worker = street.person(2001, "王芳")
    number, member = await street.take(worker)
    await ask_closure(street, member, number, "非本辖区", "应由哪个街道或部门")
    mark = member.mark()
    await member.send("/todo")
    await member.expect(f"已取消：#{number} 的关闭理由", mark)
    before = street.dump()
    await member.send("应由区水务局处理")
    await member.expect("", mark + 2)
    await street.settle()
    assert street.dump() == before
    assert await state(street, number) == (State.ACKNOWLEDGED, None)

    await ask_closure(street, member, number, "非本辖区", "应由哪个街道或部门")
    street.clock.advance(timedelta(minutes=street.settings.prompt_minutes))
    mark = member.mark()
    await member.send("应由区水务局处理")
    await member.expect("超过 15 分钟未回复", mark)
    assert await state(street, number) == (State.ACKNOWLEDGED, None)


async def test_a_head_asking_is_decided_by_the_admins(street: Street) -> None:
    assert approvers(HEAD, HEAD, [3001]) == [3001]
    assert approvers(1002, HEAD, [3001]) == [HEAD]
    assert approvers(1002, None, [3001, 3002]) == [3001, 3002]
    assert approvers(3001, None, [3001]) == [3001]


SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK_START = datetime(2026, 11, 16, tzinfo=SHANGHAI)
STARTS, ENDS = to_epoch(WEEK_START), to_epoch(WEEK_START + timedelta(days=7))


@st.composite
def closed_cohorts(draw: st.DrawFn) -> list[tuple[IssueRow, str | None]]:
    rows = []
    for n in range(1, draw(st.integers(0, 20)) + 1):
        reported = STARTS + draw(st.integers(0, 7 * 86400 - 1))
        state = draw(st.sampled_from(["acknowledged", "closing", "closed", "resolved"]))
        closure = draw(st.sampled_from([None, "invalid", "duplicate", "elsewhere"]))
        resolved = draw(st.one_of(st.none(), st.integers(reported, reported + 2 * 86400)))
        row = IssueRow(
            id=n,
            reported_at=reported,
            state=state,
            grid="G01",
            category="sanitation",
            department="cg",
            assignee=1002,
            urgent=False,
            dispatched_at=reported,
            acknowledged_at=reported + 60,
            ack_deadline=reported + 1800,
            resolved_at=resolved if closure is None else None,
            resolve_deadline=reported + 86400,
            rating=draw(st.sampled_from([None, "satisfied", "dissatisfied"])),
            reopened=False,
            escalated=False,
            transferred=False,
        )
        rows.append((row, closure if state == "closed" else None))
    return rows


@settings(max_examples=30, deadline=None)
@given(rows=closed_cohorts())
async def test_the_figures_and_closure_counts_match_the_oracle(
    rows: list[tuple[IssueRow, str | None]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("closures") / "stats.db"
    async with Database(path) as db:
        async with db.write() as tx:
            await issue_rows.places(tx)
            await issue_rows.insert(tx, [r for r, _ in rows], [c for _, c in rows])
        as_of = ENDS + 86400
        cohort = await stats_store.cohort_columns(db.reader, STARTS, ENDS)
        got = compute(cohort, as_of)[Grouping.OVERALL].get("all", Figures())
        live = oracle.cohort(rows)
        assert got == (oracle.figures(live, as_of) if live else Figures())
        counts = await stats_store.closure_counts(db.reader, STARTS, ENDS)
        assert counts == oracle.closure_counts(rows)


def test_every_closure_kind_has_its_button_word() -> None:
    from bot.i18n import plain

    words = {"invalid": "不属实", "duplicate": "重复", "elsewhere": "非本辖区"}
    for kind in ClosureKind:
        assert words[kind.value] in plain("zh", f"btn_close_{kind.value}")
        assert words[kind.value] in plain("en", f"btn_close_{kind.value}")
