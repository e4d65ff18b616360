"""Closures that say why: the holder's 不属实 / 重复 / 非本辖区 buttons and the answer they
ask for (a photo, a number, whose it is), the head's or an admin's 同意 / 不同意, and the
reporter's 异议. The answer is a prompt (handlers/prompts.py): it ends when the person
starts anything else, and expires."""

from __future__ import annotations

from typing import Final

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, MessageHandler, filters

from bot.closures import ClosureKind
from bot.numbers import parse_id
from bot.services import Refused
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

KIND: Final = "closure"
"""The prompt's kind (its catalogue key `prompt_what_closure`)."""
_PENDING: Final = "pending_closure"


def _parts(update: Update, count: int) -> list[str] | None:
    query = update.callback_query
    parts = (query.data or "").split(":") if query is not None else []
    return parts[1:] if len(parts) == count + 1 else None


async def ask(update: Update, context: Context) -> None:
    """不属实 / 重复 / 非本辖区 on the holder's card: check, then ask for the reason."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    parts = _parts(update, 2)
    issue_id = parse_id(parts[0], hash_allowed=False) if parts else None
    try:
        if parts is None or issue_id is None or parts[1] not in set(ClosureKind):
            raise Refused("ans_bad_button")
        kind = ClosureKind(parts[1])
        question = await services(context).closures.ask(query.from_user.id, issue_id, kind)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    # 不属实 is answered with a site photo: that prompt takes photos.
    asked = prompts.begin(context, KIND, issue_id, takes_photos=kind == ClosureKind.INVALID)
    context.user_data[_PENDING] = {"kind": kind, "issue": issue_id, "prompt": asked}
    await answer_query(query)
    await reply(update, question)


async def answer(update: Update, context: Context) -> None:
    """The reason, while the closure prompt is the person's pending prompt: anything else
    goes on to the rest of the bot."""
    assert context.user_data is not None and update.effective_user is not None
    pending = context.user_data.get(_PENDING)
    prompt = prompts.current(context)
    if pending is None or prompt is None or pending["prompt"] is not prompt:
        context.user_data.pop(_PENDING, None)
        return
    if prompts.expired(context, prompt.started_at):
        context.user_data.pop(_PENDING, None)
        prompts.finish(context)
        await prompts.tell_expired(update, context, prompt)
        raise ApplicationHandlerStop
    message = update.effective_message
    assert message is not None
    if message.text and message.text.strip().lower() in ("/cancel", "/取消"):
        context.user_data.pop(_PENDING, None)
        prompts.finish(context)
        await reply(update, prompts.cancelled_text(await language(update, context), prompt))
        raise ApplicationHandlerStop
    photo = (message.photo[-1].file_id, message.photo[-1].file_unique_id) if message.photo else None
    words = message.caption if message.photo else message.text
    try:
        done = await services(context).closures.request(
            update.effective_user.id, pending["issue"], pending["kind"], words, photo
        )
    except Refused as refused:
        # Bad input changes nothing; the prompt stays for another try.
        await refuse(update, context, refused)
        raise ApplicationHandlerStop from None
    context.user_data.pop(_PENDING, None)
    prompts.finish(context)
    await say(update, context, done)
    raise ApplicationHandlerStop


async def decide(update: Update, context: Context) -> None:
    """同意 / 不同意 on the approval card."""
    query = update.callback_query
    assert query is not None
    parts = _parts(update, 2)
    request_id = parse_id(parts[0], hash_allowed=False) if parts else None
    try:
        if parts is None or request_id is None or parts[1] not in ("y", "n"):
            raise Refused("ans_bad_button")
        done = await services(context).closures.decide(
            query.from_user.id, request_id, parts[1] == "y"
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await say(update, context, done)
    await spend_buttons(query)


async def object_to(update: Update, context: Context) -> None:
    """异议 on the reporter's closure notice."""
    query = update.callback_query
    assert query is not None
    parts = _parts(update, 1)
    request_id = parse_id(parts[0], hash_allowed=False) if parts else None
    try:
        if request_id is None:
            raise Refused("ans_bad_button")
        done = await services(context).closures.object(query.from_user.id, request_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await say(update, context, done)
    await spend_buttons(query)


def answer_handler() -> MessageHandler[Context, None]:
    """In the note group, after the note conversation: the closure prompt's answer."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return MessageHandler(private & (filters.TEXT | filters.PHOTO), answer)


def button_handlers() -> list[CallbackQueryHandler[Context, None]]:
    return [
        CallbackQueryHandler(ask, pattern=r"^clr:"),
        CallbackQueryHandler(decide, pattern=r"^cld:"),
        CallbackQueryHandler(object_to, pattern=r"^clo:"),
    ]
