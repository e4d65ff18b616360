"""Extensions (延期) and 挂账, end to end over HTTP against the loopback Bot API server."""

from __future__ import annotations

from datetime import date, timedelta

from bot.extensions import Kind, Limits, check_date, parse_date
from bot.i18n import plain
from bot.lifecycle import State
from bot.workcalendar import WorkCalendar
from tests.conftest import WEDNESDAY_MORNING, Street
from whistle_testing.users import SimulatedUser

WORKER, MEMBER, HEAD, ADMIN = 2001, 1002, 1001, 3001
NOT_ALLOWED = plain("zh", "ans_not_allowed")


async def held_issue(street: Street) -> tuple[int, SimulatedUser]:
    """An issue reported, dispatched to 张伟 (1002) and acknowledged by him."""
    member = street.person(MEMBER)
    number = await street.blow_whistle(street.person(WORKER))
    card = await member.expect(f"#{number}", button="报到")
    await member.answer_to(await member.tap(card, "报到"))
    await street.settle()
    return number, member


async def taken_by_head(street: Street, number: int) -> None:
    """The admin reroutes the issue to the head of 城管 (1001), who takes it (报到)."""
    admin, head = street.person(ADMIN), street.person(HEAD)
    mark = admin.mark()
    await admin.send(f"/reroute {number} cg {HEAD}")
    await admin.expect(f"#{number}", mark)
    card = await head.expect(f"#{number}", button="报到")
    await head.answer_to(await head.tap(card, "报到"))
    await street.settle()


async def ask(street: Street, member: SimulatedUser, number: int, button: str, reason: str) -> None:
    mark = member.mark()
    card = await member.expect(f"#{number}", button=button)
    await member.tap(card, button)
    await member.expect("原因", mark)
    await member.send(reason)


async def refused_by_head(
    street: Street, member: SimulatedUser, number: int
) -> tuple[SimulatedUser, int, int]:
    """The member asks for one more day (人手不够) and the head taps 不同意 on the request,
    so is asked why: the head, the head's mark and the member's mark taken after the ask."""
    await ask(street, member, number, "申请延期", "人手不够")
    mark = member.mark()
    prompt = await member.expect("现在的办结时限是", mark - 1)
    head = street.person(HEAD)
    head_mark = head.mark()
    await member.tap(prompt, "+1")
    request = await head.expect(f"申请 #{number}", head_mark, button="不同意")
    await head.tap(request, "不同意")
    await head.expect("不同意", head_mark + 1)
    return head, head_mark, mark


async def test_extension_approved_by_the_head_moves_the_deadline_and_its_alerts(
    street: Street,
) -> None:
    number, member = await held_issue(street)
    card = await member.expect(f"#{number}", button="申请延期")
    assert "挂账" in {label.split()[-1] for label, _ in card.buttons()}
    await ask(street, member, number, "申请延期", "需要等待配件到货")
    mark = member.mark()
    prompt = await member.expect("现在的办结时限是 11-26", mark - 1)
    assert [label for label, _ in prompt.buttons()] == [
        "+1 个工作日（11-27）",
        "+3 个工作日（12-01）",
        "+7 个工作日（12-07）",
    ]
    head = street.person(HEAD)
    head_mark = head.mark()
    await member.tap(prompt, "+3")
    await member.expect("已提交 #", mark)
    request = await head.expect(f"申请 #{number}", head_mark, button="同意")
    assert "需要等待配件到货" in request.text and "11-26 → 12-01" in request.text
    # The member cannot decide his own request, and may not ask twice.
    answer = await member.answer_to(await member.tap_data(request, request.button("同意")))
    assert answer is not None and NOT_ALLOWED in answer
    answer = await member.answer_to(await member.tap(card, "申请延期"))
    assert answer is not None and "已有一个申请" in answer
    mark = member.mark()
    approve = request.button("同意")
    await head.answer_to(await head.tap(request, "同意"))
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.ACKNOWLEDGED
    assert issue.original_resolve_deadline is not None
    assert issue.resolve_deadline is not None
    assert issue.resolve_deadline > issue.original_resolve_deadline
    await member.expect("延期申请已同意，办结时限延至 12-01", mark)
    assert "延期至 12-01（原时限 11-26）" in card.text
    alerts = await street.pending_alerts(number)
    assert [(c, s) for c, s, _ in alerts] == [
        ("resolve", "remind"),
        ("resolve", "head"),
        ("resolve", "admins"),
    ]
    assert alerts[1][2] == issue.resolve_deadline
    # A second tap on 同意 changes nothing.
    answer = await head.answer_to(await head.tap_data(request, approve))
    assert answer is not None and "已经审批过了" in answer


async def test_extension_refused_keeps_the_deadline_and_says_why(street: Street) -> None:
    number, member = await held_issue(street)
    before = await street.issue(number)
    head, head_mark, mark = await refused_by_head(street, member, number)
    await head.send("这类问题必须按时办结")
    await head.expect("未获同意", head_mark + 1)
    told = await member.expect("延期申请未获同意", mark)
    assert "这类问题必须按时办结" in told.text
    after = await street.issue(number)
    assert after.resolve_deadline == before.resolve_deadline
    assert after.original_resolve_deadline is None


async def test_typed_dates_are_checked_politely(street: Street) -> None:
    number, member = await held_issue(street)
    await ask(street, member, number, "申请延期", "等审批")
    mark = member.mark()
    for typed, answer in (
        ("明天", "没有看懂这个日期"),
        ("11-26", "须在 11-26 之后"),
        ("2027-06-01", "太远了"),
        ("11-28", "不是工作日"),
    ):
        await member.send(typed)
        await member.expect(answer, mark)
        mark = member.mark()
    head = street.person(HEAD)
    head_mark = head.mark()
    await member.send("2026-12-02")
    await member.expect("延期至 12-02", mark)
    await head.expect(f"申请 #{number}", head_mark, button="同意")


def test_dates_are_read_and_checked() -> None:
    today = date(2026, 11, 25)
    assert parse_date("12-02", today) == date(2026, 12, 2)
    assert parse_date("01-05", today) == date(2027, 1, 5)
    assert parse_date("2026-02-30", today) is None
    limits = Limits(after=date(2026, 11, 26), today=today)
    calendar = WorkCalendar()
    assert check_date(Kind.EXTEND, date(2026, 11, 27), limits, calendar) is None
    assert check_date(Kind.EXTEND, date(2026, 10, 1), limits, calendar) is not None


async def test_the_admins_decide_when_the_head_holds_the_issue(street: Street) -> None:
    worker, head, admin = street.person(WORKER), street.person(HEAD), street.person(ADMIN)
    number = await street.blow_whistle(worker)
    await taken_by_head(street, number)
    await ask(street, head, number, "申请延期", "汛期抢险")
    mark = head.mark()
    prompt = await head.expect("现在的办结时限是", mark - 1)
    admin_mark = admin.mark()
    await head.tap(prompt, "+7")
    request = await admin.expect(f"申请 #{number}", admin_mark, button="同意")
    await admin.answer_to(await admin.tap(request, "同意"))
    await head.expect("延期申请已同意，办结时限延至 12-07", mark)


async def test_hold_leaves_overdue_and_its_review_reminds_the_admins(street: Street) -> None:
    number, member = await held_issue(street)
    await ask(street, member, number, "挂账", "需要区里立项拨款")
    mark = member.mark()
    prompt = await member.expect("挂账复查日期", mark - 1)
    admin = street.person(ADMIN)
    admin_mark = admin.mark()
    await member.send("2026-12-10")
    await member.expect("挂账申请", mark)
    request = await admin.expect(f"申请 #{number}", admin_mark, button="同意")
    assert "需要区里立项拨款" in request.text and prompt is not None
    # The head may not decide a 挂账.
    head = street.person(HEAD)
    answer = await head.answer_to(await head.tap_data(request, request.button("同意")))
    assert answer is not None and NOT_ALLOWED in answer
    await admin.answer_to(await admin.tap(request, "同意"))
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.HELD and issue.held_until is not None
    assert await street.pending_alerts(number) == [("hold", "admins", issue.held_until)]
    # Long past the old deadline: no reminders, not counted overdue.
    street.clock.set(WEDNESDAY_MORNING + timedelta(days=10))
    assert await street.whistle.services.escalation.sweep() == 0
    # On the review date the admins are asked to review it.
    admin_mark = admin.mark()
    street.clock.set(WEDNESDAY_MORNING + timedelta(days=15, hours=1))
    assert await street.whistle.services.escalation.sweep() == 1
    await street.settle()
    reminder = await admin.expect("挂账到期", admin_mark, button="继续办理")
    assert "需要区里立项拨款" in reminder.text
    await admin.answer_to(await admin.tap(reminder, "继续办理"))
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.ACKNOWLEDGED and issue.held_until is None
    assert [c for c, _, _ in await street.pending_alerts(number)] == ["resolve"] * 3
    await member.expect("继续办理", mark)


async def test_the_request_prompt_ends_when_the_member_starts_something_else(
    street: Street,
) -> None:
    number, member = await held_issue(street)
    mark = member.mark()
    card = await member.expect(f"#{number}", button="申请延期")
    await member.tap(card, "申请延期")
    await member.expect("需要延期的原因", mark)
    await member.send("/todo")
    await member.expect("已取消", mark)
    mark = member.mark()
    await member.send("这句话不是原因")
    await street.settle()
    assert not [m for m in member.inbox()[mark:] if "办结时限是" in m.text]
    # The prompt also expires: asked, then answered too late.
    await member.tap(card, "申请延期")
    await member.expect("需要延期的原因", mark)
    street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=street.settings.prompt_minutes + 1))
    mark = member.mark()
    await member.send("太晚的原因")
    await member.expect("分钟未回复", mark)
    assert not [m for m in member.inbox()[mark:] if "办结时限是" in m.text]
    mark = member.mark()
    await member.send("/help")
    await member.expect("申请延期", mark)


async def test_a_reviewed_hold_is_extended_then_closed(street: Street) -> None:
    number, member = await held_issue(street)
    await ask(street, member, number, "挂账", "规划未定")
    admin = street.person(ADMIN)
    admin_mark = admin.mark()
    await member.send("12-01")
    request = await admin.expect(f"申请 #{number}", admin_mark, button="同意")
    await admin.answer_to(await admin.tap(request, "同意"))
    await street.settle()
    street.clock.set(WEDNESDAY_MORNING + timedelta(days=7))
    assert await street.whistle.services.escalation.sweep() == 1
    reminder = await admin.expect("挂账到期", admin_mark, button="延长挂账")
    close = reminder.button("关闭")
    mark = admin.mark()
    await admin.tap(reminder, "延长挂账")
    prompt = await admin.expect("新的挂账复查日期", mark, button="+20")
    await admin.tap(prompt, "+20")
    await admin.expect("挂账延长至", mark)
    await street.settle()
    issue = await street.issue(number)
    assert issue.state == State.HELD and issue.held_until is not None
    assert [c for c, _, _ in await street.pending_alerts(number)] == ["hold"]
    answer = await admin.answer_to(await admin.tap_data(reminder, close))
    assert answer is not None and "已结案" in answer
    issue = await street.issue(number)
    assert issue.state == State.CLOSED and issue.resolved_at is None
    assert await street.pending_alerts(number) == []


async def test_a_request_lapses_when_the_issue_moves_on_before_it_is_decided(
    street: Street,
) -> None:
    number, member = await held_issue(street)
    await ask(street, member, number, "申请延期", "等配件")
    mark = member.mark()
    prompt = await member.expect("现在的办结时限是", mark - 1)
    head = street.person(HEAD)
    head_mark = head.mark()
    await member.tap(prompt, "+1")
    request = await head.expect(f"申请 #{number}", head_mark, button="同意")
    await street.resolve(member, number, "提前修好了")
    answer = await head.answer_to(await head.tap(request, "同意"))
    assert answer is not None and "情况已有变化" in answer
    worker = street.person(WORKER)
    notice = await worker.expect(f"#{number}", button="重办")
    await worker.tap(notice, "重办")
    await worker.expect("重办", worker.mark() - 1)
    await worker.send("没修好")
    await street.settle()
    # Reopened: the member may ask again; the lapsed request does not block it.
    await ask(street, member, number, "申请延期", "还要等配件")
    await member.expect("现在的办结时限是", mark)
