"""How the bot reaches the Bot API and takes its updates: the aiohttp client (whole loop,
uploads, timeouts, dropped connections), per-person ordering of concurrent updates, and
the polling gate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from telegram import Chat, Message, Update, User
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.metrics import MeteredRequest
from bot.transport import AiohttpRequest, BacklogGatedPolling
from bot.updates import PerPersonOrder, ordering_key
from tests.conftest import open_street
from whistle_testing import Fault, LoopbackBotApi

CG_GROUP = -1001000000001


async def test_the_whole_loop_runs_over_the_aiohttp_client(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file, bot_api_client="aiohttp") as street:
        calls = street.whistle.application.bot.request  # type: ignore[union-attr]
        assert isinstance(calls, MeteredRequest) and isinstance(calls.inner, AiohttpRequest)
        worker, member, admin = street.person(2001), street.person(1002), street.person(3001)
        number = await street.blow_whistle(
            worker, "环境卫生", "<b>x</b> *y*", photos=1, location=(39.9, 116.4)
        )
        card = await member.expect(f"#{number}", button="报到")
        assert "<b>x</b> *y*" in card.text
        await street.settle()
        assert [m.kind for m in member.inbox()] == ["photo", "location"]
        await member.tap(card, "报到")
        await worker.expect("张伟已报到")
        await street.settle()
        assert "处置中" in card.text
        await street.api.expect(CG_GROUP, f"#{number}")
        mark = admin.mark()
        await admin.send("/stats")
        await admin.expect("响应统计", mark, timeout=30)
        await street.api.wait_for(lambda: any(m.kind == "photo" for m in admin.inbox()), timeout=30)
        chart = next(m for m in admin.inbox() if m.kind == "photo")
        assert street.api.files[chart.raw["photo"][0]["file_id"]].startswith(b"\x89PNG")


def _data(**fields: Any) -> RequestData:
    return RequestData([RequestParameter(name, value, None) for name, value in fields.items()])


async def test_aiohttp_client_maps_timeouts_and_dropped_connections() -> None:
    faults = {"getMe": Fault(504, delay=2.0), "getChat": Fault(drop=True)}
    async with LoopbackBotApi(faults=lambda method, _: faults.get(method)) as api:
        request = AiohttpRequest(read_timeout=0.3, write_timeout=0.3)
        await request.initialize()
        try:
            with pytest.raises(TimedOut):
                await request.post(f"{api.base_url}{api.token}/getMe")
            with pytest.raises(TimedOut):  # a timeout given with the call, not the default
                await request.post(f"{api.base_url}{api.token}/getMe", read_timeout=0.2)
            with pytest.raises(NetworkError, match="aiohttp"):
                await request.post(f"{api.base_url}{api.token}/getChat", _data(chat_id=1))
            api.user(7, "Q")
            sent = await request.post(
                f"{api.base_url}{api.token}/sendMessage", _data(chat_id=7, text="你好 <b>")
            )
            assert isinstance(sent, dict) and sent["text"] == "你好 <b>"
        finally:
            await request.shutdown()
        with pytest.raises(RuntimeError):
            await request.do_request(f"{api.base_url}{api.token}/getMe", "POST")


def _update(number: int, user_id: int) -> Update:
    user = User(user_id, f"U{user_id}", is_bot=False)
    chat = Chat(user_id, Chat.PRIVATE)
    return Update(number, message=Message(number, None, chat, from_user=user, text=str(number)))  # type: ignore[arg-type]


async def test_one_persons_updates_stay_in_order_while_others_run_alongside() -> None:
    processor = PerPersonOrder(16)
    log: list[tuple[str, int, int]] = []
    release_first, other_done = asyncio.Event(), asyncio.Event()

    async def handle(update: Update) -> None:
        assert update.effective_user is not None and update.message is not None
        who, number = update.effective_user.id, update.message.message_id
        log.append(("start", who, number))
        if number == 1:
            await release_first.wait()
        await asyncio.sleep(0)
        log.append(("end", who, number))
        if who == 20:
            other_done.set()

    updates = [_update(1, 10), _update(2, 10), _update(3, 20), _update(4, 10)]
    tasks = [asyncio.create_task(processor.process_update(u, handle(u))) for u in updates]
    await asyncio.wait_for(other_done.wait(), 5)
    # person 20 finished while person 10's first update was still being handled...
    assert [e for e in log if e[1] == 10] == [("start", 10, 1)]
    release_first.set()
    await asyncio.gather(*tasks)
    # ...and person 10's updates ran one after another, in the order they came
    assert [(kind, n) for kind, who, n in log if who == 10] == [
        ("start", 1),
        ("end", 1),
        ("start", 2),
        ("end", 2),
        ("start", 4),
        ("end", 4),
    ]
    assert processor.people_in_hand == 0
    assert ordering_key(object()) is None and ordering_key(updates[2]) == 20


class _RecordingRequest(BaseRequest):
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.backlog_at_call: list[int] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        self.calls.append(len(self.calls))
        return 200, json.dumps({"ok": True, "result": []}).encode()


async def test_polling_waits_while_fetched_updates_are_still_queued() -> None:
    inner = _RecordingRequest()
    backlog = [3]
    gate = BacklogGatedPolling(inner, lambda: backlog[0], max_wait=5)
    call = asyncio.create_task(gate.post("http://127.0.0.1:9/botT/getUpdates"))
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert inner.calls == [] and not call.done()
    backlog[0] = 0
    assert await asyncio.wait_for(call, 5) == []
    assert inner.calls == [0]
    stuck = BacklogGatedPolling(inner, lambda: 1, max_wait=0.05)
    assert await asyncio.wait_for(stuck.post("http://127.0.0.1:9/botT/getUpdates"), 5) == []
    assert inner.calls == [0, 1]
