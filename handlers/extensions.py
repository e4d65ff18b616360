"""申请延期 and 挂账 on an issue's card, 同意 / 不同意 on the request, and the review of a
挂账. Asking takes a reason then a date (a +N working days button or a typed date); 不同意
takes a reason. These are prompts (handlers/prompts.py): they end when the person starts
anything else, and expire."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Final

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.extensions import MESSAGES, Kind
from bot.i18n import plain, text
from bot.numbers import parse_id
from bot.services import Refused
from bot.services.reports import clean_text
from handlers import prompts
from handlers.common import (
    Context,
    answer_query,
    conversation,
    language,
    markup,
    refuse,
    reply,
    say,
    services,
    spend_buttons,
)

REASON, DATE, REFUSAL, HOLD_DATE = range(4)
REFUSAL_PROMPT: Final = "refusal"
HOLD_MORE_PROMPT: Final = "hold_more"
"""The prompt for a reviewed 挂账's new review date (延长挂账)."""
_PENDING: Final = "pending_extension"
_KINDS: Final = {"ext": Kind.EXTEND, "hold": Kind.HOLD}


def _ids(data: str | None) -> list[str]:
    return (data or "").split(":")


async def ask_reason(update: Update, context: Context) -> int:
    """申请延期 / 挂账 tapped: check the person may ask, then ask why, in private."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    parts = _ids(query.data)
    issue_id = parse_id(parts[1], hash_allowed=False) if len(parts) == 2 else None
    kind = _KINDS.get(parts[0])
    if issue_id is None or kind is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return ConversationHandler.END
    try:
        await services(context).extensions.check(query.from_user.id, issue_id, kind)
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    asked = prompts.begin(context, kind.value, issue_id)
    context.user_data[_PENDING] = {"kind": kind, "issue": issue_id, "prompt": asked}
    lang = await language(update, context)
    in_private = query.message is not None and query.message.chat.type == "private"
    await answer_query(query, None if in_private else plain(lang, "ans_check_private"))
    await context.bot.send_message(
        query.from_user.id,
        str(text(lang, MESSAGES[kind].ask_reason, id=issue_id)),
        parse_mode=ParseMode.HTML,
    )
    return REASON


async def receive_reason(update: Update, context: Context, pending: dict[str, Any]) -> int:
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    try:
        # Checked now, as a note is: a reason too long or with nothing visible is asked
        # again here, not refused after the date was chosen (which ended the request).
        pending["reason"] = clean_text(message.text, services(context).settings.max_text_length)
    except Refused as refused:
        await refuse(update, context, refused)
        return REASON
    try:
        prompt = await services(context).extensions.date_prompt(
            update.effective_user.id, pending["issue"], pending["kind"]
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    await reply(update, prompt)
    return DATE


async def _request(update: Update, context: Context, pending: dict[str, Any], choice: str) -> int:
    assert update.effective_user is not None
    try:
        done = await services(context).extensions.request(
            update.effective_user.id, pending["issue"], pending["kind"], pending["reason"], choice
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return DATE if refused.key.startswith("ext_date") else ConversationHandler.END
    await say(update, context, done, in_chat=True)
    return ConversationHandler.END


async def typed_date(update: Update, context: Context, pending: dict[str, Any]) -> int:
    message = update.effective_message
    assert message is not None
    return await _request(update, context, pending, message.text or "")


async def _tapped_date(
    update: Update,
    context: Context,
    pending: dict[str, Any],
    asking: int,
    chosen: Callable[[Update, Context, dict[str, Any], str], Coroutine[Any, Any, int]],
) -> int:
    """A +N working days button tapped for the pending issue: `chosen` with "+N"; the
    buttons go once it is done. A button of another issue is refused and `asking` goes on."""
    query = update.callback_query
    assert query is not None
    parts = _ids(query.data)
    if len(parts) != 3 or parse_id(parts[1], hash_allowed=False) != pending["issue"]:
        await refuse(update, context, Refused("ans_bad_button"))
        return asking
    await answer_query(query)
    state = await chosen(update, context, pending, f"+{parts[2]}")
    if state == ConversationHandler.END:
        await spend_buttons(query)
    return state


async def date_button(update: Update, context: Context, pending: dict[str, Any]) -> int:
    return await _tapped_date(update, context, pending, DATE, _request)


async def ask_refusal(update: Update, context: Context) -> int:
    """不同意 tapped: check the person may decide, then ask why."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    parts = _ids(query.data)
    request_id = parse_id(parts[1], hash_allowed=False) if len(parts) == 2 else None
    if request_id is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return ConversationHandler.END
    try:
        issue_id = await services(context).extensions.check_decision(query.from_user.id, request_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    asked = prompts.begin(context, REFUSAL_PROMPT, issue_id)
    context.user_data[_PENDING] = {"request": request_id, "issue": issue_id, "prompt": asked}
    lang = await language(update, context)
    await answer_query(query)
    await context.bot.send_message(
        query.from_user.id,
        str(text(lang, "ext_ask_refusal", id=issue_id)),
        parse_mode=ParseMode.HTML,
    )
    return REFUSAL


async def receive_refusal(update: Update, context: Context, pending: dict[str, Any]) -> int:
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    try:
        done = await services(context).extensions.refuse(
            update.effective_user.id, pending["request"], message.text or ""
        )
    except Refused as refused:
        await refuse(update, context, refused)
        asked_again = refused.key in ("report_expect_text", "report_text_too_long")
        return REFUSAL if asked_again else ConversationHandler.END
    await say(update, context, done, in_chat=True)
    return ConversationHandler.END


# 延长挂账: a new review date, by a +N working days button or typed
async def ask_hold_date(update: Update, context: Context) -> int:
    """延长挂账 tapped on a review reminder: check the admin may, then ask for the date."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    parts = _ids(query.data)
    issue_id = parse_id(parts[1], hash_allowed=False) if len(parts) == 3 else None
    if issue_id is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return ConversationHandler.END
    try:
        prompt = await services(context).extensions.hold_more_prompt(query.from_user.id, issue_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    asked = prompts.begin(context, HOLD_MORE_PROMPT, issue_id)
    context.user_data[_PENDING] = {"issue": issue_id, "prompt": asked}
    await answer_query(query)
    await context.bot.send_message(
        query.from_user.id,
        str(prompt.text),
        parse_mode=ParseMode.HTML,
        reply_markup=markup(prompt.buttons),
    )
    return HOLD_DATE


async def _hold_more(update: Update, context: Context, pending: dict[str, Any], day: str) -> int:
    assert update.effective_user is not None
    try:
        done = await services(context).extensions.review(
            update.effective_user.id, pending["issue"], "more", day
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return HOLD_DATE if refused.key.startswith("ext_date") else ConversationHandler.END
    await say(update, context, done, in_chat=True)
    return ConversationHandler.END


async def typed_hold_date(update: Update, context: Context, pending: dict[str, Any]) -> int:
    message = update.effective_message
    assert message is not None
    return await _hold_more(update, context, pending, message.text or "")


async def hold_date_button(update: Update, context: Context, pending: dict[str, Any]) -> int:
    return await _tapped_date(update, context, pending, HOLD_DATE, _hold_more)


async def cancel(update: Update, context: Context, pending: dict[str, Any]) -> int:
    await reply(update, text(await language(update, context), "note_cancelled"))
    return ConversationHandler.END


Step = Callable[[Update, Context, dict[str, Any]], Coroutine[Any, Any, int]]


def _answering(step: Step) -> Callable[[Update, Context], Coroutine[Any, Any, int]]:
    """Input for the pending prompt, only while it is still the person's prompt and has
    not expired; the prompt ends with the conversation."""

    async def run(update: Update, context: Context) -> int:
        assert context.user_data is not None
        pending = context.user_data.get(_PENDING)
        prompt = prompts.current(context)
        if pending is None or prompt is None or pending.get("prompt") is not prompt:
            context.user_data.pop(_PENDING, None)
            return ConversationHandler.END
        if await prompts.drop_if_expired(update, context, prompt, _PENDING):
            return ConversationHandler.END
        asked = services(context).clock.now()
        state = await step(update, context, pending)
        if state == ConversationHandler.END:
            context.user_data.pop(_PENDING, None)
            prompts.finish(context)
        else:
            pending["prompt"] = prompts.begin(context, prompt.kind, prompt.issue_id, at=asked)
        return state

    return run


async def timed_out(update: Update, context: Context) -> None:
    assert context.user_data is not None
    pending = context.user_data.pop(_PENDING, None)
    prompt = prompts.current(context)
    if pending is not None and prompt is not None and pending.get("prompt") is prompt:
        prompts.finish(context)
        await prompts.tell_expired(update, context, prompt)


def extension_conversation(prompt_minutes: int) -> ConversationHandler[Context]:
    private_text = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT
    return conversation(
        entry_points=[
            CallbackQueryHandler(ask_reason, pattern=r"^(ext|hold):\d+$"),
            CallbackQueryHandler(ask_refusal, pattern=r"^xn:\d+$"),
            CallbackQueryHandler(ask_hold_date, pattern=r"^hv:\d+:more$"),
        ],
        states={
            REASON: [MessageHandler(private_text & ~filters.COMMAND, _answering(receive_reason))],
            DATE: [
                MessageHandler(private_text & ~filters.COMMAND, _answering(typed_date)),
                CallbackQueryHandler(_answering(date_button), pattern=r"^xd:"),
            ],
            REFUSAL: [MessageHandler(private_text & ~filters.COMMAND, _answering(receive_refusal))],
            HOLD_DATE: [
                MessageHandler(private_text & ~filters.COMMAND, _answering(typed_hold_date)),
                CallbackQueryHandler(_answering(hold_date_button), pattern=r"^hm:"),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", _answering(cancel))],
        per_chat=False,
        allow_reentry=True,
        conversation_timeout=timedelta(minutes=prompt_minutes),
        name="extension",
    )


async def approve(update: Update, context: Context) -> None:
    """同意: acts at once."""
    query = update.callback_query
    assert query is not None
    parts = _ids(query.data)
    request_id = parse_id(parts[1], hash_allowed=False) if len(parts) == 2 else None
    if request_id is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return
    try:
        done = await services(context).extensions.approve(query.from_user.id, request_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await say(update, context, done)
    await spend_buttons(query)


async def review(update: Update, context: Context) -> None:
    """继续办理 / 关闭 on a 挂账 due for review: acts at once (延长挂账 asks for the new
    date first: `ask_hold_date`)."""
    query = update.callback_query
    assert query is not None
    parts = _ids(query.data)
    issue_id = parse_id(parts[1], hash_allowed=False) if len(parts) == 3 else None
    if issue_id is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return
    try:
        done = await services(context).extensions.review(query.from_user.id, issue_id, parts[2])
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await say(update, context, done)
    await spend_buttons(query)


def decision_handlers() -> list[CallbackQueryHandler[Context, None]]:
    return [
        CallbackQueryHandler(approve, pattern=r"^xy:\d+$"),
        CallbackQueryHandler(review, pattern=r"^hv:\d+:(go|close)$"),
    ]
