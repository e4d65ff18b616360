"""Pushes that cannot be delivered: a member who never opened a chat with the bot, or
blocked it, does not keep an issue nobody else hears of. The loopback server answers as
Telegram does (403 "bot can't initiate conversation with a user", 403 "bot was blocked by
the user", 400 "chat not found"), so every test crosses real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import fetch_all
from tests.conftest import Street
from whistle_testing import SimulatedUser

CG_GROUP = -1001000000001
ADMIN = 3001


def unreachable_ways(street: Street) -> dict[str, set[int]]:
    api = street.api
    return {
        "never_started": api.never_started,
        "blocked": api.blocked,
        "never_seen": api.never_seen,
    }


def admin_notices_about(admin: SimulatedUser, user_id: int) -> list[str]:
    return [m.text for m in admin.inbox() if f"（{user_id}）" in m.text and "无法送达" in m.text]


async def holder_shown_by_issue(street: Street, user: SimulatedUser, number: int) -> str:
    mark = user.mark()
    await user.send(f"/issue {number}")
    card = await user.expect(f"#{number}", mark)
    return card.text


@pytest.mark.parametrize("way", ["never_started", "blocked", "never_seen"])
async def test_an_issue_pushed_to_a_member_who_cannot_be_reached_goes_to_the_next_member(
    street: Street, way: str
) -> None:
    unreachable_ways(street)[way].add(1002)
    worker, admin, next_member = street.person(2001), street.person(ADMIN), street.person(1003)
    number = await street.blow_whistle(worker)
    # The receipt was written before anybody knew; the follow-up names the real holder.
    await worker.expect(f"#{number} 改由城管执法中队（刘洋）承办")
    await next_member.expect(f"#{number}", button="报到")
    await street.settle()
    assert "责任人：刘洋" in await holder_shown_by_issue(street, worker, number)
    group_card = await street.api.expect(CG_GROUP, f"#{number}")
    assert "刘洋" in group_card.text
    notices = admin_notices_about(admin, 1002)
    assert len(notices) == 1 and "张伟" in notices[0]
    events = await fetch_all(
        street.whistle.db.reader,
        "SELECT action, assignee_id, note FROM issue_event WHERE issue_id = ? ORDER BY id",
        (number,),
    )
    assert [(e["action"], e["assignee_id"]) for e in events][-1] == ("redispatch", 1003)
    assert "张伟" in events[-1]["note"]
    # The next report goes to somebody reachable at once, and the admins hear nothing more.
    mark = worker.mark()
    second = await street.blow_whistle(worker, "占道经营", "又一件")
    receipt = await worker.expect(f"#{second}", mark)
    assert "张伟" not in receipt.text and "赵磊" in receipt.text
    await street.person(1004).expect(f"#{second}", button="报到")
    await street.settle()
    assert len(admin_notices_about(admin, 1002)) == 1
    assert not [m for m in worker.inbox() if f"#{second} 改由" in m.text]
    assert len([c for c in street.api.calls if c.chat_id == 1002]) == 1


@pytest.mark.parametrize("message", ["/start", "/todo"])
async def test_a_member_who_opens_the_chat_is_routed_to_again(street: Street, message: str) -> None:
    street.api.never_started.add(1002)
    worker, member = street.person(2001), street.person(1002)
    first = await street.blow_whistle(worker)
    await worker.expect(f"#{first} 改由城管执法中队（刘洋）承办")
    await street.settle()
    mark = member.mark()
    await member.send(message)
    await member.expect("", mark)
    rows = await fetch_all(
        street.whistle.db.reader, "SELECT blocked_at FROM person WHERE user_id = 1002"
    )
    assert rows[0]["blocked_at"] is None
    mark = worker.mark()
    second = await street.blow_whistle(worker, "占道经营", "张伟值班时的又一件")
    assert "张伟" in (await worker.expect(f"#{second}", mark)).text
    await member.expect(f"#{second}", button="报到")
    await street.settle()
    assert not [m for m in worker.inbox() if f"#{second} 改由" in m.text]


async def test_a_department_nobody_can_reach_keeps_the_issue_in_its_group(street: Street) -> None:
    street.api.never_started.update({1001, 1002, 1003, 1004})
    worker, admin = street.person(2001), street.person(ADMIN)
    number = await street.blow_whistle(worker)
    note = await street.api.expect(CG_GROUP, "请在群里直接点“报到”认领")
    assert f"#{number}" in note.text
    await worker.expect(f"#{number} 改由城管执法中队在部门群内认领承办")
    await street.settle()
    assert "责任人：（待指定）" in await holder_shown_by_issue(street, worker, number)
    for user_id in (1001, 1002, 1003, 1004):
        assert len(admin_notices_about(admin, user_id)) == 1
    group_cards = [
        m
        for m in street.api.chat(CG_GROUP)
        if m.from_bot and f"#{number}" in m.text and m.buttons()
    ]
    assert any("报到" in label for label, _ in group_cards[-1].buttons())
    # A member takes it in the group (a tap there does not open their private chat).
    member = street.person(1003)
    await member.answer_to(await member.tap(group_cards[-1], "报到"))
    await worker.expect(f"#{number} 城管执法中队刘洋已报到")


async def test_a_department_without_a_group_that_nobody_can_reach_goes_before_the_admins(
    street: Street,
) -> None:
    street.api.never_started.update({1301, 1302})
    worker, admin = street.person(2001), street.person(ADMIN)
    mark = admin.mark()
    number = await street.blow_whistle(worker, "污染排放", "河里有油污")
    notice = await admin.expect(f"#{number}（污染排放）无人可派", mark)
    assert "都无法接收机器人消息" in notice.text
    card = await admin.expect(f"#{number}", mark, button="改派")
    await worker.expect(f"#{number} 街道正在重新安排承办人")
    await admin.answer_to(await admin.tap(card, "改派 → 城管执法中队"))
    await street.person(1002).expect(f"#{number}", button="报到")


async def test_a_member_who_blocks_the_bot_mid_run(street: Street) -> None:
    worker, member, admin = street.person(2001), street.person(1002), street.person(ADMIN)
    taken = await street.blow_whistle(worker, urgent=True)
    await member.answer_to(
        await member.tap(await member.expect(f"#{taken}", button="报到"), "报到")
    )
    await worker.expect(f"#{taken} 城管执法中队张伟已报到")
    await street.settle()  # the card edits to 张伟 went out before the block
    street.api.blocked.add(1002)
    waiting = await street.blow_whistle(worker, "占道经营", "刚刚发生")
    await worker.expect(f"#{waiting} 改由城管执法中队（")
    await street.settle()
    assert len(admin_notices_about(admin, 1002)) == 1
    rows = await fetch_all(
        street.whistle.db.reader, "SELECT id, assignee_id FROM issue ORDER BY id"
    )
    holders = {r["id"]: r["assignee_id"] for r in rows}
    # What they accepted stays theirs; what waited for them moved on.
    assert holders[taken] == 1002 and holders[waiting] in {1003, 1004}
    # The reminder about what they hold goes to the department's group, not into the void.
    calls_before = len([c for c in street.api.calls if c.chat_id == 1002])
    street.clock.advance(timedelta(hours=3, minutes=30))
    await street.whistle.services.escalation.sweep()
    await street.api.expect(CG_GROUP, f"#{taken}（环境卫生）请尽快办结")
    await street.settle()
    assert len([c for c in street.api.calls if c.chat_id == 1002]) == calls_before
    assert len(admin_notices_about(admin, 1002)) == 1


async def test_escalations_for_a_head_who_cannot_be_reached_go_to_the_admins(
    street: Street,
) -> None:
    street.api.never_started.add(1001)
    worker, member, admin = street.person(2001), street.person(1002), street.person(ADMIN)
    number = await street.blow_whistle(worker, urgent=True)
    card = await member.expect(f"#{number}", button="报到")
    street.clock.advance(timedelta(minutes=11))
    await street.whistle.services.escalation.sweep()
    await street.settle()
    # The head never got the escalation; the admins know once who cannot be reached.
    assert [c.status for c in street.api.calls if c.chat_id == 1001] == [403]
    notices = admin_notices_about(admin, 1001)
    assert len(notices) == 1 and "马军" in notices[0]
    await member.answer_to(await member.tap(card, "报到"))
    await street.settle()
    mark = admin.mark()
    street.clock.advance(timedelta(hours=4))
    await street.whistle.services.escalation.sweep()
    escalation = await admin.expect(f"#{number}（环境卫生，", mark)
    assert "逾期未办结：" in escalation.text and "升级至街道" not in escalation.text
    await street.settle()
    assert len([c for c in street.api.calls if c.chat_id == 1001]) == 1


async def test_rerouting_to_somebody_who_cannot_be_reached_is_refused_and_changes_nothing(
    street: Street,
) -> None:
    street.api.never_started.add(1002)
    worker, admin = street.person(2001), street.person(ADMIN)
    number = await street.blow_whistle(worker)
    await street.person(1003).expect(f"#{number}", button="报到")
    mark = admin.mark()
    await admin.send("/help")  # the admin has opened the chat before (recorded once)
    await admin.expect("/reroute", mark)
    await street.settle()
    before = street.dump()
    mark = admin.mark()
    await admin.send(f"/reroute {number} cg 1002")
    answer = await admin.expect("收不到机器人的消息", mark)
    assert "张伟（1002）" in answer.text
    assert street.dump() == before


async def test_a_crash_before_the_issue_moved_on_is_made_good_at_the_next_start(
    street: Street,
) -> None:
    street.api.never_started.add(1002)
    assert street.whistle.sender is not None
    street.whistle.sender.on_unreachable = None  # the process dies right after recording
    worker = street.person(2001)
    number = await street.blow_whistle(worker)
    await street.settle()
    assert [c.status for c in street.api.calls if c.chat_id == 1002] == [403]
    assert not [m for m in worker.inbox() if "改由" in m.text]
    await street.restart()
    await worker.expect(f"#{number} 改由城管执法中队（刘洋）承办")
    await street.person(1003).expect(f"#{number}", button="报到")


async def test_redispatch_moves_a_held_issue_to_the_next_member_and_tells_the_reporter(
    street: Street,
) -> None:
    """The one service method that moves an issue its holder cannot take (shared with the
    re-dispatch of members who left a department)."""
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker)
    await member.answer_to(await member.tap(await member.expect(f"#{number}"), "报到"))
    await worker.expect(f"#{number} 城管执法中队张伟已报到")
    issues = street.whistle.services.issues
    moved = await issues.redispatch(number, "张伟 调离")
    assert moved is not None and moved.member == 1003 and moved.issue.state == "dispatched"
    await worker.expect(f"#{number} 改由城管执法中队（刘洋）承办")
    await street.person(1003).expect(f"#{number}", button="报到")
    await issues.cancel(2001, number)
    await street.settle()
    before = street.dump()
    assert await issues.redispatch(number, "again") is None
    assert street.dump() == before
