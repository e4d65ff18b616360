"""One round trip per step (issue 20): over a loopback server that delays every call,
the conversation and the pushes still arrive in order; a tap's answer goes out with the
message or edit it leads to, not before it; an edit that shows nothing new is not sent;
the outbox keeps more calls in flight as the round trip grows. No timed assertions: the
tests hold a call back and check what arrived meanwhile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.clock import SystemClock, to_epoch
from bot.lifecycle import State
from bot.records import NewIssue
from bot.sender import MAX_SLOTS, OutboxSender
from bot.services.organisation import OrganisationService
from storage import issues as issue_store
from storage import outbox
from storage.db import Database, fetch_all
from storage.issues import insert_issue
from tests.conftest import DISTRICT, Street
from whistle_testing import LoopbackBotApi

LATENCY = 0.05
CG_GROUP = -1001000000001


@dataclass(frozen=True)
class OneCard:
    """One issue's card in chat 4001 over a loopback Bot API: the sender's tests queue its
    push and edits and watch what the chat shows."""

    api: LoopbackBotApi
    db: Database
    bot: Bot
    issue_id: int
    now: int

    async def queue(
        self, method: str, text: str, purpose: str, markup: dict[str, Any] | None = None
    ) -> None:
        payload: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
        if markup is not None:
            payload["reply_markup"] = markup
        async with self.db.write() as tx:
            await outbox.enqueue(
                tx,
                chat_id=4001,
                method=method,
                payload=payload,
                purpose=purpose,
                now=self.now,
                issue_id=self.issue_id,
            )


@asynccontextmanager
async def one_card(tmp_path: Path, latency: float = 0.0) -> AsyncIterator[OneCard]:
    """The example district, one issue and a started Bot on a loopback server (`latency`
    per call); each is stopped on the way out."""
    api = LoopbackBotApi(latency=latency)
    await api.start()
    api.user(4001, "U4001")
    try:
        async with Database(tmp_path / "card.db") as db:
            await OrganisationService(db, SystemClock()).import_file(DISTRICT)
            now = to_epoch(SystemClock().now())
            new = NewIssue(2001, "G01", "sanitation", "x", False, None, None, None, "d-1")
            async with db.write() as tx:
                issue = await insert_issue(tx, new, now)
            bot = Bot(api.token, base_url=api.base_url, request=HTTPXRequest())
            await bot.initialize()
            try:
                yield OneCard(api, db, bot, issue.id, now)
            finally:
                await bot.shutdown()
    finally:
        await api.stop()



@pytest.fixture
def slow_street(street: Street) -> Street:
    """The street with every Bot API call taking 50 ms, half each way."""
    street.api.latency = LATENCY
    return street


def hold_tap_answers(
    api: LoopbackBotApi, monkeypatch: pytest.MonkeyPatch, arrived: Callable[[], bool]
) -> list[bool]:
    """Hold every answer to a tap until `arrived()` (at most 3 s); returns, per answer,
    whether it had by then. A handler that waits for the answer before sending the rest
    makes `arrived()` wait for it: False."""
    seen: list[bool] = []
    original = api._api_answerCallbackQuery

    async def held(params: dict[str, Any]) -> Any:
        try:
            await api.wait_for(arrived, 3)
            seen.append(True)
        except TimeoutError:
            seen.append(False)
        return await original(params)

    monkeypatch.setattr(api, "_api_answerCallbackQuery", held)
    return seen


async def test_a_whole_issue_over_a_slow_network_arrives_in_order(slow_street: Street) -> None:
    street = slow_street
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    # The push left after the commit: the issue is stored as dispatched to this member.
    stored = await issue_store.get_issue(street.whistle.db.reader, number)
    assert stored is not None and stored.state == State.DISPATCHED and stored.assignee_id == 1002
    told = worker.mark()
    assert await member.answer_to(await member.tap(card, "报到")) == "报到成功，请尽快处置。"
    await worker.expect("张伟已报到", told)
    await street.settle()
    await street.resolve(member, number, "已清理")
    notice = await worker.expect("已办结（", told, button="确认")
    await worker.tap(notice, "确认")
    rating = await worker.expect("请评价", told, button="满意")
    await worker.answer_to(await worker.tap(rating, "满意"))
    await street.settle()
    texts = [m.text for m in worker.inbox()[told:]]
    parts = ("张伟已报到", "已办结（张伟）", "请评价")
    order = [next(n for n, t in enumerate(texts) if part in t) for part in parts]
    assert order == sorted(order)
    stored = await issue_store.get_issue(street.whistle.db.reader, number)
    assert stored is not None and stored.state == State.CLOSED
    assert "已结案" in card.text


async def test_confirm_answers_the_tap_together_with_the_rating_prompt(
    slow_street: Street, monkeypatch: pytest.MonkeyPatch
) -> None:
    street = slow_street
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number, _ = await street.take(worker)
    await street.resolve(member, number, "已清理")
    notice = await worker.expect("已办结（", button="确认")
    mark = worker.mark()
    seen = hold_tap_answers(
        street.api,
        monkeypatch,
        lambda: any("请评价" in m.text for m in worker.inbox()[mark:]),
    )
    await worker.answer_to(await worker.tap(notice, "确认"))
    assert seen == [True]
    assert notice.buttons() == []


async def test_skipping_the_resolution_photo_answers_together_with_the_change(
    slow_street: Street, monkeypatch: pytest.MonkeyPatch
) -> None:
    street = slow_street
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number, _ = await street.take(worker)
    mark = member.mark()
    await member.tap(await member.expect(f"#{number}", button="办结"), "办结")
    await member.expect("办结说明", mark)
    await member.send("已清理")
    prompt = await member.expect("处置后照片", mark)
    seen = hold_tap_answers(
        street.api,
        monkeypatch,
        lambda: any(f"已办结 #{number}" in m.text for m in member.inbox()[mark:]),
    )
    await member.answer_to(await member.tap(prompt, "跳过"))
    assert seen == [True]
    stored = await issue_store.get_issue(street.whistle.db.reader, number)
    assert stored is not None and stored.state == State.RESOLVED


async def test_resolve_prompt_and_tap_answer_go_out_together_in_a_private_chat(
    slow_street: Street, monkeypatch: pytest.MonkeyPatch
) -> None:
    """办结 tapped in the member's private chat: the prompt does not wait for the tap's
    answer (held here until the tap is answered; serial code answers only after it)."""
    street = slow_street
    worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
    number = await street.blow_whistle(worker)
    card = await member.expect(f"#{number}", button="报到")
    await member.answer_to(await member.tap(card, "报到"))
    await street.settle()
    api = street.api
    seen: list[bool] = []
    original = api._api_sendMessage
    query = ""

    async def held(params: dict[str, Any]) -> Any:
        if str(params.get("chat_id")) == str(member.id) and "办结说明" in str(params.get("text")):
            try:
                await api.wait_for(lambda: api.callback_answers.get(query), 3)
                seen.append(True)
            except TimeoutError:
                seen.append(False)
        return await original(params)

    monkeypatch.setattr(api, "_api_sendMessage", held)
    mark = member.mark()
    query = await member.tap(card, "办结")
    await member.expect("办结说明", mark)
    assert seen == [True]


async def test_an_edit_that_changes_nothing_visible_is_not_sent(tmp_path: Path) -> None:
    """A card edit showing exactly the text and buttons the message already shows is
    recorded as delivered without a call (a group has 20 messages a minute); an edit that
    changes something still goes out."""
    card = {"inline_keyboard": [[{"text": "🙋 报到", "callback_data": "ack:1"}]]}
    async with one_card(tmp_path, LATENCY) as chat:
        sender = OutboxSender(chat.db, chat.bot, SystemClock(), overall_per_second=100)
        sender.start()
        for method, text, purpose in (
            ("sendMessage", "card v1", "push"),
            ("editMessageText", "card v1", "edit"),
            ("editMessageText", "card v2", "edit"),
            ("editMessageText", "card v2", "edit"),
        ):
            await chat.queue(method, text, purpose, card)
            sender.wake()
            async with asyncio.timeout(20):
                await sender.wait_idle()
        await sender.stop()
        statuses = await fetch_all(chat.db.reader, "SELECT status FROM outbox ORDER BY id")
    api = chat.api
    edits = [c.params["text"] for c in api.calls if c.method == "editMessageText"]
    assert edits == ["card v2"]
    assert sender.edits_unchanged == 2
    assert [r["status"] for r in statuses] == ["sent"] * 4
    assert [m.text for m in api.chat(4001)] == ["card v2"]


def idle_sender(**options: Any) -> OutboxSender:
    """A sender that is never started: for its rules alone."""
    return OutboxSender(cast(Database, None), cast(Bot, None), SystemClock(), **options)


def test_slots_grow_with_the_round_trip_to_keep_the_budget_full() -> None:
    sender = idle_sender(overall_per_second=30, concurrency=10)
    assert sender.slots == 10
    for _ in range(40):
        sender.observe_round_trip(0.5)
    # 30 calls a second, each half a second long: 15 in flight, with headroom 23.
    assert sender.slots >= 23
    for _ in range(40):
        sender.observe_round_trip(0.2)
    assert 10 <= sender.slots < 23
    for _ in range(40):
        sender.observe_round_trip(0.01)
    assert sender.slots == 10
    sender.observe_round_trip(60.0)
    for _ in range(40):
        sender.observe_round_trip(60.0)
    assert sender.slots == MAX_SLOTS


def test_one_slow_answer_moves_the_estimate_only_partly() -> None:
    sender = idle_sender(overall_per_second=30)
    for _ in range(20):
        sender.observe_round_trip(0.2)
    sender.observe_round_trip(5.0)
    assert sender.round_trip is not None and sender.round_trip < 2.0


async def test_the_sender_keeps_more_than_ten_calls_in_flight_over_a_slow_network(
    tmp_path: Path,
) -> None:
    api = LoopbackBotApi(latency=0.2)
    await api.start()
    chats = [6000 + n for n in range(60)]
    for chat in chats:
        api.user(chat, f"U{chat}")
    in_flight, most = 0, 0
    try:
        async with Database(tmp_path / "n.db") as db:
            request = HTTPXRequest(connection_pool_size=64, read_timeout=10, pool_timeout=10)
            bot = Bot(api.token, base_url=api.base_url, request=request)
            await bot.initialize()
            sender = OutboxSender(db, bot, SystemClock(), overall_per_second=100)
            original = sender._call

            async def counted(method: str, payload: dict[str, Any]) -> int | None:
                nonlocal in_flight, most
                in_flight += 1
                most = max(most, in_flight)
                try:
                    return await original(method, payload)
                finally:
                    in_flight -= 1

            sender._call = counted  # type: ignore[method-assign]
            async with db.write() as tx:
                for n in range(240):
                    await outbox.enqueue(
                        tx,
                        chat_id=chats[n % len(chats)],
                        method="sendMessage",
                        payload={"text": f"m{n}"},
                        purpose="notice",
                        now=to_epoch(SystemClock().now()),
                    )
            sender.start()
            async with asyncio.timeout(60):
                while await outbox.pending_count(db.reader):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            await sender.stop()
            await bot.shutdown()
    finally:
        await api.stop()
    delivered = [c for c in api.calls if c.method == "sendMessage" and c.status == 200]
    assert sorted(json.dumps(c.params["text"]) for c in delivered) == sorted(
        json.dumps(f"m{n}") for n in range(240)
    )
    assert most > 10


async def test_a_push_goes_before_older_notices_and_edits_of_other_chats(tmp_path: Path) -> None:
    """When more is queued than the budget carries, a new issue's push is read before
    older notices and card edits to other chats; a chat's own order is kept."""
    async with Database(tmp_path / "p.db") as db:
        async with db.write() as tx:
            for n, (chat, method, purpose) in enumerate(
                [
                    (5001, "sendMessage", "notice"),
                    (5002, "editMessageText", "edit"),
                    (5003, "sendMessage", "notice"),
                    (5003, "sendMessage", "push"),
                    (5004, "sendMessage", "push"),
                ]
            ):
                await outbox.enqueue(
                    tx,
                    chat_id=chat,
                    method=method,
                    payload={"text": f"{purpose} {n}"},
                    purpose=purpose,
                    now=1,
                )
        first = await outbox.next_batch(db.reader, 10, 1)
        heads = await outbox.next_batch(db.reader, 10, 10)
    assert [(i.chat_id, i.purpose) for i in first] == [(5004, "push")]
    assert [(i.chat_id, i.purpose) for i in heads] == [
        (5004, "push"),
        (5001, "notice"),
        (5002, "edit"),
        (5003, "notice"),
    ]
