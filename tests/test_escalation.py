"""Reminders and escalations with a moved clock, end to end."""

from __future__ import annotations

from datetime import timedelta

from bot.lifecycle import State
from storage import issues as issue_store
from tests.conftest import DISTRICT, WEDNESDAY_MORNING, Street


async def sweep(street: Street, minutes_after_start: float) -> int:
    street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=minutes_after_start))
    fired = await street.whistle.services.escalation.sweep()
    await street.settle()
    return fired


def texts(street: Street, user_id: int, contains: str) -> list[str]:
    return [m.text for m in street.person(user_id).inbox() if contains in m.text]


async def test_reminder_at_80_percent_head_at_100_admins_at_200(street: Street) -> None:
    worker = street.person(2001)
    number = await street.blow_whistle(worker)
    assert await sweep(street, 23.9) == 0
    assert await sweep(street, 24) == 1
    assert texts(street, 1002, "请尽快报到") == [
        f"⏰ #{number}（环境卫生）请尽快报到：报到时限 11-25 10:30，还剩 6 分钟。"
    ]
    assert await sweep(street, 30) == 1
    [head_notice] = texts(street, 1001, "逾期未报到")
    assert "城管执法中队张伟" in head_notice and "已逾期 0 分钟" in head_notice
    head_card = await street.person(1001).expect(f"#{number}", button="改派")
    assert {label for label, _ in head_card.buttons()} == {"改派 → 刘洋", "改派 → 赵磊"}
    stored = await issue_store.get_issue(street.whistle.db.reader, number)
    assert stored is not None and stored.escalated
    assert await sweep(street, 59) == 0
    assert await sweep(street, 60) == 1
    [admin_notice] = texts(street, 3001, "升级至街道")
    assert "已逾期 30 分钟" in admin_notice
    assert await sweep(street, 600) == 0
    history = await issue_store.events(street.whistle.db.reader, number)
    assert [e.note for e in history if e.action == "escalate"] == ["ack:head", "ack:admins"]
    assert len(texts(street, 1002, "请尽快报到")) == 1


async def test_acknowledging_stops_the_ack_alerts_and_resolving_stops_all(street: Street) -> None:
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker)
    street.clock.advance(timedelta(minutes=5))
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await member.expect(f"#{number}", button="办结")
    assert await sweep(street, 120) == 0
    assert texts(street, 1001, "逾期") == []
    assert await sweep(street, 24 * 60 * 0.8) == 1
    assert texts(street, 1002, "请尽快办结") != []
    await street.resolve(member, number, "好了")
    assert await sweep(street, 24 * 60 * 5) == 0
    assert texts(street, 1001, "逾期") == [] and texts(street, 3001, "逾期") == []


async def test_quiet_hours_hold_non_urgent_reminders_but_never_urgent_ones(
    street: Street,
) -> None:
    quiet = DISTRICT.read_text(encoding="utf-8").replace(
        "group_chat = -1001000000001", 'group_chat = -1001000000001\nquiet = "22:00-07:00"'
    )
    await street.whistle.services.organisations.import_text(quiet)
    worker = street.person(2001)
    street.clock.set(WEDNESDAY_MORNING + timedelta(hours=11, minutes=50))  # 21:50 local
    normal = await street.blow_whistle(worker, "环境卫生", "夜里的垃圾")
    assert await sweep(street, 12 * 60 + 15) == 0  # 22:15: the reminder is held
    assert texts(street, 1003, "请尽快报到") == []
    assert await sweep(street, 12 * 60 + 20) == 1  # 22:20: escalations never wait
    assert len(texts(street, 1001, f"🚨 #{normal}（环境卫生，")) == 1
    street.clock.set(WEDNESDAY_MORNING + timedelta(hours=12, minutes=30))  # 22:30 local
    urgent = await street.blow_whistle(worker, "环境卫生", "化学品泄漏", urgent=True)
    assert await sweep(street, 12 * 60 + 38) >= 1  # 22:38: 80 % of the 10-minute ack window
    assert len(texts(street, 1003, f"⏰ #{urgent}")) == 1
    assert await sweep(street, 21 * 60 - 1) >= 1  # 06:59 next day: still held
    assert texts(street, 1003, f"⏰ #{normal}") == []
    await sweep(street, 21 * 60)  # 07:00: quiet hours end
    assert len(texts(street, 1003, f"⏰ #{normal}")) == 1


async def test_a_reminder_due_while_the_bot_was_down_is_sent_once(street: Street) -> None:
    worker = street.person(2001)
    number = await street.blow_whistle(worker)
    await street.person(1002).expect(f"#{number}", button="报到")
    await street.whistle.stop()
    street.clock.advance(timedelta(minutes=25))
    await street.whistle.start()
    await street.person(1002).expect("请尽快报到")
    await street.restart()
    await street.settle()
    assert await street.whistle.services.escalation.sweep() == 0
    await street.settle()
    assert len(texts(street, 1002, "请尽快报到")) == 1


async def test_the_head_reassigns_from_the_escalation_card(street: Street) -> None:
    worker, head = street.person(2001), street.person(1001)
    number = await street.blow_whistle(worker)
    await sweep(street, 30)
    card = await head.expect(f"#{number}", button="改派 → 刘洋")
    answer = await head.answer_to(await head.tap(card, "改派 → 刘洋"))
    assert answer == f"已将 #{number} 改派给刘洋。"
    stored = await issue_store.get_issue(street.whistle.db.reader, number)
    assert stored is not None
    assert (stored.state, stored.assignee_id) == (State.DISPATCHED, 1003)
    await street.person(1003).expect(f"#{number}", button="报到")
    outsider = street.person(1101)
    refused = await outsider.answer_to(await outsider.tap_data(card, f"ra:{number}:1004"))
    assert refused == "找不到这个问题。"
