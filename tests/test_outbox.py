"""The outbox sender against a misbehaving Bot API server: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.clock import SystemClock, to_epoch
from bot.records import NewIssue, OutboxItem
from bot.sender import OutboxSender
from bot.services.organisation import OrganisationService
from storage import outbox
from storage.db import Database, fetch_all
from storage.issues import insert_issue
from tests.conftest import DISTRICT, Street, open_street
from whistle_testing import Fault, FaultPlan, LoopbackBotApi

CG_GROUP = -1001000000001

CHATS = [4001, 4002, 4003, 4004, 4005, 4006]


@pytest.fixture
async def api() -> AsyncIterator[LoopbackBotApi]:
    server = LoopbackBotApi()
    await server.start()
    for chat in CHATS:
        server.user(chat, f"U{chat}")
    try:
        yield server
    finally:
        await server.stop()


async def run_sender(
    api: LoopbackBotApi,
    db: Database,
    within_seconds: float,
    overall_per_second: float = 200,
    private_per_second: float = 50,
) -> None:
    # Timeouts far above a loopback answer: the faults under test are the server's; a
    # client timeout on a busy machine would resend a call the server had already done
    # (at-least-once, as with Telegram) and fail the exactly-once counts spuriously.
    request = HTTPXRequest(
        read_timeout=10,
        write_timeout=10,
        connect_timeout=10,
        pool_timeout=10,
        connection_pool_size=16,
    )
    bot = Bot(api.token, base_url=api.base_url, request=request)
    await bot.initialize()
    sender = OutboxSender(
        db,
        bot,
        SystemClock(),
        overall_per_second=overall_per_second,
        private_per_second=private_per_second,
        max_backoff_seconds=1,
    )
    sender.start()
    try:
        async with asyncio.timeout(within_seconds):
            while await outbox.pending_count(db.reader):  # noqa: ASYNC110 (polls the database)
                await asyncio.sleep(0.05)
    finally:
        await sender.stop()
        await bot.shutdown()


async def fill(db: Database, count: int, urgent_every: int = 10) -> None:
    """`count` messages round the chats; every `urgent_every`-th one urgent (0: none)."""
    now = to_epoch(SystemClock().now())
    async with db.write() as tx:
        for n in range(count):
            await outbox.enqueue(
                tx,
                chat_id=CHATS[n % len(CHATS)],
                method="sendMessage",
                payload={"text": f"message {n}"},
                purpose="notice",
                now=now,
                urgent=bool(urgent_every) and n % urgent_every == 0,
            )


async def test_faults_lose_nothing_and_duplicate_nothing(
    api: LoopbackBotApi, tmp_path: Path
) -> None:
    api.faults = FaultPlan(
        rate_429=0.15,
        rate_500=0.15,
        rate_hang=0.05,
        rate_drop=0.05,
        retry_after=1,
        hang_seconds=0.8,
        seed=7,
        methods=frozenset({"sendMessage"}),
    )
    async with Database(tmp_path / "faults.db") as db:
        await fill(db, 36)
        await run_sender(api, db, within_seconds=60)
        rows = await fetch_all(db.reader, "SELECT status, attempts FROM outbox")
    assert {r["status"] for r in rows} == {"sent"}
    delivered = Counter(m.text for m in api.messages if m.from_bot)
    assert sorted(delivered) == sorted(f"message {n}" for n in range(36))
    assert set(delivered.values()) == {1}
    statuses = Counter(c.status for c in api.calls)
    assert statuses[429] and statuses[500] and statuses[504] and statuses[0]
    for too_many in (c for c in api.calls if c.status == 429):
        later = [c.at for c in api.calls if c.chat_id == too_many.chat_id and c.at > too_many.at]
        assert not later or min(later) - too_many.at >= 1.0


async def test_a_chat_that_blocked_the_bot_is_recorded_and_not_retried(street: Street) -> None:
    street.api.blocked.add(1002)
    worker, admin = street.person(2001), street.person(3001)
    first = await street.blow_whistle(worker)
    await admin.expect("屏蔽了机器人")
    await street.settle()
    calls_to_member = [c for c in street.api.calls if c.chat_id == 1002]
    assert [c.status for c in calls_to_member] == [403]
    await street.blow_whistle(worker, "占道经营", "又一件")
    await street.api.expect(-1001000000001, "又一件")
    await street.settle()
    assert [c.status for c in street.api.calls if c.chat_id == 1002] == [403]
    assert len([m for m in admin.inbox() if "屏蔽了机器人" in m.text]) == 1
    rows = await fetch_all(
        street.whistle.db.reader,
        "SELECT status FROM outbox WHERE chat_id = 1002 AND issue_id = ?",
        (first,),
    )
    assert {r["status"] for r in rows} == {"failed"}
    street.api.blocked.discard(1002)
    member = street.person(1002)
    await member.send("/start")
    await member.expect("欢迎")
    await street.whistle.services.issues.reroute(3001, first, "cg", 1002)
    await member.expect(f"#{first}", button="报到")


async def test_unpaced_deliveries_keep_each_chats_order_and_send_nothing_twice(
    api: LoopbackBotApi, tmp_path: Path
) -> None:
    """With pacing lifted, deliveries are recorded while the sender reads the next heads;
    a head read before its chat's last delivery was recorded must not go out again."""
    async with Database(tmp_path / "unpaced.db") as db:
        await fill(db, 240, urgent_every=0)
        await run_sender(
            api, db, within_seconds=60, overall_per_second=100_000, private_per_second=100_000
        )
    for chat in CHATS:
        texts = [m.text for m in api.messages if m.from_bot and m.chat_id == chat]
        assert texts == [f"message {n}" for n in range(240) if CHATS[n % len(CHATS)] == chat]


async def test_a_card_and_its_edit_read_together_go_out_in_order_in_one_run(
    tmp_path: Path, district_file: Path
) -> None:
    """Pacing lifted, a chat's queued items go out one after another from one read. Here
    the department's group is told to wait (429) before its card, and the card's first
    edit (报到) queues behind it: both are read together, and the edit must edit the card
    the same run has just sent, whose message the database does not know yet."""
    unpaced = {
        "send_rate_private_chat": 100_000,
        "send_rate_group_per_minute": 10_000_000,
        "send_rate_overall": 100_000,
    }
    async with open_street(tmp_path, district_file, **unpaced) as street:
        told_to_wait: list[int] = []

        def group_waits_once(method: str, params: dict[str, Any]) -> Fault | None:
            if method == "sendPhoto" and int(params["chat_id"]) == CG_GROUP and not told_to_wait:
                told_to_wait.append(1)
                return Fault(429, retry_after=1)
            return None

        street.api.faults = group_waits_once
        worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
        number = await street.blow_whistle(worker, photos=1)
        card = await member.expect(f"#{number}", button="报到")
        await member.answer_to(await member.tap(card, "报到"))
        assert told_to_wait and not street.api.chat(CG_GROUP)
        reads: list[int] = []
        sender = street.whistle.sender
        assert sender is not None
        read_heads = outbox.next_batch

        async def counted(*args: Any, **kwargs: Any) -> list[OutboxItem]:
            heads = await read_heads(*args, **kwargs)
            reads.append(sum(item.chat_id == CG_GROUP for item in heads))
            return heads

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(outbox, "next_batch", counted)
            street.clock.advance(timedelta(seconds=3))  # the retry's backoff, on its clock
            await asyncio.sleep(1.1)  # Telegram's wait, on the sender's
            await street.settle()
        group_card = await street.api.expect(CG_GROUP, f"#{number}")
        assert "处置中" in group_card.text and group_card.edits == 1
        assert 2 in reads  # the card and its edit came in one read
        failed = await fetch_all(
            street.whistle.db.reader,
            "SELECT last_error FROM outbox WHERE status = 'failed' AND last_error IS NOT ?",
            (outbox.SUPERSEDED,),
        )
        assert not failed


async def test_a_card_changed_while_its_edits_wait_is_edited_once_to_its_latest_state(
    tmp_path: Path, district_file: Path
) -> None:
    """A group gets 20 messages a minute. A card that moves on several times while its
    group waits is edited once, to show where it is now: the older edits would spend the
    group's budget on states already gone, ahead of other issues' pushes."""
    async with open_street(
        tmp_path, district_file, send_rate_group_per_minute=30
    ) as street:  # one message every 2 s
        worker, member = street.person(2001, "王芳"), street.person(1002, "张伟")
        number = await street.blow_whistle(worker)
        group_card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
        card = await member.expect(f"#{number}", button="报到")
        await member.answer_to(await member.tap(card, "报到"))
        await street.resolve(member, number, "已清运")
        assert group_card.edits == 0  # the group is still waiting out its 2 s
        await asyncio.sleep(2.2)
        await street.settle()
        assert group_card.edits == 1 and "已办结" in group_card.text
        edits = [
            c for c in street.api.calls if c.chat_id == CG_GROUP and c.method.startswith("edit")
        ]
        assert len(edits) == 1


async def _state_change(db: Database, issue_id: int, version: int, urgent: bool) -> None:
    """What a state change does to an issue's cards (as `Notices.refresh_cards`): drop
    the edits still waiting, queue one per chat showing the card as it now is."""
    now = to_epoch(SystemClock().now())
    async with db.write() as tx:
        chats = await outbox.push_chats(tx, issue_id)
        await outbox.drop_pending_edits(tx, issue_id)
        for chat_id in chats:
            await outbox.enqueue(
                tx,
                chat_id=chat_id,
                method="editMessageText",
                payload={"text": f"issue {issue_id} v{version}"},
                purpose="edit",
                now=now,
                issue_id=issue_id,
                urgent=urgent,
            )


@pytest.mark.parametrize("seed", [1, 2])
async def test_cards_and_notices_stay_right_while_changes_interleave_with_faults(
    api: LoopbackBotApi, tmp_path: Path, seed: int
) -> None:
    """Cards pushed to several chats change again and again while the sender is at work
    (unpaced, so chats go out in runs) and the server fails a share of calls: every card
    ends showing its issue's last state, each pushed once; every notice arrives once, in
    the order its chat was sent them; nothing fails."""
    rng = random.Random(seed)
    api.faults = FaultPlan(
        rate_429=0.05,
        rate_500=0.1,
        rate_drop=0.05,
        retry_after=1,
        seed=seed,
        methods=frozenset({"sendMessage", "editMessageText"}),
    )
    async with Database(tmp_path / "interleave.db") as db:
        await OrganisationService(db, SystemClock()).import_file(DISTRICT)
        now = to_epoch(SystemClock().now())
        issues: dict[int, bool] = {}
        async with db.write() as tx:
            for n in range(6):
                new = NewIssue(
                    2001,  # a grid worker of G01 in the example district
                    "G01",
                    "sanitation",
                    f"#{n}",
                    n % 3 == 0,
                    None,
                    None,
                    None,
                    f"draft-{n}",
                )
                stored = await insert_issue(tx, new, now)
                issues[stored.id] = stored.urgent
                for chat_id in rng.sample(CHATS, 2):
                    await outbox.enqueue(
                        tx,
                        chat_id=chat_id,
                        method="sendMessage",
                        payload={"text": f"issue {stored.id} v0"},
                        purpose="push",
                        now=now,
                        issue_id=stored.id,
                        urgent=stored.urgent,
                    )
        versions = dict.fromkeys(issues, 0)
        told: dict[int, list[str]] = {chat: [] for chat in CHATS}

        async def keep_changing() -> None:
            for round_ in range(40):
                issue_id = rng.choice(list(issues))
                versions[issue_id] += 1
                await _state_change(db, issue_id, versions[issue_id], issues[issue_id])
                chat_id = rng.choice(CHATS)
                told[chat_id].append(f"notice {round_}")
                async with db.write() as tx:
                    await outbox.enqueue(
                        tx,
                        chat_id=chat_id,
                        method="sendMessage",
                        payload={"text": f"notice {round_}"},
                        purpose="notice",
                        now=to_epoch(SystemClock().now()),
                    )
                await asyncio.sleep(rng.choice([0, 0, 0.001, 0.01, 0.05]))

        changing = asyncio.create_task(keep_changing())
        await run_sender(
            api, db, within_seconds=60, overall_per_second=100_000, private_per_second=100_000
        )
        await changing
        await run_sender(
            api, db, within_seconds=60, overall_per_second=100_000, private_per_second=100_000
        )
        failed = await fetch_all(
            db.reader,
            "SELECT id, status, method, purpose, last_error, attempts FROM outbox"
            " WHERE status != 'sent' AND last_error IS NOT ?",
            (outbox.SUPERSEDED,),
        )
        cards = await fetch_all(db.reader, "SELECT issue_id, chat_id, message_id FROM push_message")
    assert not failed, str([dict(r) for r in failed])
    assert len(cards) == 12
    for card in cards:
        shown = api.find(card["chat_id"], card["message_id"]).text
        assert shown == f"issue {card['issue_id']} v{versions[card['issue_id']]}"
    pushes = Counter(
        (m.chat_id, m.text) for m in api.messages if m.from_bot and m.text.startswith("issue")
    )
    assert len(pushes) == 12 and set(pushes.values()) == {1}
    for chat_id in CHATS:
        got = [m.text for m in api.chat(chat_id) if m.from_bot and m.text.startswith("notice")]
        assert got == told[chat_id]


async def test_an_edit_taken_by_the_sender_then_superseded_does_not_mark_its_successor_sent(
    tmp_path: Path,
) -> None:
    """The sender takes an edit; a state change supersedes it and queues the new card;
    the old edit is then recorded as sent. The new edit must still go out: a deleted
    highest rowid would be given to it, and recording the old id would mark it sent."""
    async with Database(tmp_path / "w.db") as db:
        async with db.write() as tx:
            first = await outbox.enqueue(
                tx,
                chat_id=-100,
                method="editMessageText",
                payload={"text": "v1"},
                purpose="edit",
                now=1,
                issue_id=None,
            )
            await tx.execute("UPDATE outbox SET issue_id = 7 WHERE id = ?", (first,))
        async with db.write() as tx:
            await outbox.drop_pending_edits(tx, 7)
            second = await outbox.enqueue(
                tx,
                chat_id=-100,
                method="editMessageText",
                payload={"text": "v2"},
                purpose="edit",
                now=2,
                issue_id=7,
            )
        assert second != first
        async with db.write() as tx:
            await outbox.mark_sent(tx, 3, [(first, None)])
        rows = await fetch_all(db.reader, "SELECT id, status FROM outbox ORDER BY id")
        assert [(r["id"], r["status"]) for r in rows] == [(first, "sent"), (second, "pending")]


async def test_one_moment_tells_a_person_the_same_words_once(tmp_path: Path) -> None:
    """Two notices with the same words to one person from one state change (a person in
    two roles it concerns) carry nothing new: the second is not queued. Other words, another
    person, another moment, or a card push are queued as always."""
    async with Database(tmp_path / "once.db") as db:
        async with db.write() as tx:

            async def notice(chat_id: int, words: str, now: int, purpose: str = "notice") -> int:
                return await outbox.enqueue(
                    tx,
                    chat_id=chat_id,
                    method="sendMessage",
                    payload={"text": words, "parse_mode": "HTML"},
                    purpose=purpose,
                    now=now,
                )

            first = await notice(1002, "#7 已报到", 100)
            assert await notice(1002, "#7 已报到", 100) == first
            await notice(1002, "#7 已办结", 100)
            await notice(1003, "#7 已报到", 100)
            await notice(1002, "#7 已报到", 101)
            await notice(1002, "#7 已报到", 100, purpose="push")
        queued = await fetch_all(db.reader, "SELECT chat_id, payload, created_at FROM outbox")
    assert len(queued) == 5
