"""The report conversation (/report): grid, category, description, photos, location,
urgency, summary, 提交. Each step is saved in the draft, which is also the conversation's
persisted state. The conversation takes input only while its prompt is pending
(handlers/prompts.py): after the person started something else, or after
WHISTLE_PROMPT_MINUTES without a step, the draft is kept and /report carries on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.callbacks import ReportButton, report_argument
from bot.clock import from_epoch
from bot.i18n import plain, text
from bot.numbers import parse_id
from bot.records import Draft
from bot.report_steps import Step
from bot.services import Refused
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

REPORT_CONVERSATION = "report"
PRIVATE = filters.ChatType.PRIVATE


async def _show(update: Update, context: Context, draft: Draft, edit: bool = False) -> int:
    """Show the prompt for the draft's step; returns that step for the ConversationHandler."""
    prompt = await services(context).reports.prompt(draft, await language(update, context))
    query = update.callback_query
    if edit and query is not None and query.message is not None:
        await query.edit_message_text(
            str(prompt.text), parse_mode=ParseMode.HTML, reply_markup=markup(prompt.buttons)
        )
    else:
        await reply(update, prompt)
    return draft.step


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


async def start_report(update: Update, context: Context) -> int | None:
    user = _user_id(update)
    assert update.effective_chat is not None
    reports = services(context).reports
    existing = await reports.current(user)
    try:
        draft = await reports.begin(user, update.effective_chat.id)
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    if existing is not None:
        await reply(update, text(await language(update, context), "report_resumed"))
        if draft.step == Step.OFFER:
            draft = await reports.accept_offer(user)
    return await _show(update, context, draft)


async def offer_report(update: Update, context: Context) -> int | None:
    """A photo or a text sent outside a conversation: offer to start a report with it."""
    message = update.effective_message
    assert message is not None and update.effective_chat is not None
    user = _user_id(update)
    photo = None
    if message.photo:
        largest = message.photo[-1]
        photo = (largest.file_id, largest.file_unique_id)
    description = message.caption if photo else message.text
    try:
        draft = await services(context).reports.begin(
            user, update.effective_chat.id, description=description, photo=photo, offer=True
        )
    except Refused as refused:
        lang = await language(update, context)
        if refused.key == "report_not_worker":
            await reply(update, text(lang, "unknown_input"))
        else:
            await refuse(update, context, refused)
        return ConversationHandler.END
    return await _show(update, context, draft)


async def accept_offer(update: Update, context: Context) -> int | None:
    return await _step(update, context, services(context).reports.accept_offer(_user_id(update)))


async def _step(
    update: Update, context: Context, change: Awaitable[Draft], edit: bool = True
) -> int | None:
    query = update.callback_query
    try:
        draft = await change
    except Refused as refused:
        await refuse(update, context, refused)
        return None
    if query is None:
        return await _show(update, context, draft)
    # The tap's answer and the next prompt go out together: over a real network that is
    # one round trip to Telegram instead of two before the worker sees the next step.
    step, _ = await asyncio.gather(_show(update, context, draft, edit=edit), answer_query(query))
    return step


async def choose_grid(update: Update, context: Context) -> int | None:
    query = update.callback_query
    assert query is not None
    grid = report_argument(query.data, ReportButton.GRID)
    if grid is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return None
    return await _step(
        update, context, services(context).reports.choose_grid(_user_id(update), grid)
    )


async def choose_category(update: Update, context: Context) -> int | None:
    query = update.callback_query
    assert query is not None
    category = report_argument(query.data, ReportButton.CATEGORY)
    if category is None:
        await refuse(update, context, Refused("ans_bad_button"))
        return None
    return await _step(
        update, context, services(context).reports.choose_category(_user_id(update), category)
    )


async def describe(update: Update, context: Context) -> int | None:
    message = update.effective_message
    assert message is not None
    return await _step(
        update,
        context,
        services(context).reports.describe(_user_id(update), message.text),
        edit=False,
    )


async def add_photo(update: Update, context: Context) -> int | None:
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    reports = services(context).reports
    try:
        draft = await reports.add_photo(_user_id(update), largest.file_id, largest.file_unique_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return None
    lang = await language(update, context)
    await reply(
        update,
        text(lang, "report_photo_added", count=len(draft.photos)),
        [[(text(lang, "btn_done"), ReportButton.DONE.value)]],
    )
    return None


async def photos_done(update: Update, context: Context) -> int | None:
    return await _step(update, context, services(context).reports.photos_done(_user_id(update)))


async def locate(update: Update, context: Context) -> int | None:
    message = update.effective_message
    assert message is not None
    reports = services(context).reports
    if message.venue is not None:
        venue = message.venue
        change = reports.locate(
            _user_id(update),
            latitude=venue.location.latitude,
            longitude=venue.location.longitude,
            address=f"{venue.title} {venue.address}".strip(),
        )
    elif message.location is not None:
        change = reports.locate(
            _user_id(update),
            latitude=message.location.latitude,
            longitude=message.location.longitude,
        )
    else:
        change = reports.locate(_user_id(update), address=message.text)
    try:
        draft = await change
    except Refused as refused:
        await refuse(update, context, refused)
        return None
    # 附议: open issues of the same category reported nearby are offered first.
    nearby = await services(context).closures.offer_nearby(draft.user_id)
    if nearby is not None:
        await reply(update, nearby)
        return draft.step
    return await _show(update, context, draft)


async def second(update: Update, context: Context) -> int | None:
    """附议 on an issue offered after the location: follow it; the draft is discarded."""
    query = update.callback_query
    assert query is not None
    issue_id = parse_id(report_argument(query.data, ReportButton.SECOND), hash_allowed=False)
    try:
        if issue_id is None:
            raise Refused("ans_bad_button")
        done = await services(context).closures.second(_user_id(update), issue_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return None
    await asyncio.gather(spend_buttons(query), answer_query(query))
    await say(update, context, done, in_chat=True)
    return ConversationHandler.END


async def not_same(update: Update, context: Context) -> int | None:
    """不是同一个问题: the new report carries on (its urgency step)."""
    query = update.callback_query
    assert query is not None
    draft = await services(context).reports.current(_user_id(update))
    if draft is None:
        await refuse(update, context, Refused("report_already_submitted"))
        return ConversationHandler.END
    await asyncio.gather(spend_buttons(query), answer_query(query))
    return await _show(update, context, draft)


async def skip_location(update: Update, context: Context) -> int | None:
    return await _step(update, context, services(context).reports.skip_location(_user_id(update)))


async def set_urgency(update: Update, context: Context) -> int | None:
    query = update.callback_query
    assert query is not None
    value = report_argument(query.data, ReportButton.URGENCY)
    if value not in ("0", "1"):
        await refuse(update, context, Refused("ans_bad_button"))
        return None
    return await _step(
        update, context, services(context).reports.set_urgency(_user_id(update), value == "1")
    )


async def submit(update: Update, context: Context) -> int | None:
    query = update.callback_query
    assert query is not None
    svc = services(context)
    try:
        receipt = await svc.issues.submit_report(
            _user_id(update), ask_whistle=query.data == ReportButton.WHISTLE.value
        )
    except Refused as refused:
        await refuse(update, context, refused)
        if refused.key == "report_category_gone":
            # What the worker wrote is kept; only the category is chosen again.
            draft = await svc.reports.category_gone(_user_id(update))
            await spend_buttons(query)
            return await _show(update, context, draft)
        return ConversationHandler.END
    await asyncio.gather(
        query.edit_message_text(str(receipt.text), parse_mode=ParseMode.HTML), answer_query(query)
    )
    return ConversationHandler.END


async def cancel(update: Update, context: Context) -> int:
    lang = await language(update, context)
    dropped = await services(context).reports.discard(_user_id(update))
    query = update.callback_query
    if query is not None:
        await answer_query(query)
        if query.message is not None:
            await spend_buttons(query)
    key = "report_cancelled" if dropped else "nothing_to_cancel"
    await reply(update, text(lang, key))
    return ConversationHandler.END


async def unexpected(update: Update, context: Context) -> int | None:
    """Anything that does not fit the current step gets a hint, and changes nothing."""
    draft = await services(context).reports.current(_user_id(update))
    lang = await language(update, context)
    hints = {
        Step.DESCRIPTION: "report_expect_text",
        Step.PHOTOS: "report_expect_photo",
        Step.LOCATION: "report_expect_location",
    }
    key = hints.get(Step(draft.step), "report_expect_choice") if draft else "nothing_to_cancel"
    if update.callback_query is not None:
        await answer_query(update.callback_query, text(lang, key)[:200])
    else:
        await reply(update, text(lang, key))
    return None if draft else ConversationHandler.END


Callback = Callable[[Update, Context], Coroutine[Any, Any, int | None]]


async def _stale(update: Update, context: Context) -> bool:
    """The person started something else since the last step, or took longer than
    WHISTLE_PROMPT_MINUTES: say the report is paused; the input is not taken."""
    svc = services(context)
    draft = await svc.reports.current(_user_id(update))
    lang = await language(update, context)
    if draft is None:
        return False
    if draft.waiting_since is None:
        body = text(lang, "report_paused")
    elif prompts.expired(context, from_epoch(draft.waiting_since)):
        await svc.reports.pause(draft.user_id)
        body = text(lang, "report_paused_expired", minutes=svc.settings.prompt_minutes)
    else:
        return False
    prompts.finish(context)
    if update.callback_query is not None:
        await answer_query(update.callback_query, plain(lang, "report_paused")[:200])
    else:
        await reply(update, body)
    return True


def _asking(callback: Callback, *, starts: bool = False) -> Callback:
    """A step of the conversation: refused when the draft no longer waits for input
    (unless the step `starts` the conversation, which asks again)."""

    async def run(update: Update, context: Context) -> int | None:
        if not starts and await _stale(update, context):
            return ConversationHandler.END
        asked = services(context).clock.now()
        if starts:
            # A draft shown again waits for input from now (before it is shown).
            await services(context).reports.resume(_user_id(update))
        state = await callback(update, context)
        if state == ConversationHandler.END:
            prompts.finish(context)
        else:
            prompts.begin(context, prompts.REPORT, at=asked)
        return state

    return run


TEXT_IN_PRIVATE = PRIVATE & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE
PHOTO_IN_PRIVATE = PRIVATE & filters.PHOTO & filters.UpdateType.MESSAGE


def report_conversation() -> ConversationHandler[Context]:
    start, accept = _asking(start_report, starts=True), _asking(accept_offer, starts=True)
    return conversation(
        entry_points=[
            CommandHandler("report", start, filters=PRIVATE),
            CallbackQueryHandler(accept, pattern=f"^{ReportButton.START.value}$"),
            MessageHandler(PHOTO_IN_PRIVATE | TEXT_IN_PRIVATE, _asking(offer_report, starts=True)),
        ],
        states=_steps(accept),
        fallbacks=[
            CommandHandler("cancel", _asking(cancel, starts=True)),
            CallbackQueryHandler(
                _asking(cancel, starts=True), pattern=f"^{ReportButton.CANCEL.value}$"
            ),
            CommandHandler("report", start, filters=PRIVATE),
            CallbackQueryHandler(_asking(unexpected), pattern=r"^r:"),
            MessageHandler(
                PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND, _asking(unexpected)
            ),
        ],
        name=REPORT_CONVERSATION,
        persistent=True,
    )


def _steps(accept: Callback) -> dict[object, list[BaseHandler[Update, Context, object]]]:
    """What each step of the report takes: its buttons, and the text, photo or location."""
    return {
        Step.OFFER: [CallbackQueryHandler(accept, pattern=f"^{ReportButton.START.value}$")],
        Step.GRID: [
            CallbackQueryHandler(_asking(choose_grid), pattern=f"^{ReportButton.GRID.value}:")
        ],
        Step.CATEGORY: [
            CallbackQueryHandler(
                _asking(choose_category), pattern=f"^{ReportButton.CATEGORY.value}:"
            )
        ],
        Step.DESCRIPTION: [MessageHandler(TEXT_IN_PRIVATE, _asking(describe))],
        Step.PHOTOS: [
            MessageHandler(PHOTO_IN_PRIVATE, _asking(add_photo)),
            CallbackQueryHandler(_asking(photos_done), pattern=r"^r:(done|skip)$"),
        ],
        Step.LOCATION: [
            MessageHandler(PRIVATE & (filters.LOCATION | filters.VENUE), _asking(locate)),
            MessageHandler(TEXT_IN_PRIVATE, _asking(locate)),
            CallbackQueryHandler(_asking(skip_location), pattern=f"^{ReportButton.SKIP.value}$"),
        ],
        Step.URGENCY: [
            CallbackQueryHandler(_asking(set_urgency), pattern=f"^{ReportButton.URGENCY.value}:"),
            # 附议
            CallbackQueryHandler(_asking(second), pattern=f"^{ReportButton.SECOND.value}:"),
            CallbackQueryHandler(_asking(not_same), pattern=f"^{ReportButton.NOT_SAME.value}$"),
        ],
        Step.CONFIRM: [
            CallbackQueryHandler(_asking(submit), pattern=f"^{ReportButton.SUBMIT.value}$"),
            CallbackQueryHandler(  # 联合吹哨: 申请吹哨
                _asking(submit), pattern=f"^{ReportButton.WHISTLE.value}$"
            ),
        ],
    }
