"""Buttons on issue cards and notices: 报到, 退回, 进展, 办结, 确认, 重办, ratings, 改派, 撤销.

Buttons that need words (a reason, a note, photos) start a short conversation in the
person's private chat; the others act at once. Every tap is re-checked by the services.
The conversation takes input only while its prompt is pending (handlers/prompts.py): once
the person started something else, or the prompt expired, the input goes on to the rest of
the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.callbacks import (
    ISSUE_BUTTON_PATTERN,
    IssueButton,
    IssueCallback,
    parse_issue_button,
)
from bot.i18n import plain, text
from bot.lifecycle import Action
from bot.services import Refused
from bot.services.issues import Tap
from bot.services.reports import clean_text
from handlers import prompts
from handlers.common import (
    Context,
    answer_query,
    conversation,
    language,
    refuse,
    reply,
    say,
    send_private,
    services,
    spend_buttons,
)

log = logging.getLogger(__name__)

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
    try:
        done = await services(context).issues.press(
            query.from_user.id, button, tapped(update, button)
        )
    except Refused as refused:
        await refuse(update, context, refused)
        return
    # The change is committed: the tap's answer, the spent buttons and the next message
    # go out together, one round trip to Telegram instead of three.
    sends: list[Awaitable[Any]] = [
        say(update, context, done.answer) if done.answer is not None else answer_query(query)
    ]
    if done.spent:
        sends.append(spend_buttons(query))
    if done.message is not None:
        sends.append(reply(update, done.message))
    await asyncio.gather(*sends)


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
    asked = prompts.begin(context, action.value, button.issue_id, button.button.value)
    context.user_data[_PENDING] = {
        "action": action,
        "issue": button.issue_id,
        "photos": [],
        "prompt": asked,
    }
    in_private = query.message is not None and query.message.chat.type == "private"
    if in_private:
        # Tapped in their private chat, so the prompt can reach them: it and the tap's
        # answer go out together.
        sent, _ = await asyncio.gather(
            send_private(context, query.from_user.id, text(lang, prompt, id=button.issue_id)),
            answer_query(query),
        )
        if not sent:
            context.user_data.pop(_PENDING, None)
            prompts.finish(context)
            return ConversationHandler.END
        return NOTE
    if not await send_private(context, query.from_user.id, text(lang, prompt, id=button.issue_id)):
        # They never opened a chat with the bot: the prompt could never arrive.
        context.user_data.pop(_PENDING, None)
        prompts.finish(context)
        bot = context.bot.username or "bot"
        await answer_query(query, plain(lang, "ans_open_bot_first", bot=bot)[:200], True)
        return ConversationHandler.END
    await answer_query(query, plain(lang, "ans_check_private"))
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
    # The tap's answer and the spent buttons need nothing from the change: they go out
    # while it is made.
    _, _, state = await asyncio.gather(
        answer_query(query), spend_buttons(query), _finish(update, context)
    )
    return state


async def _finish(update: Update, context: Context) -> int:
    assert context.user_data is not None and update.effective_user is not None
    pending = context.user_data.pop(_PENDING, None)
    prompts.finish(context)
    if pending is None:
        return ConversationHandler.END
    try:
        done = await services(context).issues.with_note(
            update.effective_user.id,
            pending["action"],
            pending["issue"],
            pending["note"],
            pending["photos"],
        )
    except Refused as refused:
        # In the chat, like the change's own answer: from 跳过/提交 the tap was already
        # answered (together with the change), and a second answer to it is dropped.
        await say(update, context, refused, in_chat=True)
        return ConversationHandler.END
    await say(update, context, done, in_chat=True)
    return ConversationHandler.END


async def cancel_note(update: Update, context: Context) -> int:
    assert context.user_data is not None
    context.user_data.pop(_PENDING, None)
    prompts.finish(context)
    await reply(update, text(await language(update, context), "note_cancelled"))
    return ConversationHandler.END


async def expect_note(update: Update, context: Context) -> int | None:
    await reply(update, text(await language(update, context), "note_expect_text"))
    return None


def _live_prompt(context: Context) -> prompts.Prompt | None:
    """The note prompt this conversation is waiting on, if it is still the person's
    pending prompt (nothing else was started since it was asked)."""
    assert context.user_data is not None
    pending = context.user_data.get(_PENDING)
    prompt = prompts.current(context)
    if pending is None or prompt is None or pending.get("prompt") is not prompt:
        return None
    return prompt


Callback = Callable[[Update, Context], Coroutine[Any, Any, int | None]]


def _owned(callback: Callback) -> Callback:
    """The conversation's own update: handled here, and no later handler sees it."""

    async def run(update: Update, context: Context) -> int | None:
        raise ApplicationHandlerStop(await callback(update, context))

    return run


def _answering(callback: Callback) -> Callback:
    """Input for the pending prompt. When the person has started something else since, the
    conversation ends and the update goes on to the rest of the bot; when the prompt has
    expired, the person is told and the input changes nothing."""

    async def run(update: Update, context: Context) -> int | None:
        assert context.user_data is not None
        prompt = _live_prompt(context)
        if prompt is None:
            context.user_data.pop(_PENDING, None)
            return ConversationHandler.END
        if await prompts.drop_if_expired(update, context, prompt, _PENDING):
            raise ApplicationHandlerStop(ConversationHandler.END)
        asked = services(context).clock.now()
        state = await callback(update, context)
        if state != ConversationHandler.END and context.user_data.get(_PENDING) is not None:
            # The next step (photos after a 办结 note) gets its own time.
            context.user_data[_PENDING]["prompt"] = prompts.begin(
                context,
                prompt.kind,
                prompt.issue_id,
                prompt.button,
                at=asked,
                takes_photos=state == PHOTOS,
            )
        raise ApplicationHandlerStop(state)

    return run


async def note_timed_out(update: Update, context: Context) -> None:
    """PTB's conversation timeout (real time): drop the prompt and say so."""
    assert context.user_data is not None
    prompt = _live_prompt(context)
    context.user_data.pop(_PENDING, None)
    if prompt is not None:
        prompts.finish(context)
        await prompts.tell_expired(update, context, prompt)


def note_conversation(prompt_minutes: int) -> ConversationHandler[Context]:
    """Runs in a handler group of its own, before the rest of the bot: what it takes, it
    stops (ApplicationHandlerStop); what it does not take goes on."""
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return conversation(
        entry_points=[CallbackQueryHandler(_owned(ask_note), pattern=r"^(xfer|prog|res|reop):")],
        states={
            NOTE: [
                MessageHandler(
                    private_message & filters.TEXT & ~prompts.BOT_COMMAND,
                    _answering(receive_note),
                )
            ],
            PHOTOS: [
                MessageHandler(private_message & filters.PHOTO, _answering(add_resolution_photo)),
                CallbackQueryHandler(_answering(finish_resolution), pattern=r"^n:(skip|submit)$"),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, note_timed_out)],
        },
        fallbacks=[
            CommandHandler("cancel", _answering(cancel_note)),
            MessageHandler(private_message & ~prompts.BOT_COMMAND, _answering(expect_note)),
        ],
        per_chat=False,
        allow_reentry=True,
        conversation_timeout=timedelta(minutes=prompt_minutes),
        name="note",
    )


def action_handler() -> CallbackQueryHandler[Context, None]:
    return CallbackQueryHandler(act, pattern=ISSUE_BUTTON_PATTERN)
