"""Secrets, backups and hostile input."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings import Settings
from storage.db import fetch_one
from tests.conftest import Street


async def test_the_token_never_reaches_the_logs(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker, photos=1)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    street.api.faults = lambda method, params: (
        __import__("whistle_testing", fromlist=["Fault"]).Fault(500)
        if method == "sendMessage" and str(params.get("chat_id")) == "2001"
        else None
    )
    await worker.send("/my")
    await asyncio.sleep(0.5)
    street.api.faults = None
    await street.settle()
    records = caplog.records
    assert any("getUpdates" in r.getMessage() for r in records)
    token = street.api.token
    for record in records:
        assert token not in record.getMessage()
        assert token not in (record.exc_text or "")
    assert token not in caplog.text


async def test_a_backup_taken_under_load_is_consistent(street: Street, tmp_path: Path) -> None:
    worker = street.person(2001)
    copy = tmp_path / "copy.db"
    reports = asyncio.gather(
        *(street.blow_whistle(street.person(w), "环境卫生", f"第{w}件") for w in (2001, 2003, 2004))
    )
    await asyncio.sleep(0.2)
    await street.whistle.db.backup(copy)
    await reports
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        issues = conn.execute("SELECT COUNT(*) FROM issue").fetchone()[0]
        events = conn.execute("SELECT COUNT(DISTINCT issue_id) FROM issue_event").fetchone()[0]
    assert issues == events
    del worker


TEXTS = st.one_of(
    st.text(min_size=1, max_size=200),
    st.sampled_from(
        [
            "<b>x</b>",
            "*x*",
            "_x_",
            "</b>",
            "<script>",
            "\u202eevil",
            "\x00\x01",
            "🙂" * 50,
            "a" * 10000,
            "/issue -1",
            "/issue 99999999999999999999",
            "/reroute 1 cg 1e9",
            "/invite admin",
            "/stats 2026-W99",
            "/start ../",
        ]
    ),
)
CALLBACKS = st.one_of(
    st.text(max_size=64),
    st.sampled_from(
        [
            "ack:1",
            "ack:999",
            "ack:0",
            "ack:-1",
            "rate:1:great",
            "rr:1:nope",
            "ra:1:x",
            "ra:1:1001",
            "conf:1",
            "reop:1",
            "res:1",
            "xfer:1",
            "cxl:1",
            "r:cat:sanitation",
            "r:grid:G09",
            "r:urg:7",
            "r:submit",
            "lang:xx",
            "ack:1:2:3",
            ":",
            "ack:" + "9" * 40,
        ]
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(TEXTS, min_size=1, max_size=3), taps=st.lists(CALLBACKS, min_size=1, max_size=3)
)
async def test_strangers_and_forged_buttons_change_nothing(
    street: Street, texts: list[str], taps: list[str]
) -> None:
    """Whatever a stranger or a member of another department sends, and whatever button
    data anyone forges for an issue that is not theirs (a stranger, a member of another
    department, a grid worker who is not its reporter), the database is as it was and
    every tap gets a short answer."""
    if not await fetch_one(street.whistle.db.reader, "SELECT 1 FROM issue"):
        await street.blow_whistle(street.person(2001))
        outsider = street.person(1102)
        await outsider.send("/start")
        await outsider.expect("欢迎")
    stranger, outsider, other_worker = (
        street.person(9999, "路人"),
        street.person(1102),
        street.person(2003),
    )
    await street.settle()
    before = street.dump()
    card = next(m for m in street.person(1002).inbox() if m.buttons())
    for text in texts:
        await stranger.send(text)
        if text.startswith("/") and not text.startswith("/start"):
            await outsider.send(text)
    for data in taps:
        for person in (stranger, outsider, other_worker):
            if data.startswith(("r:", "lang:")) and person is not stranger:
                continue
            answer = await person.answer_to(await person.tap_data(card, data))
            assert answer is None or len(answer) <= 200
    await street.api.wait_for(lambda: street.api.pending_updates() == 0)
    await asyncio.sleep(0.05)
    await street.settle()
    assert street.dump() == before


def raw_updates(user: dict[str, object], text: str) -> list[dict[str, object]]:
    """Updates of the kinds the bot does not ask for, or with optional parts missing."""
    chat = {"id": user["id"], "type": "private", "first_name": "x"}
    return [
        {
            "edited_message": {
                "message_id": 999,
                "from": user,
                "chat": chat,
                "date": 1,
                "edit_date": 2,
                "text": text,
            }
        },
        {
            "channel_post": {
                "message_id": 5,
                "chat": {"id": -1009, "type": "channel", "title": "c"},
                "date": 1,
                "text": text,
            }
        },
        {
            "message": {
                "message_id": 7,
                "from": user,
                "chat": chat,
                "date": 1,
                "caption": text,
                "document": {"file_id": "d1", "file_unique_id": "u1"},
            }
        },
        {
            "message": {
                "message_id": 8,
                "from": user,
                "chat": chat,
                "date": 1,
                "sticker": {
                    "file_id": "s1",
                    "file_unique_id": "u2",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            }
        },
        {
            "message": {
                "message_id": 9,
                "chat": {"id": -1001000000001, "type": "supergroup", "title": "g"},
                "date": 1,
                "text": text,
            }
        },
        {
            "callback_query": {
                "id": "q-inline",
                "from": user,
                "chat_instance": "1",
                "inline_message_id": "abc",
                "data": "ack:1",
            }
        },
        {
            "message": {
                "message_id": 10,
                "from": user,
                "chat": chat,
                "date": 1,
                "contact": {"phone_number": "123", "first_name": "x"},
            }
        },
    ]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS)
async def test_unusual_updates_never_break_the_bot(
    street: Street, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Edited messages, channel posts, documents with captions, stickers, messages without a
    sender, inline callbacks and contacts, from a worker and from a stranger: no handler
    fails, a stranger changes nothing, and the bot still answers afterwards."""
    caplog.set_level(logging.ERROR)
    worker, stranger = street.person(2001), street.person(9999, "路人")
    await street.settle()
    before = street.dump()
    for who in (stranger.json(), worker.json()):
        for update in raw_updates(who, text[:300]):
            await street.api.push_update(update)
        if who["id"] == 9999:
            await street.api.wait_for(lambda: street.api.pending_updates() == 0)
            await asyncio.sleep(0.05)
            assert street.dump() == before
    mark = worker.mark()
    await worker.send("/help")
    await worker.expect("/report", mark)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    await worker.send("/cancel")


def test_env_example_lists_every_setting() -> None:
    """`.env.example` is how an operator finds a setting: each one is there, and nothing
    there is a setting that does not exist."""
    example = Path(__file__).resolve().parent.parent / ".env.example"
    listed = {
        line.split("=", 1)[0].strip()
        for line in example.read_text(encoding="utf-8").splitlines()
        if line.startswith("WHISTLE_")
    }
    fields = {f"WHISTLE_{name.upper()}" for name in Settings.model_fields}
    assert listed == fields
