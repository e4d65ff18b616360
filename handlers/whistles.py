"""联合吹哨 in the chat: /whistle, the admin's 吹哨 button and department picker, 到场 with
the member's location. Thin: each handler calls one service method and sends its answer;
the services decide who may do what. What the bot waits for (the whistle's place, a
check-in's location) is a prompt like a note's (handlers/prompts.py)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop

from bot.i18n import plain, text
from bot.numbers import parse_id
from bot.services import Refused
from bot.services.issues import Tap
from bot.services.reports import clean_text
from bot.views import Buttons
from bot.whistle_views import WhistleButton, parse_whistle_button
from bot.whistle_views import whistle_button as whistle_button_data
from bot.whistles import Place
from handlers import prompts
from handlers.common import (
    Context,
    answer_query,
    language,
    refuse,
    reply,
    say,
    services,
    spend_buttons,
)
from handlers.common import markup as keyboard_markup

_PENDING = "whistle_pending"
_PICKED = "whistle_picked"
ARRIVE_PROMPT = "wh_arrive"
PLACE_PROMPT = "wh_place"
CO_DONE_PROMPT = "wh_co_done"
PHOTO_PROMPT = "wh_photo"
CO_PHOTOS_PROMPT = "wh_co_photos"
REASON_PROMPT = "wh_reason"
STEER_VERBS = ("add", "release", "override")


def _caller(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _user_data(context: Context) -> dict[Any, Any]:
    assert context.user_data is not None
    return context.user_data


async def _ask(update: Update, context: Context, kind: str, issue_id: int, **extra: Any) -> None:
    """Wait for the person's answer (a location, a note, a reason), as their one pending
    prompt."""
    # A whistle prompt takes a location (and a photo): they do not start a report here.
    asked = prompts.begin(context, kind, issue_id, takes_photos=kind != REASON_PROMPT)
    _user_data(context)[_PENDING] = {"kind": kind, "issue": issue_id, "prompt": asked, **extra}
    lang = await language(update, context)
    key = {
        ARRIVE_PROMPT: "wh_ask_location",
        PLACE_PROMPT: "wh_need_place",
        CO_DONE_PROMPT: "wh_ask_co_done",
        REASON_PROMPT: "wh_ask_reason",
    }.get(kind)
    if key is None:
        return
    buttons: Buttons = []
    if kind == REASON_PROMPT:
        skip = whistle_button_data(WhistleButton.FINISH, issue_id, "skip")
        buttons = [[(plain(lang, "btn_skip"), skip)]]
    await context.bot.send_message(
        _caller(update),
        str(text(lang, key, id=issue_id)),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard_markup(buttons),
    )


async def whistle_command(update: Update, context: Context) -> None:
    """/whistle N LEAD [DEPT ...]; /whistle N add|release DEPT REASON; /whistle N override
    REASON."""
    args = context.args or []
    issue_id = parse_id(args[0]) if args else None
    svc = services(context)
    try:
        if issue_id is None or len(args) < 2:
            await say(update, context, await svc.people.usage(_caller(update), "wh_usage"))
            return
        verb = args[1].lower()
        if verb in STEER_VERBS:
            words = args[2:] if verb == "override" else args[3:]
            department = "" if verb == "override" else (args[2] if len(args) > 2 else "")
            if verb != "override" and not department:
                await say(update, context, await svc.people.usage(_caller(update), "wh_usage"))
                return
            answer = await svc.whistles.steer(
                _caller(update), issue_id, verb, department, " ".join(words)
            )
            await say(update, context, answer)
            return
        codes = args[1:]
        if await svc.whistles.needs_place(_caller(update), issue_id, codes):
            await _ask(update, context, PLACE_PROMPT, issue_id, codes=codes)
            return
        await say(update, context, await svc.whistles.blow(_caller(update), issue_id, codes))
    except Refused as refused:
        await refuse(update, context, refused)


@dataclass(frozen=True)
class _Tapped:
    """A tap on one of the whistle's buttons, parsed."""

    query: CallbackQuery
    user: int
    issue_id: int
    argument: str | None
    tap: Tap


async def whistle_button(update: Update, context: Context) -> None:
    """吹哨 (open the picker), a department in the picker, 吹哨 on the picked, 到场,
    配合完成, the street's rating, and 提交 / 跳过 of a whistle prompt."""
    query = update.callback_query
    assert query is not None and query.from_user is not None
    parsed = parse_whistle_button(query.data)
    if parsed is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return
    button, issue_id, argument = parsed
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    tapped = _Tapped(query, query.from_user.id, issue_id, argument, Tap(query.data or "", chat))
    try:
        await _BUTTONS[button](update, context, tapped)
    except Refused as refused:
        await refuse(update, context, refused)


def _picks(context: Context) -> dict[int, list[str]]:
    picks: dict[int, list[str]] = _user_data(context).setdefault(_PICKED, {})
    return picks


async def _start(update: Update, context: Context, t: _Tapped) -> None:
    _picks(context)[t.issue_id] = []
    rendered = await services(context).whistles.picker(t.user, t.issue_id, [], t.tap)
    await answer_query(t.query)
    await context.bot.send_message(
        t.user,
        str(rendered.text),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard_markup(rendered.buttons),
    )


async def _pick(update: Update, context: Context, t: _Tapped) -> None:
    chosen = list(_picks(context).get(t.issue_id, []))
    if t.argument is None:
        raise Refused("ans_bad_button")
    if t.argument in chosen:
        chosen.remove(t.argument)
    else:
        chosen.append(t.argument)
    rendered = await services(context).whistles.picker(t.user, t.issue_id, chosen)
    _picks(context)[t.issue_id] = chosen
    await answer_query(t.query)
    await t.query.edit_message_text(
        str(rendered.text),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard_markup(rendered.buttons),
    )


async def _blow(update: Update, context: Context, t: _Tapped) -> None:
    svc = services(context).whistles
    chosen = list(_picks(context).get(t.issue_id, []))
    if not chosen:
        raise Refused("ans_bad_button")
    if await svc.needs_place(t.user, t.issue_id, chosen):
        await answer_query(t.query)
        await _ask(update, context, PLACE_PROMPT, t.issue_id, codes=chosen)
        return
    done = await svc.blow(t.user, t.issue_id, chosen)
    _picks(context).pop(t.issue_id, None)
    await spend_buttons(t.query)
    await say(update, context, done, in_chat=True)
    await answer_query(t.query)


async def _co_done(update: Update, context: Context, t: _Tapped) -> None:
    await services(context).whistles.check_co_done(t.user, t.issue_id, t.argument or "", t.tap)
    await answer_query(t.query)
    await _ask(update, context, CO_DONE_PROMPT, t.issue_id, department=t.argument)


async def _arrive(update: Update, context: Context, t: _Tapped) -> None:
    await services(context).whistles.check_arrive(t.user, t.issue_id, t.argument or "", t.tap)
    await answer_query(t.query)
    await _ask(update, context, ARRIVE_PROMPT, t.issue_id, department=t.argument)


async def _rate(update: Update, context: Context, t: _Tapped) -> None:
    """The street's rating, kept at once; then the optional reason is asked for."""
    done = await services(context).whistles.rate(t.user, t.issue_id, t.argument or "")
    await answer_query(t.query)
    await spend_buttons(t.query)
    await say(update, context, done, in_chat=True)
    department = (t.argument or "").partition(".")[0]
    await _ask(update, context, REASON_PROMPT, t.issue_id, department=department)


async def _finish(update: Update, context: Context, t: _Tapped) -> None:
    """提交 / 跳过 of the pending whistle prompt: 配合完成 with its photos, or no reason."""
    pending = _live(context)
    if (
        pending is None
        or pending["issue"] != t.issue_id
        or pending["kind"] not in (CO_PHOTOS_PROMPT, REASON_PROMPT)
    ):
        raise Refused("ans_bad_button")
    _user_data(context).pop(_PENDING, None)
    prompts.finish(context)
    await answer_query(t.query)
    await spend_buttons(t.query)
    if pending["kind"] == REASON_PROMPT:
        await reply(update, text(await language(update, context), "wh_reason_skipped"))
        return
    done = await services(context).whistles.co_done(
        t.user, t.issue_id, pending["department"], pending["note"], pending["photos"]
    )
    await say(update, context, done, in_chat=True)


_BUTTONS: dict[WhistleButton, Callable[[Update, Context, _Tapped], Coroutine[Any, Any, None]]] = {
    WhistleButton.START: _start,
    WhistleButton.PICK: _pick,
    WhistleButton.BLOW: _blow,
    WhistleButton.CO_DONE: _co_done,
    WhistleButton.RATE: _rate,
    WhistleButton.ARRIVE: _arrive,
    WhistleButton.FINISH: _finish,
}


def _live(context: Context) -> dict[str, Any] | None:
    """The whistle prompt this person owes an answer to, if it is still their pending one
    and has not expired."""
    data = _user_data(context)
    pending: dict[str, Any] | None = data.get(_PENDING)
    if pending is None:
        return None
    prompt = prompts.current(context)
    if pending["kind"] == PHOTO_PROMPT:
        if prompt is not None or prompts.expired(context, pending["at"]):
            data.pop(_PENDING, None)
            return None
        return pending
    if prompt is None or pending.get("prompt") is not prompt:
        data.pop(_PENDING, None)
        return None
    return pending


async def whistle_input(update: Update, context: Context) -> None:
    """A location, a note, a photo or a reason while a whistle prompt waits; otherwise the
    update goes on to the rest of the bot."""
    pending = _live(context)
    if pending is None:
        return
    prompt = pending.get("prompt")
    if prompt is not None and prompts.expired(context, prompt.started_at):
        _user_data(context).pop(_PENDING, None)
        prompts.finish(context)
        await prompts.tell_expired(update, context, prompt)
        raise ApplicationHandlerStop
    answer = _INPUTS.get(pending["kind"], _location_input)
    try:
        await answer(update, context, pending)
    except _GoOn:
        return
    except Refused as refused:
        await refuse(update, context, refused)
    raise ApplicationHandlerStop


class _GoOn(Exception):
    """The update is not the prompt's: it goes on to the rest of the bot."""


def _message(update: Update) -> Message:
    message = update.effective_message
    assert message is not None
    return message


def _done(context: Context) -> None:
    _user_data(context).pop(_PENDING, None)
    prompts.finish(context)


async def _photo_input(update: Update, context: Context, pending: dict[str, Any]) -> None:
    """The optional photo after a check-in; anything else goes on as usual."""
    _user_data(context).pop(_PENDING, None)
    message = _message(update)
    if not message.photo:
        raise _GoOn
    await say(
        update,
        context,
        await services(context).whistles.check_in_photo(
            _caller(update), pending["issue"], pending["department"], message.photo[-1].file_id
        ),
    )


async def _co_done_note(update: Update, context: Context, pending: dict[str, Any]) -> None:
    """配合完成's note; then its photos are asked for (提交 / 跳过), as 办结's are."""
    note = clean_text(_message(update).text, services(context).settings.max_text_length)
    pending["note"] = note
    pending["photos"] = []
    pending["kind"] = CO_PHOTOS_PROMPT
    pending["prompt"] = prompts.begin(
        context, CO_PHOTOS_PROMPT, pending["issue"], takes_photos=True
    )
    lang = await language(update, context)
    await reply(
        update,
        text(lang, "wh_ask_co_photos", id=pending["issue"]),
        [[(plain(lang, "btn_skip"), _finish_data(pending, "skip")), _submit(lang, pending)]],
    )


async def _co_done_photo(update: Update, context: Context, pending: dict[str, Any]) -> None:
    message = _message(update)
    lang = await language(update, context)
    if not message.photo:
        await reply(update, text(lang, "wh_expect_photos"), [[_submit(lang, pending)]])
        return
    largest = message.photo[-1]
    if len(pending["photos"]) < services(context).settings.max_photos:
        pending["photos"].append((largest.file_id, largest.file_unique_id))
    await reply(
        update,
        text(lang, "wh_co_photo_added", count=len(pending["photos"])),
        [[_submit(lang, pending)]],
    )


def _finish_data(pending: dict[str, Any], argument: str) -> str:
    return whistle_button_data(WhistleButton.FINISH, pending["issue"], argument)


def _submit(lang: str, pending: dict[str, Any]) -> tuple[str, str]:
    return plain(lang, "btn_submit"), _finish_data(pending, "submit")


async def _reason_input(update: Update, context: Context, pending: dict[str, Any]) -> None:
    """The optional reason for the street's rating (text)."""
    message = _message(update)
    if message.text is None:
        await reply(update, text(await language(update, context), "wh_expect_reason"))
        return
    reason = clean_text(message.text, services(context).settings.max_text_length)
    _done(context)
    await say(
        update,
        context,
        await services(context).whistles.rate_reason(
            _caller(update), pending["issue"], pending["department"], reason
        ),
    )


async def _location_input(update: Update, context: Context, pending: dict[str, Any]) -> None:
    """The check-in's location (到场), or the whistle's place."""
    message = _message(update)
    svc = services(context).whistles
    if message.location is None and pending["kind"] == PLACE_PROMPT and message.text:
        # An address: found in the street's gazetteer, else a location pin is asked for.
        try:
            done = await svc.blow_at(
                _caller(update), pending["issue"], pending["codes"], message.text
            )
        except Refused as refused:
            if refused.key not in ("wh_place_unknown", "wh_place_ambiguous"):
                _done(context)
            raise
        _picks(context).pop(pending["issue"], None)
        _done(context)
        await say(update, context, done)
        return
    if message.location is None:
        await reply(update, text(await language(update, context), "wh_expect_location"))
        return
    place = Place(message.location.latitude, message.location.longitude)
    try:
        if pending["kind"] == ARRIVE_PROMPT:
            done = await svc.check_in(
                _caller(update), pending["issue"], pending["department"], place
            )
        else:
            done = await svc.blow(_caller(update), pending["issue"], pending["codes"], place)
            _picks(context).pop(pending["issue"], None)
    except Refused as refused:
        if refused.key != "wh_bad_place":
            _done(context)
        raise
    _done(context)
    await say(update, context, done)
    if pending["kind"] == ARRIVE_PROMPT:
        # A photo of the scene may follow (optional): taken if it is the person's next
        # message, without a prompt of its own (anything else just goes on).
        _user_data(context)[_PENDING] = {
            "kind": PHOTO_PROMPT,
            "issue": pending["issue"],
            "department": pending["department"],
            "at": services(context).clock.now(),
        }


_INPUTS: dict[str, Callable[[Update, Context, dict[str, Any]], Coroutine[Any, Any, None]]] = {
    PHOTO_PROMPT: _photo_input,
    CO_DONE_PROMPT: _co_done_note,
    CO_PHOTOS_PROMPT: _co_done_photo,
    REASON_PROMPT: _reason_input,
}


async def whistle_cancel(update: Update, context: Context) -> None:
    """/cancel while a whistle prompt waits: drop it (else /cancel goes on as usual)."""
    pending = _live(context)
    if pending is None or pending["kind"] == PHOTO_PROMPT:
        _user_data(context).pop(_PENDING, None)
        return
    _user_data(context).pop(_PENDING, None)
    prompts.finish(context)
    await reply(update, text(await language(update, context), "note_cancelled"))
    raise ApplicationHandlerStop
