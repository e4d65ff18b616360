"""Buttons on issue cards and notices: 报到, 转派, 进展, 办结, 确认, 重办, ratings, 改派, 撤销.

Buttons that need words (a reason, a note, photos) start a short conversation in the
person's private chat; the others act at once. Every tap is re-checked by the services.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.callbacks import (
    ISSUE_BUTTON_PATTERN,
    IssueButton,
    IssueCallback,
    Rating,
    parse_issue_button,
)
from bot.i18n import plain, text
from bot.lifecycle import Action
from bot.numbers import parse_id
from bot.services import Refused
from bot.services.issues import Tap
from bot.services.reports import clean_text
from handlers.common import Context, answer_query, conversation, language, refuse, reply, services

NOTE, PHOTOS = range(2)
NOTE_ACTIONS = {
    IssueButton.TRANSFER: (Action.TRANSFER, "ask_transfer_reason"),
    IssueButton.PROGRESS: (Action.PROGRESS, "ask_progress"),
    IssueButton.RESOLVE: (Action.RESOLVE, "ask_resolve_note"),
    IssueButton.REOPEN: (Action.REOPEN, "ask_reopen_reason"),
}
_PENDING = "pending_note"


def tapped(update: Update, button: IssueCallback) -> Tap:
    """The tap as the services check it: the button's data and the chat it was tapped in
    (the person's private chat when Telegram does not say)."""
    query = update.callback_query
    assert query is not None
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    return Tap(button.encode(), chat)


async def act(update: Update, context: Context) -> None:
    """Buttons that act at once."""
    query = update.callback_query
    assert query is not None and query.from_user is not None
    button = parse_issue_button(query.data)
    if button is None or button.button in NOTE_ACTIONS:
        await refuse(update, context, Refused("ans_bad_button"))
        return
    issues = services(context).issues
    user = query.from_user.id
    tap = tapped(update, button)
    lang = await language(update, context)
    try:
        match button.button:
            case IssueButton.ACKNOWLEDGE:
                await issues.acknowledge(user, button.issue_id, tap)
                await answer_query(query, plain(lang, "ans_acknowledged"))
            case IssueButton.CONFIRM:
                rendered = await issues.confirm(user, button.issue_id, tap)
                await answer_query(query)
                await query.edit_message_reply_markup(None)
                await reply(update, rendered)
            case IssueButton.RATE:
                try:
                    rating = Rating(button.argument or "")
                except ValueError:
                    raise Refused("ans_bad_button") from None
                await issues.rate(user, button.issue_id, rating, tap)
                await answer_query(query, plain(lang, "done_rated"))
                await query.edit_message_reply_markup(None)
            case IssueButton.REROUTE:
                issue = await issues.reroute(user, button.issue_id, button.argument or "", tap=tap)
                names = await services(context).notices.issue_names(
                    services(context).db.reader, issue
                )
                await answer_query(
                    query,
                    plain(
                        lang,
                        "done_reroute",
                        id=issue.id,
                        department=names.department(issue.department_code),
                    ),
                )
            case IssueButton.REASSIGN:
                member = parse_id(button.argument, hash_allowed=False)
                if member is None:
                    raise Refused("ans_bad_button")
                issue = await issues.reassign(user, button.issue_id, member, tap)
                names = await services(context).notices.issue_names(
                    services(context).db.reader, issue
                )
                await answer_query(
                    query,
                    plain(lang, "done_reassign", id=issue.id, name=names.person(issue.assignee_id)),
                )
            case IssueButton.CANCEL:
                await issues.cancel(user, button.issue_id, tap)
                await answer_query(query, plain(lang, "done_cancel_issue", id=button.issue_id))
    except Refused as refused:
        await refuse(update, context, refused)


async def ask_note(update: Update, context: Context) -> int:
    """A button that needs words: check it is allowed, then ask in the private chat."""
    query = update.callback_query
    assert query is not None and query.from_user is not None
    button = parse_issue_button(query.data)
    if button is None or button.button not in NOTE_ACTIONS:
        await refuse(update, context, Refused("ans_bad_button"))
        return ConversationHandler.END
    action, prompt = NOTE_ACTIONS[button.button]
    try:
        await services(context).issues.check(
            query.from_user.id, button.issue_id, action, tapped(update, button)
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    lang = await language(update, context)
    assert context.user_data is not None
    context.user_data[_PENDING] = {"action": action, "issue": button.issue_id, "photos": []}
    in_private = query.message is not None and query.message.chat.type == "private"
    await answer_query(query, None if in_private else plain(lang, "ans_check_private"))
    await context.bot.send_message(
        query.from_user.id, str(text(lang, prompt, id=button.issue_id)), parse_mode=ParseMode.HTML
    )
    return NOTE


async def receive_note(update: Update, context: Context) -> int:
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    assert context.user_data is not None
    pending = context.user_data.get(_PENDING)
    if pending is None:
        return ConversationHandler.END
    svc = services(context)
    lang = await language(update, context)
    try:
        note = clean_text(message.text, svc.settings.max_text_length)
    except Refused as refused:
        await refuse(update, context, refused)
        return NOTE
    pending["note"] = note
    if pending["action"] == Action.RESOLVE:
        await reply(
            update,
            text(lang, "ask_resolve_photos"),
            [[(plain(lang, "btn_skip"), "n:skip"), (plain(lang, "btn_submit"), "n:submit")]],
        )
        return PHOTOS
    return await _finish(update, context)


async def add_resolution_photo(update: Update, context: Context) -> int:
    message = update.effective_message
    assert message is not None and message.photo and context.user_data is not None
    pending = context.user_data.get(_PENDING)
    if pending is None:
        return ConversationHandler.END
    largest = message.photo[-1]
    if len(pending["photos"]) < services(context).settings.max_photos:
        pending["photos"].append((largest.file_id, largest.file_unique_id))
    lang = await language(update, context)
    await reply(
        update,
        text(lang, "report_photo_added", count=len(pending["photos"])),
        [[(plain(lang, "btn_submit"), "n:submit")]],
    )
    return PHOTOS


async def finish_resolution(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None
    await answer_query(query)
    await query.edit_message_reply_markup(None)
    return await _finish(update, context)


async def _finish(update: Update, context: Context) -> int:
    assert context.user_data is not None and update.effective_user is not None
    pending = context.user_data.pop(_PENDING, None)
    if pending is None:
        return ConversationHandler.END
    issues = services(context).issues
    user, issue_id, note = update.effective_user.id, pending["issue"], pending["note"]
    lang = await language(update, context)
    try:
        match pending["action"]:
            case Action.TRANSFER:
                await issues.transfer(user, issue_id, note)
                done = "done_transfer"
            case Action.PROGRESS:
                await issues.progress(user, issue_id, note)
                done = "done_progress"
            case Action.RESOLVE:
                await issues.resolve(user, issue_id, note, pending["photos"])
                done = "done_resolve"
            case _:
                await issues.reopen(user, issue_id, note)
                done = "done_reopen"
    except Refused as refused:
        await refuse(update, context, refused)
        return ConversationHandler.END
    await reply(update, text(lang, done, id=issue_id))
    return ConversationHandler.END


async def cancel_note(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data.pop(_PENDING, None)
    await reply(update, text(await language(update, context), "note_cancelled"))
    return ConversationHandler.END


async def expect_note(update: Update, context: Context) -> int | None:
    await reply(update, text(await language(update, context), "note_expect_text"))
    return None


def note_conversation() -> ConversationHandler[Context]:
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return conversation(
        entry_points=[CallbackQueryHandler(ask_note, pattern=r"^(xfer|prog|res|reop):")],
        states={
            NOTE: [MessageHandler(private_message & filters.TEXT & ~filters.COMMAND, receive_note)],
            PHOTOS: [
                MessageHandler(private_message & filters.PHOTO, add_resolution_photo),
                CallbackQueryHandler(finish_resolution, pattern=r"^n:(skip|submit)$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel_note),
            MessageHandler(private_message & ~filters.COMMAND, expect_note),
        ],
        per_chat=False,
        allow_reentry=True,
        name="note",
    )


def action_handler() -> CallbackQueryHandler[Context, None]:
    return CallbackQueryHandler(act, pattern=ISSUE_BUTTON_PATTERN)
