"""Field safety, chats: where things are said, odd input, Telegram's size limits, and
buttons nobody was shown."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import InputMediaPhoto
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CommandHandler, ConversationHandler

from bot import cli
from bot.chats import GROUP_COMMANDS, GroupHints, command_name
from bot.clock import ManualClock
from bot.message_limits import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    fit_payload,
    shorten_html,
    split_html,
    telegram_length,
)
from bot.numbers import MAX_ID, parse_id
from bot.services import Refused
from bot.services.context import ServiceContext
from bot.services.notices import Notices
from bot.services.organisation import OrganisationService
from bot.services.statistics import StatisticsService
from bot.stats import shift_week, week_bounds
from bot.views import keyboard
from storage import outbox
from storage.db import Database, fetch_all, fetch_one
from tests.conftest import WEDNESDAY_MORNING, Street, open_street
from whistle_testing import SentMessage, SimulatedUser, plain_text

CG_GROUP = -1001000000001
HINT = "请在与机器人的私聊中使用这个命令"
STRANGER = 9999


def _commands(handler: BaseHandler[Any, Any, Any]) -> set[str]:
    if isinstance(handler, CommandHandler):
        return set(handler.commands)
    if isinstance(handler, ConversationHandler):
        inner = [*handler.entry_points, *handler.fallbacks]
        inner += [h for state in handler.states.values() for h in state]
        return set().union(*(_commands(h) for h in inner))
    return set()


def every_command(street: Street) -> set[str]:
    application = street.whistle.application
    assert application is not None
    return set().union(
        *(_commands(h) for handlers in application.handlers.values() for h in handlers)
    )


async def quiet(street: Street) -> None:
    """Every update handled and everything due delivered."""
    await street.api.wait_for(lambda: street.api.pending_updates() == 0)
    await asyncio.sleep(0.1)
    await street.settle()


def bot_messages(street: Street, chat_id: int) -> list[SentMessage]:
    return [m for m in street.api.chat(chat_id) if m.from_bot]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def issue_row(street: Street, number: int) -> tuple[Any, ...]:
    row = await fetch_one(
        street.whistle.db.reader,
        """SELECT state, department_code, assignee_id, rating,
                  (SELECT COUNT(*) FROM issue_event WHERE issue_id = issue.id)
           FROM issue WHERE id = ?""",
        (number,),
    )
    assert row is not None
    return tuple(row)


# --- where things are said --------------------------------------------------------------


async def test_in_a_group_every_command_but_help_only_points_to_the_private_chat(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    """The admin types every command the bot knows into the 城管 group (with arguments that
    would reveal an issue, make an invite or reroute): each gets the hint, nothing else is
    posted there, no invite exists and the issue is where it was. /help still works."""
    caplog.set_level(logging.ERROR)
    number = await street.blow_whistle(street.person(2001))
    admin = street.person(3001)
    await quiet(street)
    commands = sorted(every_command(street) - GROUP_COMMANDS)
    assert {"invite", "issue", "todo", "my", "pending", "stats", "reroute", "report"} <= set(
        commands
    )
    assert "start" in commands
    before, issue_before = len(bot_messages(street, CG_GROUP)), await issue_row(street, number)
    # A group gets one hint a minute; here every command's hint is checked.
    assert street.whistle.application is not None
    street.whistle.application.bot_data["group_hints"] = GroupHints(timedelta(0))
    arguments = {"invite": "admin", "issue": str(number), "reroute": f"{number} zj", "stats": ""}
    for index, name in enumerate(commands):
        await admin.send(f"/{name} {arguments.get(name, '')}".strip(), chat_id=CG_GROUP)
        await street.api.expect(CG_GROUP, HINT, before + index)
    await quiet(street)
    posted = bot_messages(street, CG_GROUP)[before:]
    assert [m.kind for m in posted] == ["text"] * len(commands)
    assert all(HINT in m.text for m in posted)
    assert await fetch_one(street.whistle.db.reader, "SELECT 1 FROM invite") is None
    assert await issue_row(street, number) == issue_before
    await admin.send("/help", chat_id=CG_GROUP)
    help_text = await street.api.expect(CG_GROUP, "Whistle", before + len(commands))
    # In a group /help says what works there, not what the admin's roles can do.
    assert "按钮" in help_text.text and "/invite" not in help_text.text
    assert "/revoke" not in help_text.text
    assert errors(caplog) == []


async def test_an_invite_code_cannot_be_redeemed_in_a_group(street: Street) -> None:
    admin, stranger = street.person(3001), street.person(STRANGER, "路人")
    mark = admin.mark()
    await admin.send("/invite admin")
    created = await admin.expect("邀请码", mark)
    code = re.search(r"/start (\S+)", created.text)
    assert code is not None
    before = len(bot_messages(street, CG_GROUP))
    await stranger.send(f"/start {code.group(1)}", chat_id=CG_GROUP)
    await quiet(street)
    assert not (await street.whistle.services.people.actor(STRANGER)).registered
    # A stranger's command in a group gets nothing at all.
    assert len(bot_messages(street, CG_GROUP)) == before


async def test_buttons_on_the_group_card_still_work(street: Street) -> None:
    number = await street.blow_whistle(street.person(2001))
    member = street.person(1003)
    card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    answer = await member.answer_to(await member.tap(card, "报到"))
    assert answer is not None and "报到成功" in answer
    assert (await issue_row(street, number))[:3] == ("acknowledged", "cg", 1003)


async def test_other_buttons_in_a_group_are_refused(street: Street) -> None:
    """Only issue-card buttons work in a group: a forged language or report button there
    gets a short answer and changes nothing."""
    member = street.person(1002)
    number = await street.blow_whistle(street.person(2001))
    card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    before = len(bot_messages(street, CG_GROUP))
    for data in ("lang:en", "r:submit", "n:skip"):
        answer = await member.answer_to(await member.tap_data(card, data))
        assert answer is not None and HINT in answer
    await quiet(street)
    assert len(bot_messages(street, CG_GROUP)) == before
    assert await street.whistle.services.people.language(1002) == "zh"


# --- odd input --------------------------------------------------------------------------


@given(st.text(max_size=30))
def test_parse_id_accepts_only_ascii_digits_that_fit_sqlite(value: str) -> None:
    number = parse_id(value)
    if number is not None:
        assert 0 < number <= MAX_ID
        assert value.lstrip("#").isascii() and value.lstrip("#").isdigit()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        ("#12", 12),
        ("007", 7),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 20, None),
        ("0", None),
        ("-1", None),
        ("²", None),
        ("١٢", None),
        ("１２", None),
        ("1e3", None),
        (" 12", None),
        ("", None),
    ],
)
def test_parse_id_examples(value: str, expected: int | None) -> None:
    assert parse_id(value) == expected


ODD_COMMANDS = [
    ("/issue ²", "用法"),
    ("/issue ١٢", "用法"),
    ("/issue 99999999999999999999", "用法"),
    (f"/issue {MAX_ID + 1}", "用法"),
    (f"/issue {MAX_ID}", "找不到"),
    ("/issue 0", "用法"),
    ("/issue -1", "用法"),
    ("/reroute 99999999999999999999 cg", "用法"),
    ("/reroute ² cg", "用法"),
    ("/reroute 1 cg ²", "用法"),
    ("/reroute 1 cg 99999999999999999999", "用法"),
    (f"/reroute {MAX_ID} cg", "找不到"),
    ("/stats 9999-W52", "用法"),
    ("/stats 0001-W01", "用法"),
    ("/stats ２０２６-W47", "用法"),
    ("/stats 2026-W4²", "用法"),
]


async def test_odd_numbers_in_commands_get_a_usage_hint(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    admin = street.person(3001)
    for command, expected in ODD_COMMANDS:
        mark = admin.mark()
        await admin.send(command)
        await admin.expect(expected, mark, timeout=5)
    assert errors(caplog) == []


async def test_odd_numbers_in_button_data_get_a_short_answer(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    admin = street.person(3001)
    mark = admin.mark()
    await admin.send("/help")
    message = await admin.expect("Whistle", mark)
    before = street.dump()
    for data in (
        "ack:²",
        "ack:١٢",
        "ack:99999999999999999999",
        f"ack:{MAX_ID + 1}",
        f"ack:{MAX_ID}",
        "ack:0",
        "ack:-1",
        "res:²",
        "ra:1:²",
        "ra:1:99999999999999999999",
        "rr:²:cg",
        "cxl:9" + "9" * 30,
    ):
        answer = await admin.answer_to(await admin.tap_data(message, data), timeout=5)
        assert answer is not None and len(answer) <= 200, data
    await quiet(street)
    assert errors(caplog) == []
    assert street.dump() == before


@pytest.mark.parametrize("text", ["\u3000", "\u200b", " \u3000 ", "\u2028", "\ufeff"])
async def test_blank_and_invisible_text_from_a_stranger_meets_the_guard(
    street: Street, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    caplog.set_level(logging.ERROR)
    stranger = street.person(STRANGER, "路人")
    mark = stranger.mark()
    await stranger.send(text)
    await stranger.expect("仅供本街道在册人员使用", mark, timeout=5)
    await quiet(street)
    assert len(stranger.inbox()) == mark + 1
    assert errors(caplog) == []


@pytest.mark.parametrize(
    ("week", "accepted"),
    [
        ("0001-W01", False),
        ("0001-W02", False),
        ("0001-W03", True),
        ("2026-W53", True),
        ("2027-W53", False),
        ("2026-W00", False),
        ("9999-W51", True),
        ("9999-W52", False),
        ("２０２６-W47", False),
        ("2026-W4²", False),
        ("2026-w47", True),
    ],
)
def test_whistle_stats_week_parses_or_is_refused_cleanly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    week: str,
    accepted: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WHISTLE_DATABASE", str(tmp_path / "w.db"))
    for form in ("text", "json", "csv"):
        code = cli.main(["stats", "--week", week, "--format", form])
        assert (code == 0) is accepted, form
    if not accepted:
        assert "2026-W47" in capsys.readouterr().err


@given(year=st.integers(1, 9999), week=st.integers(0, 99))
@settings(max_examples=300)
def test_every_week_label_is_a_week_or_refused(year: int, week: int) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    db, clock = Database(Path("unused.db")), ManualClock(WEDNESDAY_MORNING)
    context = ServiceContext(db, clock, OrganisationService(db, clock), cast(Notices, None))
    service = StatisticsService(context, zone)
    label = f"{year:04d}-W{week:02d}"
    try:
        chosen = service.week(label)
    except Refused:
        return
    assert chosen == label
    for shown in (chosen, shift_week(chosen, -1, zone)):
        start, end = week_bounds(shown, zone)
        assert start.timestamp() < end.timestamp()


# --- Telegram's size limits --------------------------------------------------------------


async def test_the_loopback_server_refuses_what_telegram_refuses(street: Street) -> None:
    """Lengths count in UTF-16 units, as Telegram counts them; album captions count too."""
    application = street.whistle.application
    assert application is not None
    bot = application.bot
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(2001, "🙂" * (TEXT_LIMIT // 2 + 1))
    await bot.send_message(2001, "🙂" * (TEXT_LIMIT // 2))
    photo = str(street.api.new_file(b"x")["file_id"])
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.send_media_group(
            2001,
            [InputMediaPhoto(photo, caption="a" * (CAPTION_LIMIT + 1)), InputMediaPhoto(photo)],
        )


async def test_a_long_timeline_is_split_over_several_messages(
    street: Street, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    worker = street.person(2001)
    number = await street.blow_whistle(worker)
    issues = street.whistle.services.issues
    await issues.acknowledge(1002, number)
    notes = [f"第{n}次进展<b>&" + "清" * 990 for n in range(8)]
    for note in notes:
        await issues.progress(1002, number, note)
    await quiet(street)
    for viewer in (worker, street.person(1002), street.person(3001)):
        mark = viewer.mark()
        await viewer.send(f"/issue {number}")
        await viewer.expect(notes[-1][:8], mark)
        await quiet(street)
        shown = viewer.inbox()[mark:]
        assert len(shown) >= 3
        assert all(telegram_length(m.text) <= TEXT_LIMIT for m in shown)
        everything = "".join(m.text for m in shown)
        assert all(note in everything for note in notes)
    assert errors(caplog) == []


async def test_a_long_text_queued_for_sending_is_delivered_in_parts(street: Street) -> None:
    body = "<b>长消息</b>\n" + "第一行 &amp; <i>文字</i>\n" * 800
    photo = str(street.api.new_file(b"x")["file_id"])
    async with street.whistle.db.write() as tx:
        await outbox.enqueue(
            tx,
            chat_id=2001,
            method="sendMessage",
            payload={
                "text": body,
                "parse_mode": "HTML",
                "reply_markup": keyboard([[("确认", "conf:1")]]),
            },
            purpose="notice",
            now=0,
        )
        await outbox.enqueue(
            tx,
            chat_id=2001,
            method="sendPhoto",
            payload={"photo": photo, "caption": "<b>照片</b>" + "说" * 3000, "parse_mode": "HTML"},
            purpose="notice",
            now=0,
        )
    assert street.whistle.sender is not None
    street.whistle.sender.wake()
    await street.settle()
    failed = await fetch_all(
        street.whistle.db.reader, "SELECT * FROM outbox WHERE status != 'sent'"
    )
    assert [dict(r) for r in failed] == []
    received = street.person(2001).inbox()
    texts = [m for m in received if m.kind == "text" and "第一行" in m.text]
    assert len(texts) >= 2 and all(telegram_length(m.text) <= TEXT_LIMIT for m in texts)
    assert [bool(m.buttons()) for m in texts] == [False] * (len(texts) - 1) + [True]
    assert "".join(m.text for m in texts).count("第一行 & 文字") == 800
    caption = next(m for m in received if m.kind == "photo")
    assert telegram_length(caption.text) <= CAPTION_LIMIT and caption.text.endswith("…")


async def test_a_card_with_long_texts_still_fits(tmp_path: Path, district_file: Path) -> None:
    """With 3,000-character descriptions and resolution notes allowed, the card (and its
    edits) still fit in one message."""
    async with open_street(tmp_path, district_file, max_text_length=3000) as street:
        worker, member = street.person(2001), street.person(1002)
        number = await street.blow_whistle(worker, description="脏" * 3000)
        await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
        await street.resolve(member, number, "净" * 3000)
        await quiet(street)
        failed = await fetch_all(
            street.whistle.db.reader, "SELECT method, last_error FROM outbox WHERE status != 'sent'"
        )
        assert [tuple(r) for r in failed] == []
        card = next(m for m in member.inbox() if f"#{number}" in m.text and m.edits)
        assert "已办结" in card.text and telegram_length(card.text) <= TEXT_LIMIT


def html_pieces() -> st.SearchStrategy[str]:
    return st.lists(
        st.one_of(
            st.sampled_from(["\n", "&amp;", "&lt;", "🙂", "长", " "]),
            st.text(alphabet="abc文字", min_size=1, max_size=40),
            st.builds(
                lambda t, inner: f"<{t}>{inner}</{t}>",
                st.sampled_from(["b", "i", "code"]),
                st.text(alphabet="xy\n字", max_size=30),
            ),
        ),
        max_size=400,
    ).map("".join)


@given(source=html_pieces(), limit=st.integers(3, 300))
def test_split_html_never_cuts_a_tag_or_an_entity(source: str, limit: int) -> None:
    parts = split_html(source, limit)
    for part in parts:
        shown = plain_text(part, "HTML")
        assert telegram_length(shown) <= limit
        assert shown.strip() or parts == [source]
    joined = "".join(plain_text(p, "HTML") for p in parts)
    original = plain_text(source, "HTML")
    assert joined.replace("\n", "").replace(" ", "") == original.replace("\n", "").replace(" ", "")
    short = shorten_html(source, limit)
    assert telegram_length(plain_text(short, "HTML")) <= limit


@given(source=html_pieces())
def test_fit_payload_keeps_every_call_within_the_limits(source: str) -> None:
    body = source * 20
    for method, key, limit in (
        ("sendMessage", "text", TEXT_LIMIT),
        ("editMessageText", "text", TEXT_LIMIT),
        ("sendPhoto", "caption", CAPTION_LIMIT),
        ("editMessageCaption", "caption", CAPTION_LIMIT),
    ):
        for part in fit_payload(method, {key: body, "parse_mode": "HTML"}):
            assert telegram_length(plain_text(part[key], "HTML")) <= limit


# --- only buttons people can see ---------------------------------------------------------


async def forged(person: SimulatedUser, data: str, chat_id: int | None = None) -> str | None:
    """`person` taps a button carrying `data` on some message of the bot in `chat_id`."""
    chat = chat_id if chat_id is not None else person.id
    message = [m for m in person.api.chat(chat) if m.from_bot][-1]
    return await person.answer_to(await person.tap_data(message, data), timeout=5)


async def test_a_reporter_cannot_cancel_with_a_forged_button(street: Street) -> None:
    worker = street.person(2001)
    number = await street.blow_whistle(worker)
    await quiet(street)
    before = await issue_row(street, number)
    answer = await forged(worker, f"cxl:{number}")
    assert answer is not None and "失效" in answer
    await quiet(street)
    assert await issue_row(street, number) == before


async def test_forged_buttons_that_no_card_offers_change_nothing(street: Street) -> None:
    """An admin's card offers 改派 to departments, a head's card 改派 to members, the
    reporter's notices 确认 / 重办 in their private chat: each forged the other way round
    (an admin reassigning, a head rerouting, the reporter confirming in the group) is
    refused with a short answer."""
    worker, member, head, admin = (street.person(i) for i in (2001, 1002, 1001, 3001))
    number = await street.blow_whistle(worker)
    await member.tap(await member.expect(f"#{number}", button="报到"), "报到")
    await quiet(street)
    before = await issue_row(street, number)
    await admin.send(f"/issue {number}")
    await head.send(f"/issue {number}")
    await quiet(street)
    for person, data in ((admin, f"ra:{number}:1003"), (head, f"rr:{number}:cg")):
        answer = await forged(person, data)
        assert answer is not None and "失效" in answer, data
    await quiet(street)
    assert await issue_row(street, number) == before
    await street.resolve(member, number, "已清理")
    await quiet(street)
    resolved = await issue_row(street, number)
    group_before = len(bot_messages(street, CG_GROUP))
    answer = await forged(worker, f"conf:{number}", CG_GROUP)
    assert answer is not None and "失效" in answer
    await quiet(street)
    assert await issue_row(street, number) == resolved
    assert len(bot_messages(street, CG_GROUP)) == group_before
    mark = worker.mark()
    await worker.tap(await worker.expect(f"#{number}", button="确认"), "确认")
    await worker.expect("请评价", mark, button="满意")


# --- property: groups, odd numbers, forged buttons -----------------------------------------

NUMBERS = st.one_of(
    st.sampled_from(["²", "١٢", "１２", "0", "-1", "9" * 20, str(MAX_ID), str(MAX_ID + 1), "#1"]),
    st.integers(-(2**70), 2**70).map(str),
    st.text(alphabet="0123456789²³¹١٢٣０１٤", min_size=1, max_size=22),
)
COMMANDS = st.builds(
    lambda name, number, tail: f"/{name} {number} {tail}".strip(),
    st.sampled_from(
        sorted(
            {
                "issue",
                "reroute",
                "invite",
                "todo",
                "my",
                "pending",
                "stats",
                "report",
                "start",
                "help",
                "lang",
                "cancel",
                "whatever",
            }
        )
    ),
    NUMBERS,
    st.sampled_from(["", "cg", "zj 1002", "admin", "2026-W47", "9999-W52"]),
)
TEXTS = st.one_of(COMMANDS, st.sampled_from(["\u3000", "\u200b", " ", "hello", "/"]))
BUTTONS = st.builds(
    lambda kind, number, argument: f"{kind}:{number}{argument}",
    st.sampled_from(["ack", "xfer", "prog", "res", "conf", "reop", "rate", "rr", "ra", "cxl"]),
    NUMBERS,
    st.sampled_from(["", ":cg", ":zj", ":1003", ":satisfied", ":²", ":" + "9" * 20]),
)
PEOPLE = st.sampled_from([3001, 1001, 1002, 1102, 2001, 2003, STRANGER])
REVEALING = ("邀请码", "处置全过程", "网格：", "上报人", "响应率")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    said=st.lists(st.tuples(PEOPLE, st.booleans(), TEXTS), min_size=1, max_size=4),
    taps=st.lists(st.tuples(PEOPLE, st.booleans(), BUTTONS), min_size=1, max_size=4),
)
async def test_groups_odd_numbers_and_forged_buttons_never_break_or_reveal(
    street: Street,
    caplog: pytest.LogCaptureFixture,
    said: list[tuple[int, bool, str]],
    taps: list[tuple[int, bool, str]],
) -> None:
    """Anything said in the 城管 group or in private, with odd numbers, and any forged
    button data, tapped there or in private: no handler fails, every tap is answered,
    nothing in the group reveals an issue, a person or an invite, and only the buttons
    on the cards people were shown act: no invite is made in a group."""
    caplog.set_level(logging.ERROR)
    if not await fetch_one(street.whistle.db.reader, "SELECT 1 FROM issue"):
        await street.blow_whistle(street.person(2001))
    await quiet(street)
    caplog.clear()
    group_before = len(bot_messages(street, CG_GROUP))
    invites = await fetch_all(street.whistle.db.reader, "SELECT code_hash FROM invite")
    for user_id, in_group, text in said:
        person = street.person(user_id)
        if person.mark() == 0:
            await person.send("/help")
        await person.send(text, chat_id=CG_GROUP if in_group else None)
    await quiet(street)
    for user_id, in_group, data in taps:
        person = street.person(user_id)
        chat = CG_GROUP if in_group else user_id
        if not [m for m in street.api.chat(chat) if m.from_bot]:
            await person.send("/help")
            await quiet(street)
        message = [m for m in street.api.chat(chat) if m.from_bot][-1]
        await person.answer_to(await person.tap_data(message, data))
    await quiet(street)
    assert errors(caplog) == []
    for message in bot_messages(street, CG_GROUP)[group_before:]:
        assert message.kind == "text"
        assert HINT in message.text or "Whistle" in message.text, message.text
        assert not any(word in message.text for word in REVEALING), message.text
    if any(in_group for _, in_group, _ in said):
        after = await fetch_all(street.whistle.db.reader, "SELECT code_hash FROM invite")
        private_invites = any(
            not in_group and text.startswith("/invite") and user_id == 3001
            for user_id, in_group, text in said
        )
        assert private_invites or len(after) == len(invites)


def test_command_names() -> None:
    assert command_name("/Stats@WhistleBot last", "whistlebot") == "stats"
    assert command_name("/stats@OtherBot", "whistlebot") == ""
    assert command_name("\u3000", "whistlebot") is None
    assert command_name("/²", "whistlebot") is None
    assert command_name("/issue\u3000", "whistlebot") == "issue"
