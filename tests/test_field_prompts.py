"""A pending prompt (the reason for 重办 or 退回, a 进展 or 办结 note, the report's next
step) never captures unrelated input: it ends when the person starts something else, and
expires after WHISTLE_PROMPT_MINUTES by the app's clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.lifecycle import State
from bot.records import IssueRecord
from storage import drafts as draft_store
from storage import issues as issue_store
from storage.db import fetch_all
from tests.conftest import Street, open_street
from whistle_testing import SentMessage, SimulatedUser

NOTE_ACTIONS = ("progress", "transfer", "resolve", "reopen")


async def issue(street: Street, number: int) -> IssueRecord:
    found = await issue_store.get_issue(street.whistle.db.reader, number)
    assert found is not None
    return found


async def note_actions(street: Street, number: int) -> list[str]:
    history = await issue_store.events(street.whistle.db.reader, number)
    return [e.action for e in history if e.action in NOTE_ACTIONS]


async def resolved_issue(street: Street, worker: SimulatedUser, member: SimulatedUser) -> int:
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await street.resolve(member, number, "处理好了")
    return number


async def acknowledged_issue(street: Street, worker: SimulatedUser, member: SimulatedUser) -> int:
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    await member.answer_to(await member.tap(card, "报到"))
    await member.expect(f"#{number}", button="办结")
    return number


def latest_card(member: SimulatedUser, number: int, button: str) -> SentMessage:
    return [
        m
        for m in member.inbox()
        if f"#{number}" in m.text and any(button in label for label, _ in m.buttons())
    ][-1]


async def test_reopen_tapped_by_mistake_then_report_keeps_both_apart(street: Street) -> None:
    """The worker taps 重办 by mistake, ignores the prompt and starts /report: the old issue
    is not reopened, the new report keeps its description, and the worker is told."""
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    old = await resolved_issue(street, worker, member)
    mark = worker.mark()
    await worker.tap(await worker.expect("处理好了", button="重办"), "重办")
    await worker.expect("需要重办的原因", mark)
    mark = worker.mark()
    new = await street.blow_whistle(worker, description="井盖松动，有人差点摔倒")
    await worker.expect(f"已取消：#{old} 的重办", mark)
    assert (await issue(street, new)).description == "井盖松动，有人差点摔倒"
    stored = await issue(street, old)
    assert (stored.state, stored.reopen_count) == (State.RESOLVED, 0)
    assert await note_actions(street, old) == ["resolve"]


@pytest.fixture
def two_roles(district_file: Path) -> Path:
    """The example district with 张伟 (城管 member) also a grid worker of G01."""
    district = district_file.read_text(encoding="utf-8")
    district_file.write_text(
        district.replace("workers = [2001, 2002]", "workers = [2001, 2002, 1002]"),
        encoding="utf-8",
    )
    return district_file


async def test_member_who_is_also_a_worker_hands_back_nothing_by_reporting(
    tmp_path: Path, two_roles: Path
) -> None:
    """张伟 is on the 城管 roster and a grid worker of G01: he taps 退回 on a card, then
    starts /report; the card's issue stays with his department."""
    district_file = two_roles
    async with open_street(tmp_path, district_file) as street:
        worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
        number = await street.blow_whistle(worker)
        mark = member.mark()
        await member.tap(await member.expect(f"#{number}", button="退回"), "退回")
        await member.expect("退回理由", mark)
        mark = member.mark()
        new = await street.blow_whistle(member, description="人行道护栏倒了")
        await member.expect(f"已取消：#{number} 的退回", mark)
        assert (await issue(street, new)).description == "人行道护栏倒了"
        stored = await issue(street, number)
        assert (stored.state, stored.department_code) == (State.DISPATCHED, "cg")
        assert await note_actions(street, number) == []


async def test_progress_prompt_ends_when_a_button_on_another_card_is_tapped(
    street: Street,
) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    first = await acknowledged_issue(street, worker, member)
    second = await street.blow_whistle(street.person(2002, "李强"))
    mark = member.mark()
    await member.tap(latest_card(member, first, "进展"), "进展")
    await member.expect(f"请发送 #{first} 的处置进展", mark)
    mark = member.mark()
    answer = await member.answer_to(
        await member.tap(await member.expect(f"#{second}", button="报到"), "报到")
    )
    assert answer == "报到成功，请尽快处置。"
    await member.expect(f"已取消：#{first} 的进展", mark)
    assert (await issue(street, second)).state == State.ACKNOWLEDGED
    mark = member.mark()
    await member.send("路过看了一眼")
    await member.expect("无法识别", mark)
    assert await note_actions(street, first) == []
    assert (await issue(street, first)).state == State.ACKNOWLEDGED


async def test_prompt_expires_after_fifteen_minutes_by_the_clock(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await resolved_issue(street, worker, member)
    notice = await worker.expect("处理好了", button="重办")
    mark = worker.mark()
    await worker.tap(notice, "重办")
    await worker.expect("需要重办的原因", mark)
    street.clock.advance(timedelta(minutes=15))
    mark = worker.mark()
    await worker.send("垃圾还在")
    await worker.expect(f"已取消：#{number} 的重办（超过 15 分钟未回复）", mark)
    stored = await issue(street, number)
    assert (stored.state, stored.reopen_count) == (State.RESOLVED, 0)
    # Within the window the same prompt still takes its answer.
    mark = worker.mark()
    await worker.tap(notice, "重办")
    await worker.expect("需要重办的原因", mark)
    street.clock.advance(timedelta(minutes=14))
    await worker.send("垃圾还在")
    await worker.expect(f"已要求 #{number} 重办", mark)
    assert (await issue(street, number)).state == State.REOPENED


async def test_report_step_expires_in_flight_and_across_a_restart(street: Street) -> None:
    """A half-written report is kept, but after the prompt window its next step does not
    take input, whether the bot ran all along or restarted in between."""
    worker = street.person(2001, "王芳")
    await street.open_report(worker)
    street.clock.advance(timedelta(minutes=16))
    mark = worker.mark()
    await worker.send("路灯坏了")
    await worker.expect("已暂停：填写中的上报（超过 15 分钟未操作）", mark)
    draft = await draft_store.get_draft(street.whistle.db.reader, 2001)
    assert draft is not None and draft.description is None
    # /report carries on; then the bot restarts and the worker comes back too late.
    mark = worker.mark()
    await worker.send("/report")
    await worker.expect("请用文字描述问题", mark)
    street.clock.advance(timedelta(minutes=20))
    await street.restart()
    mark = worker.mark()
    await worker.send("楼下有人吵架")
    await worker.expect("请用文字描述问题", mark)
    draft = await draft_store.get_draft(street.whistle.db.reader, 2001)
    assert draft is not None and draft.description is None
    await worker.send("垃圾桶满溢")
    await worker.expect("请发送现场照片", mark)
    draft = await draft_store.get_draft(street.whistle.db.reader, 2001)
    assert draft is not None and draft.description == "垃圾桶满溢"


async def test_report_paused_by_a_command_stays_paused_across_a_restart(
    street: Street,
) -> None:
    """A worker half-way through a report runs /my: the report is paused (draft kept);
    after a restart their next text is not taken as the description either."""
    worker = street.person(2001, "王芳")
    await street.open_report(worker)
    mark = worker.mark()
    await worker.send("/my")
    await worker.expect("已暂停：填写中的上报", mark)
    await street.restart()
    mark = worker.mark()
    await worker.send("刚才那件已经好了")
    await worker.expect("请用文字描述问题", mark)
    draft = await draft_store.get_draft(street.whistle.db.reader, 2001)
    assert draft is not None and draft.description is None and draft.category_code


async def test_abandoned_resolve_note_resolves_nothing(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await acknowledged_issue(street, worker, member)
    mark = member.mark()
    await member.tap(latest_card(member, number, "办结"), "办结")
    await member.expect("办结说明", mark)
    mark = member.mark()
    await member.send("/todo")
    await member.expect(f"已取消：#{number} 的办结", mark)
    await member.send("清理完毕")
    await member.expect("无法识别", mark)
    assert (await issue(street, number)).state == State.ACKNOWLEDGED
    # Abandoned at the photo step: the old 提交 button no longer resolves it.
    mark = member.mark()
    await member.tap(latest_card(member, number, "办结"), "办结")
    await member.expect("办结说明", mark)
    await member.send("清理完毕")
    photos = await member.expect("处置后照片", mark)
    mark = member.mark()
    await member.send("/help")
    await member.expect(f"已取消：#{number} 的办结", mark)
    answer = await member.answer_to(await member.tap(photos, "跳过"))
    assert answer is not None and "已办结" not in answer
    assert (await issue(street, number)).state == State.ACKNOWLEDGED
    assert await note_actions(street, number) == []


async def test_english_names_what_was_cancelled(street: Street) -> None:
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await resolved_issue(street, worker, member)
    await worker.send("/lang")
    await worker.tap(await worker.expect("Choose a language", button="English"), "English")
    await street.api.wait_for(lambda: street.api.pending_updates() == 0)
    # The resolution notice is paced (one message a second per chat): wait for it.
    notice = await worker.expect("处理好了", button="重办")
    mark = worker.mark()
    await worker.tap(notice, "重办")
    await worker.expect(f"#{number}", mark)
    await worker.send("/my")
    await worker.expect(f"Cancelled: reopening #{number}", mark)


ROUNDS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["进展", "办结"]),
        st.sampled_from(["", "/todo", "/help", "/my", "wait", "other card"]),
        st.integers(0, 2),
        st.sampled_from(["已到现场", "清理完毕", "稍后处理"]),
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=ROUNDS)
async def test_interleaved_prompts_change_only_what_was_completed(
    street: Street, rounds: list[tuple[int, str, str, int, str]]
) -> None:
    """Rounds of: a member opens a 进展 or 办结 prompt on one of three cards; then maybe
    runs a command, lets 16 minutes pass, or opens a 进展 prompt on another card; then
    writes a text. An issue gets a note only when the text answers that issue's pending
    进展 prompt, and no issue changes state."""
    member = street.person(1002, "张伟")
    rows = await fetch_all(street.whistle.db.reader, "SELECT id FROM issue ORDER BY id")
    numbers = [int(row["id"]) for row in rows]
    for reporter in (2001, 2002, 2003)[len(numbers) :]:
        numbers.append(await acknowledged_issue(street, street.person(reporter), member))

    async def snapshot() -> dict[int, tuple[list[str], State]]:
        return {n: (await note_actions(street, n), (await issue(street, n)).state) for n in numbers}

    async def step(mark: int) -> None:
        await street.api.wait_for(lambda: street.api.pending_updates() == 0)
        await street.api.wait_for(lambda: member.mark() > mark)
        await street.settle()

    for index, label, meanwhile, other, note in rounds:
        expected = await snapshot()
        mark = member.mark()
        await member.tap(latest_card(member, numbers[index], label), label)
        await step(mark)
        live: tuple[int, str] | None = (numbers[index], label)
        mark = member.mark()
        if meanwhile == "wait":
            street.clock.advance(timedelta(minutes=16))
            live = None
        elif meanwhile == "other card":
            await member.tap(latest_card(member, numbers[other], "进展"), "进展")
            await step(mark)
            live = (numbers[other], "进展")
        elif meanwhile:
            await member.send(meanwhile)
            await step(mark)
            live = None
        mark = member.mark()
        await member.send(note)
        await step(mark)
        if live is not None and live[1] == "进展":
            actions, state = expected[live[0]]
            expected[live[0]] = ([*actions, "progress"], state)
        assert await snapshot() == expected, (index, label, meanwhile, other)
        mark = member.mark()
        await member.send("/cancel")
        await step(mark)
