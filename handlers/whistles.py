"""联合吹哨 in the chat: /whistle, the admin's 吹哨 button and department picker, 到场 with
the member's location. Thin: each handler calls one service method and sends its answer;
the services decide who may do what. What the bot waits for (the whistle's place, a
check-in's location) is a prompt like a note's (handlers/prompts.py)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop

from bot.i18n import text
from bot.numbers import parse_id
from bot.services import Refused
from bot.services.issues import Tap
from bot.services.reports import clean_text
from bot.whistle_views import WhistleButton, parse_whistle_button
from bot.whistles import Place
from handlers import prompts
from handlers.common import Context, answer_query, language, refuse, reply, say, services
from handlers.common import markup as keyboard_markup

_PENDING = "whistle_pending"
_PICKED = "whistle_picked"
ARRIVE_PROMPT = "wh_arrive"
PLACE_PROMPT = "wh_place"
CO_DONE_PROMPT = "wh_co_done"
PHOTO_PROMPT = "wh_photo"
STEER_VERBS = ("add", "release", "override")


def _caller(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _user_data(context: Context) -> dict[Any, Any]:
    assert context.user_data is not None
    return context.user_data


async def _ask(update: Update, context: Context, kind: str, issue_id: int, **extra: Any) -> None:
    """Wait for a location from the person, as their one pending prompt."""
    # A whistle prompt takes a location (and a photo): they do not start a report here.
    asked = prompts.begin(context, kind, issue_id, takes_photos=True)
    _user_data(context)[_PENDING] = {"kind": kind, "issue": issue_id, "prompt": asked, **extra}
    lang = await language(update, context)
    key = {
        ARRIVE_PROMPT: "wh_ask_location",
        PLACE_PROMPT: "wh_need_place",
        CO_DONE_PROMPT: "wh_ask_co_done",
    }.get(kind)
    if key is None:
        return
    await context.bot.send_message(
        _caller(update), str(text(lang, key, id=issue_id)), parse_mode=ParseMode.HTML
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


async def whistle_button(update: Update, context: Context) -> None:
    """吹哨 (open the picker), a department in the picker, 吹哨 on the picked, 到场."""
    query = update.callback_query
    assert query is not None and query.from_user is not None
    parsed = parse_whistle_button(query.data)
    if parsed is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return
    button, issue_id, argument = parsed
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    tap = Tap(query.data or "", chat)
    svc = services(context).whistles
    user = query.from_user.id
    picks: dict[int, list[str]] = _user_data(context).setdefault(_PICKED, {})
    try:
        match button:
            case WhistleButton.START:
                picks[issue_id] = []
                rendered = await svc.picker(user, issue_id, [], tap)
                await answer_query(query)
                await context.bot.send_message(
                    user,
                    str(rendered.text),
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard_markup(rendered.buttons),
                )
            case WhistleButton.PICK:
                chosen = list(picks.get(issue_id, []))
                if argument is None:
                    raise Refused("ans_bad_button")
                if argument in chosen:
                    chosen.remove(argument)
                else:
                    chosen.append(argument)
                rendered = await svc.picker(user, issue_id, chosen)
                picks[issue_id] = chosen
                await answer_query(query)
                await query.edit_message_text(
                    str(rendered.text),
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard_markup(rendered.buttons),
                )
            case WhistleButton.BLOW:
                chosen = list(picks.get(issue_id, []))
                if not chosen:
                    raise Refused("ans_bad_button")
                if await svc.needs_place(user, issue_id, chosen):
                    await answer_query(query)
                    await _ask(update, context, PLACE_PROMPT, issue_id, codes=chosen)
                    return
                done = await svc.blow(user, issue_id, chosen)
                picks.pop(issue_id, None)
                await query.edit_message_reply_markup(None)
                await say(update, context, done, in_chat=True)
                await answer_query(query)
            case WhistleButton.CO_DONE:
                await svc.check_co_done(user, issue_id, argument or "", tap)
                await answer_query(query)
                await _ask(update, context, CO_DONE_PROMPT, issue_id, department=argument)
            case WhistleButton.RATE:
                done = await svc.rate(user, issue_id, argument or "")
                await answer_query(query)
                await query.edit_message_reply_markup(None)
                await say(update, context, done, in_chat=True)
            case WhistleButton.ARRIVE:
                await svc.check_arrive(user, issue_id, argument or "", tap)
                await answer_query(query)
                await _ask(update, context, ARRIVE_PROMPT, issue_id, department=argument)
            case _:
                await refuse(update, context, Refused("ans_bad_button"))
    except Refused as refused:
        await refuse(update, context, refused)


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
    """A location (or anything else) while a whistle prompt waits; otherwise the update
    goes on to the rest of the bot."""
    pending = _live(context)
    if pending is None:
        return
    message = update.effective_message
    assert message is not None
    prompt = pending.get("prompt")
    if prompt is not None and prompts.expired(context, prompt.started_at):
        _user_data(context).pop(_PENDING, None)
        prompts.finish(context)
        await prompts.tell_expired(update, context, prompt)
        raise ApplicationHandlerStop
    svc = services(context).whistles
    if pending["kind"] == PHOTO_PROMPT:
        # The optional photo after a check-in; anything else goes on as usual.
        _user_data(context).pop(_PENDING, None)
        if not message.photo:
            return
        try:
            await say(
                update,
                context,
                await svc.check_in_photo(
                    _caller(update),
                    pending["issue"],
                    pending["department"],
                    message.photo[-1].file_id,
                ),
            )
        except Refused as refused:
            await refuse(update, context, refused)
        raise ApplicationHandlerStop
    if pending["kind"] == CO_DONE_PROMPT:
        try:
            note = clean_text(message.text, services(context).settings.max_text_length)
        except Refused as refused:
            await refuse(update, context, refused)
            raise ApplicationHandlerStop from None
        _user_data(context).pop(_PENDING, None)
        prompts.finish(context)
        try:
            await say(
                update,
                context,
                await svc.co_done(_caller(update), pending["issue"], pending["department"], note),
            )
        except Refused as refused:
            await refuse(update, context, refused)
        raise ApplicationHandlerStop
    if message.location is None:
        await reply(update, text(await language(update, context), "wh_expect_location"))
        raise ApplicationHandlerStop
    place = Place(message.location.latitude, message.location.longitude)
    try:
        if pending["kind"] == ARRIVE_PROMPT:
            done = await svc.check_in(
                _caller(update), pending["issue"], pending["department"], place
            )
        else:
            done = await svc.blow(_caller(update), pending["issue"], pending["codes"], place)
            _user_data(context).get(_PICKED, {}).pop(pending["issue"], None)
    except Refused as refused:
        if refused.key != "wh_bad_place":
            _user_data(context).pop(_PENDING, None)
            prompts.finish(context)
        await refuse(update, context, refused)
        raise ApplicationHandlerStop from None
    _user_data(context).pop(_PENDING, None)
    prompts.finish(context)
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
    raise ApplicationHandlerStop


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
