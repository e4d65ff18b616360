"""The question the bot is waiting for a person to answer: the reason for 重办 or 退回, a
进展 or 办结 note, or the report conversation's next step.

A person has at most one such prompt. It ends when they start anything else (a command, a
button that is not the prompt's own, another prompt) and expires WHISTLE_PROMPT_MINUTES
after it was asked, by the app's Clock, so a stray tap never turns later, unrelated input
into a reason or a note. The prompt lives in PTB's per-user `user_data`; the
conversations check it before they take any input. A draft report also records in the
database whether it still waits for input, so a restart keeps that too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from telegram import Message, Update
from telegram.ext import filters

from bot.callbacks import parse_issue_button
from bot.chats import bot_command
from bot.i18n import Html, plain, text
from handlers.common import Context, answer_query, language, reply, send_private, services

REPORT: Final = "report"
"""The kind of the report conversation's prompt; a note's kind is its Action's value."""
ENDED: Final = "ended"
"""What `user_data` holds once a prompt was ended by something else the person started."""
_KEY: Final = "prompt"
_OWN_BUTTONS: Final = {
    REPORT: re.compile(r"^r:"),
    "note": re.compile(r"^n:(skip|submit)$"),
    # extensions and 挂账: the new date's buttons
    "extend": re.compile(r"^xd:"),
    "hold": re.compile(r"^xd:"),
    "hold_more": re.compile(r"^hm:"),
    # 联合吹哨: 配合完成's photos (提交 / 跳过); the rating's reason (跳过, the next rating)
    "wh_co_photos": re.compile(r"^wf:"),
    "wh_reason": re.compile(r"^w[fr]:"),
}
_KEEP_PROMPT_COMMANDS: Final = {"cancel"}
_WHAT: Final = {
    "reopen": "prompt_what_reopen",
    "transfer": "prompt_what_transfer",
    "progress": "prompt_what_progress",
    "resolve": "prompt_what_resolve",
    "closure": "prompt_what_closure",
    "extend": "prompt_what_extend",
    "hold": "prompt_what_hold",
    "refusal": "prompt_what_refusal",
    "wh_arrive": "prompt_what_wh_arrive",
    "wh_place": "prompt_what_wh_place",
    "wh_co_done": "prompt_what_wh_co_done",
    "wh_co_photos": "prompt_what_wh_co_photos",
    "wh_reason": "prompt_what_wh_reason",
    "hold_more": "prompt_what_hold_more",
}
"""What each kind of prompt (other than the report's) was waiting for, by its kind."""


@dataclass(frozen=True)
class Prompt:
    kind: str
    started_at: datetime
    issue_id: int | None = None
    button: str | None = None
    takes_photos: bool = False
    """Whether photos are this prompt's input (the 办结 photos step); otherwise a photo
    or a location starts something else (a report)."""


def begin(
    context: Context,
    kind: str,
    issue_id: int | None = None,
    button: str | None = None,
    at: datetime | None = None,
    takes_photos: bool = False,
) -> Prompt:
    """Record that the bot now waits for the person's answer to this prompt, asked `at`
    (by default now)."""
    assert context.user_data is not None
    prompt = Prompt(kind, at or services(context).clock.now(), issue_id, button, takes_photos)
    context.user_data[_KEY] = prompt
    return prompt


def current(context: Context) -> Prompt | None:
    found = context.user_data.get(_KEY) if context.user_data is not None else None
    return found if isinstance(found, Prompt) else None


def finish(context: Context) -> None:
    """The prompt was answered or dropped: nothing is pending, and a conversation that
    asked earlier does not take input before it asks again."""
    if context.user_data is not None:
        context.user_data[_KEY] = ENDED


def window(context: Context) -> timedelta:
    return timedelta(minutes=services(context).settings.prompt_minutes)


def expired(context: Context, since: datetime) -> bool:
    return services(context).clock.now() - since >= window(context)


def _what(lang: str, prompt: Prompt) -> str:
    return plain(lang, _WHAT[prompt.kind], id=prompt.issue_id)


def cancelled_text(lang: str, prompt: Prompt) -> Html:
    if prompt.kind == REPORT:
        return text(lang, "report_paused")
    return text(lang, "prompt_cancelled", what=_what(lang, prompt))


def expired_text(lang: str, prompt: Prompt, minutes: int) -> Html:
    if prompt.kind == REPORT:
        return text(lang, "report_paused_expired", minutes=minutes)
    return text(lang, "prompt_expired", what=_what(lang, prompt), minutes=minutes)


class _BotCommand(filters.MessageFilter):
    """A message that starts with one of the bot's own commands; other text that starts
    with "/" ("/路灯还是不亮") is text."""

    def filter(self, message: Message) -> bool:
        return bot_command(message.text, message.get_bot().username) is not None


BOT_COMMAND: Final = _BotCommand(name="BOT_COMMAND")


def _command(update: Update, bot_username: str | None) -> str | None:
    message = update.message
    return bot_command(message.text, bot_username) if message is not None else None


def _belongs(update: Update, prompt: Prompt, bot_username: str | None = None) -> bool:
    """Whether the update may be the prompt's own input (or its own /cancel): text that is
    not one of the bot's commands always may; a photo or a location only where the prompt
    takes photos (a note prompt's photo or location starts a report instead)."""
    command = _command(update, bot_username)
    if command is not None:
        return command in _KEEP_PROMPT_COMMANDS or (prompt.kind == REPORT and command == REPORT)
    query = update.callback_query
    if query is None:
        message = update.message
        starts_a_report = message is not None and bool(
            message.photo or message.location or message.venue
        )
        return prompt.kind == REPORT or prompt.takes_photos or not starts_a_report
    data = query.data or ""
    own = _OWN_BUTTONS.get(prompt.kind, _OWN_BUTTONS["note"])
    if own.match(data):
        return True
    tapped = parse_issue_button(data)
    return (
        prompt.button is not None
        and tapped is not None
        and (tapped.button.value, tapped.issue_id) == (prompt.button, prompt.issue_id)
    )


async def observe(update: Update, context: Context) -> None:
    """Runs before the conversations: a command or a button that is not the pending
    prompt's own ends that prompt, and the person is told what was dropped. The update
    then goes on to whatever it starts."""
    prompt = current(context)
    if prompt is None or _belongs(update, prompt, context.bot.username):
        return
    finish(context)
    if prompt.kind == REPORT and update.effective_user is not None:
        await services(context).reports.pause(update.effective_user.id)
    lang = await language(update, context)
    body = cancelled_text(lang, prompt)
    user = update.effective_user
    chat = update.effective_chat
    if chat is not None and user is not None and chat.id == user.id:
        await reply(update, body)
    elif user is not None:
        await send_private(context, user.id, body)


async def tell_expired(update: Update, context: Context, prompt: Prompt) -> None:
    """The prompt's time ran out: say what was dropped, in the person's private chat."""
    lang = await language(update, context)
    body = expired_text(lang, prompt, services(context).settings.prompt_minutes)
    user = update.effective_user
    if user is not None:
        await send_private(context, user.id, body)


async def drop_if_expired(update: Update, context: Context, prompt: Prompt, pending: str) -> bool:
    """True if `prompt` has expired: then the input that came too late changes nothing, the
    prompt and the conversation's `pending` entry in `user_data` end, and the person is told."""
    if not expired(context, prompt.started_at):
        return False
    assert context.user_data is not None
    context.user_data.pop(pending, None)
    finish(context)
    if update.callback_query is not None:
        await answer_query(update.callback_query)
    await tell_expired(update, context, prompt)
    return True
