"""What every handler shares: reaching the services, answering, and refusing politely."""

from __future__ import annotations

import logging
import warnings
from typing import Any, cast

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes, ConversationHandler
from telegram.warnings import PTBUserWarning

from bot.i18n import Html, plain, text
from bot.lifecycle import State
from bot.message_limits import split_html
from bot.services import Refused, Services
from bot.views import Answer, Buttons, Rendered, state_name

Context = ContextTypes.DEFAULT_TYPE
log = logging.getLogger(__name__)


def services(context: Context) -> Services:
    return cast(Services, context.application.bot_data["services"])


def markup(buttons: Buttons) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


async def language(update: Update, context: Context) -> str:
    user = update.effective_user
    if user is None:
        return services(context).settings.language
    return await services(context).people.language(user.id)


async def reply(update: Update, body: Html | Rendered, buttons: Buttons | None = None) -> None:
    """Answer in the chat the update came from; a text over Telegram's limit goes as several
    messages, the buttons on the last."""
    rendered = body if isinstance(body, Rendered) else Rendered(body, buttons or [])
    chat = update.effective_chat
    if chat is None:
        return
    parts = split_html(str(rendered.text))
    for index, part in enumerate(parts):
        await chat.send_message(
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(rendered.buttons) if index == len(parts) - 1 else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


async def answer_query(
    query: CallbackQuery, text: str | None = None, show_alert: bool = False
) -> None:
    """Answer a tap. Telegram refuses answers to taps older than about 15 seconds (after a
    restart, queued taps are); the tap was still acted on, so that refusal is only logged."""
    try:
        await query.answer(text, show_alert=show_alert)
    except BadRequest as exc:
        log.info("could not answer callback query %s: %s", query.id, exc.message)


def _shown_values(lang: str, answer: Answer | Refused) -> dict[str, Any]:
    """The answer's values as shown: an issue state by its name in `lang`."""
    values: dict[str, Any] = dict(answer.values)
    if isinstance(values.get("state"), State):
        values["state"] = state_name(lang, values["state"])
    return values


async def say(
    update: Update, context: Context, answer: Answer | Refused, *, in_chat: bool = False
) -> None:
    """A service's short answer in the person's language: the tap's answer for a tap
    (unless `in_chat`), else a message."""
    lang = await language(update, context)
    values = _shown_values(lang, answer)
    query = update.callback_query
    if query is not None and not in_chat:
        await answer_query(query, plain(lang, answer.key, **values)[:200])
        return
    await reply(update, text(lang, answer.key, **values))


async def refuse(update: Update, context: Context, refused: Refused) -> None:
    """The short, polite answer to a refused request; nothing was changed."""
    await say(update, context, refused)


async def send_private(context: Context, user_id: int, body: Html) -> bool:
    """Write to a person's private chat straight from a handler. When Telegram refuses it
    (they never opened a chat with the bot, or blocked it), they are recorded as
    unreachable like the outbox sender records them; False then, and nothing is logged as
    an error."""
    try:
        await context.bot.send_message(user_id, str(body), parse_mode=ParseMode.HTML)
    except Forbidden:
        await services(context).people.found_unreachable(user_id)
        return False
    except BadRequest as exc:
        if "chat not found" not in exc.message.lower():
            raise
        await services(context).people.found_unreachable(user_id)
        return False
    return True


SPENT_GONE = ("message to edit not found", "message can't be edited", "message is not modified")
"""Telegram's answers when a tapped message's buttons cannot be (or need not be) taken off:
the person deleted it meanwhile, it is too old, or it has none left. Normal use."""


async def spend_buttons(query: CallbackQuery) -> None:
    """Take the spent buttons off the tapped message, once the change they made is
    committed: when Telegram cannot take them off (see SPENT_GONE), that is logged (INFO),
    not raised as a bug — the change stands and what follows is still said."""
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        if not any(part in exc.message.lower() for part in SPENT_GONE):
            raise
        log.info("could not take the buttons off message of tap %s: %s", query.id, exc.message)


def conversation(**options: Any) -> ConversationHandler[Context]:
    """A ConversationHandler tracked per user and chat, not per message. PTB warns that its
    CallbackQueryHandlers are then not tied to one message; that is the intent here (a
    button on any earlier prompt of the same conversation still belongs to it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
        return ConversationHandler(**options)
