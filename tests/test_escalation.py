"""Reminders and escalations with a moved clock, end to end: across a restart, and acted on
from the escalation card. When they fire and whom they reach is tested at the service level
(tests/test_field_structure.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.lifecycle import State
from storage import issues as issue_store
from tests.conftest import WEDNESDAY_MORNING, Street


async def sweep(street: Street, minutes_after_start: float) -> int:
    street.clock.set(WEDNESDAY_MORNING + timedelta(minutes=minutes_after_start))
    fired = await street.whistle.services.escalation.sweep()
    await street.settle()
    return fired


def texts(street: Street, user_id: int, contains: str) -> list[str]:
    return [m.text for m in street.person(user_id).inbox() if contains in m.text]


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
